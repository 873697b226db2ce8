"""Repeated wrong passwords lock the account from that address (django-axes), on the API's
token endpoint and on the sign-in page alike; other accounts and addresses are not locked."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

GOOD = "correct-horse-battery"


def _token(password: str, username: str = "viewer", address: str = "10.0.0.1"):  # type: ignore[no-untyped-def]
    return APIClient(REMOTE_ADDR=address).post(
        "/api/auth/token/", {"username": username, "password": password}
    )


def test_token_endpoint_locks_after_the_limit_even_for_the_right_password(users):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _token("wrong").status_code == 400
    locked = _token("wrong")
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in locked.json()["detail"]
    assert int(locked["Retry-After"]) == int(settings.AXES_COOLOFF_TIME.total_seconds())
    assert _token(GOOD).status_code == 429  # the right password does not get in now
    # another account, and the same account from another address, are not locked
    assert _token(GOOD, username="admin").status_code == 200
    assert _token(GOOD, address="10.0.0.2").status_code == 200


def test_a_success_before_the_limit_resets_the_count(users):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _token("wrong")
    assert _token(GOOD).status_code == 200
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _token("wrong").status_code == 400


def test_sign_in_page_locks_with_a_page_not_a_json_body(users):
    client = Client(REMOTE_ADDR="10.0.0.9")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post("/login/", {"username": "reviewer", "password": "wrong"})
        assert response.status_code == 200  # the form again, with its error
    locked = client.post("/login/", {"username": "reviewer", "password": "wrong"})
    assert locked.status_code == 429
    assert b"Signing in is paused" in locked.content
    again = client.post("/login/", {"username": "reviewer", "password": GOOD})
    assert again.status_code == 429
    assert "_auth_user_id" not in client.session
