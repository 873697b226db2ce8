"""The webhook pages of a site admin: list and add (secret shown once), deliveries, delete."""

from __future__ import annotations

import pytest

from tests.pages.test_deletion_pages import csrf_client, csrf_token
from webapp.hooks.models import Delivery, Webhook

pytestmark = pytest.mark.django_db

PAGE = "/sites/park/webhooks/"


@pytest.fixture(autouse=True)
def fast_passwords(settings):  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_admins_add_a_webhook_and_see_its_secret_once(users, django_capture_on_commit_callbacks):
    reviewer = csrf_client(users["reviewer"])
    assert 'id="webhooks-link"' not in reviewer.get("/sites/park/").content.decode()
    assert reviewer.get(PAGE).status_code == 403
    client = csrf_client(users["admin"])
    assert f'href="{PAGE}"' in client.get("/sites/park/").content.decode()
    token = csrf_token(client, PAGE)

    bad = client.post(
        PAGE, {"csrfmiddlewaretoken": token, "url": "ftp://x.org/", "events": ["flag.created"]}
    )
    assert bad.status_code == 400
    assert "http://" in bad.content.decode() and not Webhook.objects.exists()

    form = {
        "csrfmiddlewaretoken": token,
        "url": "https://example.org/hook",
        "events": ["flag.created", "flag.reviewed"],
        "description": "our CRM",
        "is_active": "on",
    }
    added = client.post(PAGE, form)
    assert added.status_code == 200
    hook = Webhook.objects.get()
    assert hook.events == ["flag.created", "flag.reviewed"] and hook.is_active
    assert 'id="new-secret"' in added.content.decode() and hook.secret in added.content.decode()
    again = client.get(PAGE).content.decode()
    assert hook.secret not in again and "https://example.org/hook" in again

    detail = f"{PAGE}{hook.pk}/"
    with django_capture_on_commit_callbacks():
        sent = client.post(f"{detail}test/", {"csrfmiddlewaretoken": token})
    assert sent.status_code == 302 and sent["Location"] == detail
    page = client.get(detail).content.decode()
    assert hook.secret not in page
    assert f'data-delivery-id="{Delivery.objects.get().pk}"' in page and "ping" in page
    rotated = client.post(f"{detail}rotate-secret/", {"csrfmiddlewaretoken": token})
    hook.refresh_from_db()
    assert hook.secret in rotated.content.decode()

    edited = client.post(detail, {**form, "url": "https://example.org/v2", "is_active": ""})
    assert edited.status_code == 302
    hook.refresh_from_db()
    assert hook.url == "https://example.org/v2" and not hook.is_active

    confirm = client.get(f"{detail}delete/")
    assert confirm.status_code == 200 and "1 deliveries" in confirm.content.decode()
    deleted = client.post(f"{detail}delete/", {"csrfmiddlewaretoken": token})
    assert deleted.status_code == 302 and deleted["Location"] == PAGE
    assert not Webhook.objects.exists() and not Delivery.objects.exists()
