"""Webhooks through the REST API: who may manage them, the secret shown once, validation,
and which events queue which deliveries (tasks are not run here: see
tests/services/test_webhook_delivery.py for the real POSTs)."""

from __future__ import annotations

import json

import pytest

from tests.factories import normal_images, upload_images
from webapp.detectors.models import DetectorVersion, JobStatus, ScoringChunk, ScoringJob
from webapp.detectors.services import record_chunk_failure, record_training_failure
from webapp.hooks.models import Delivery, Webhook
from webapp.review.models import Flag
from webapp.review.services import record_scores, review_flag, undo_review
from webapp.sites.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):  # type: ignore[no-untyped-def]
    """One user per role is five password hashes: seconds each on a busy 2-core machine."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


HOOKS = "/api/sites/park/webhooks/"
ALL_EVENTS = [
    "flag.created",
    "flag.reviewed",
    "flag.review_undone",
    "training.succeeded",
    "training.failed",
    "scoring.finished",
]


def register(api, events=None, url="https://example.org/hook", who="admin"):  # type: ignore[no-untyped-def]
    response = api(who).post(HOOKS, {"url": url, "events": events or ALL_EVENTS}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def bodies(event: str | None = None) -> list[dict]:
    deliveries = Delivery.objects.order_by("id")
    if event:
        deliveries = deliveries.filter(event=event)
    return [json.loads(d.body) for d in deliveries]


def test_only_admins_manage_webhooks(api):
    for who in ("viewer", "uploader", "reviewer"):
        listed = api(who).get(HOOKS)
        assert listed.status_code == 403, who
        assert "manage" in listed.json()["detail"]
        assert (
            api(who)
            .post(HOOKS, {"url": "https://x.org/", "events": ["flag.created"]}, format="json")
            .status_code
            == 403
        )
    assert api("outsider").get(HOOKS).status_code == 404
    assert api("outsider").get(HOOKS).json()["detail"] == "Site 'park' not found."
    hook = register(api)
    assert api("viewer").get(f"{HOOKS}{hook['id']}/deliveries/").status_code == 403
    assert api("outsider").post(f"{HOOKS}{hook['id']}/test/").status_code == 404
    assert api("admin").get(f"{HOOKS}999/").json()["detail"] == "Webhook 999 not found."


def test_the_secret_is_shown_at_creation_and_on_rotation_only(api):
    hook = register(api, events=["flag.reviewed", "flag.created"])
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) > 40
    assert hook["events"] == ["flag.created", "flag.reviewed"]  # the documented order
    assert hook["is_active"] is True
    listed = api("admin").get(HOOKS).json()
    assert [h["id"] for h in listed] == [hook["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in api("admin").get(f"{HOOKS}{hook['id']}/").json()
    patched = api("admin").patch(
        f"{HOOKS}{hook['id']}/", {"is_active": False, "description": "crm"}, format="json"
    )
    assert patched.status_code == 200 and "secret" not in patched.json()
    assert patched.json()["is_active"] is False
    rotated = api("admin").post(f"{HOOKS}{hook['id']}/rotate-secret/")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in ("", hook["secret"])
    assert Webhook.objects.get().secret == rotated.json()["secret"]
    assert rotated.json()["secret_rotated_at"]
    actions = list(AuditEntry.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["webhook_added", "webhook_changed", "webhook_secret_rotated"]
    assert all(hook["secret"] not in str(e.details) for e in AuditEntry.objects.all())


BAD_INPUT = [
    ({"url": "ftp://example.org/x", "events": ["flag.created"]}, "url", "http://"),
    ({"url": "file:///etc/passwd", "events": ["flag.created"]}, "url", "http://"),
    ({"url": "javascript:alert(1)", "events": ["flag.created"]}, "url", "http://"),
    ({"url": "https://", "events": ["flag.created"]}, "url", "http://"),
    ({"url": "https://u:p@example.org/", "events": ["flag.created"]}, "url", "password"),
    ({"url": "https://example.org:99999/", "events": ["flag.created"]}, "url", "65535"),
    ({"url": "https://example.org/", "events": []}, "events", "at least one"),
    ({"url": "https://example.org/", "events": ["flag.deleted"]}, "events", "flag.deleted"),
    ({"url": "https://example.org/"}, "events", "required"),
]


def test_urls_and_events_are_validated(api):
    for body, field, says in BAD_INPUT:
        response = api("admin").post(HOOKS, body, format="json")
        assert response.status_code == 400, (body, response.json())
        assert field in response.json()["errors"], body
        assert says in response.json()["detail"], (body, response.json())
    assert not Webhook.objects.exists()
    hook = register(api)
    patched = api("admin").patch(f"{HOOKS}{hook['id']}/", {"url": "gopher://x/"}, format="json")
    assert patched.status_code == 400 and "url" in patched.json()["errors"]
    assert Webhook.objects.get().url == "https://example.org/hook"


def test_private_addresses_are_refused_when_the_setting_says_so(api, settings):
    register(api, url="http://192.168.1.20:8080/hook")  # the default: LAN allowed
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    for url in (
        "http://10.0.0.7/hook",
        "http://127.0.0.1:9000/",
        "http://[::1]/",
        "http://169.254.169.254/",
    ):
        response = api("admin").post(HOOKS, {"url": url, "events": ["flag.created"]}, format="json")
        assert response.status_code == 400, url
        assert "private or local address" in response.json()["detail"]


def test_deliveries_of_the_test_event_and_their_log(api, django_capture_on_commit_callbacks):
    hook = register(api, events=["training.failed"])
    with django_capture_on_commit_callbacks() as callbacks:
        response = api("admin").post(f"{HOOKS}{hook['id']}/test/")
    assert response.status_code == 202
    assert len(callbacks) == 1  # enqueued after commit
    queued = response.json()
    assert queued["event"] == "ping" and queued["status"] == "queued" and queued["attempts"] == 0
    (body,) = bodies()
    assert body["id"] == queued["delivery_id"]
    assert body["site"] == {"slug": "park", "name": "City park"}
    assert body["data"]["sent_by"] == "admin"
    log = api("admin").get(f"{HOOKS}{hook['id']}/deliveries/").json()
    assert log["count"] == 1 and log["results"][0]["attempt_log"] == []
    assert api("admin").get(f"{HOOKS}{hook['id']}/deliveries/?status=failed").json()["count"] == 0
    assert api("admin").get(f"{HOOKS}{hook['id']}/deliveries/?status=nope").status_code == 400
    assert api("admin").delete(f"{HOOKS}{hook['id']}/").status_code == 204
    assert not Delivery.objects.exists()
    assert AuditEntry.objects.filter(action="webhook_removed").count() == 1


@pytest.fixture
def scored(site, users):  # type: ignore[no-untyped-def]
    """A succeeded version (threshold 0.5) and three score images, not scored yet."""
    version = DetectorVersion.objects.create(
        site=site, number=1, kind="histogram_iforest", status=JobStatus.SUCCEEDED, threshold=0.5
    )
    images = upload_images(site, users["uploader"], "score", normal_images(3))
    return version, images


def test_flags_of_one_scoring_chunk_are_one_delivery(
    api, scored, django_capture_on_commit_callbacks
):
    version, images = scored
    register(api, events=["flag.created"])
    register(api, events=["flag.reviewed"])  # not subscribed: sent nothing
    with django_capture_on_commit_callbacks() as callbacks:
        assert record_scores(version=version, assets=images, scores=[0.9, 0.1, 0.7]) == 2
    assert len(callbacks) == 1
    (body,) = bodies()
    assert body["event"] == "flag.created"
    flags = body["data"]["flags"]
    assert [f["asset"] for f in flags] == [images[0].pk, images[2].pk]
    assert flags[0]["status"] == "pending" and flags[0]["score"] == 0.9
    assert flags[0]["version_number"] == 1 and flags[0]["filename"] == images[0].filename
    # scored again: the flags exist already, nothing new to tell
    record_scores(version=version, assets=images, scores=[0.9, 0.1, 0.7])
    assert Delivery.objects.count() == 1


def test_reviews_undos_and_inactive_hooks(api, scored, users):
    version, images = scored
    hook = register(api, events=["flag.reviewed", "flag.review_undone"])
    record_scores(version=version, assets=images[:1], scores=[0.9])
    flag = Flag.objects.get()
    review_flag(flag_id=flag.pk, reviewer=users["reviewer"], decision="reject", note=" fine ")
    undo_review(flag_id=flag.pk, user=users["reviewer"])
    reviewed, undone = bodies()
    assert reviewed["event"] == "flag.reviewed" and reviewed["data"]["decision"] == "reject"
    assert reviewed["data"]["flag"]["status"] == "rejected"
    assert reviewed["data"]["flag"]["reviewer"] == "reviewer"
    assert reviewed["data"]["flag"]["note"] == "fine"
    assert undone["event"] == "flag.review_undone" and undone["data"]["undone_by"] == "reviewer"
    assert undone["data"]["flag"]["status"] == "pending"
    api("admin").patch(f"{HOOKS}{hook['id']}/", {"is_active": False}, format="json")
    review_flag(flag_id=flag.pk, reviewer=users["reviewer"], decision="confirm")
    assert Delivery.objects.count() == 2


def test_a_review_that_fails_sends_nothing(api, scored, users):
    version, images = scored
    register(api, events=["flag.reviewed"])
    record_scores(version=version, assets=images[:1], scores=[0.9])
    flag = Flag.objects.get()
    review_flag(flag_id=flag.pk, reviewer=users["reviewer"], decision="confirm")
    again = api("reviewer").post(
        f"/api/flags/{flag.pk}/review/", {"decision": "reject"}, format="json"
    )
    assert again.status_code == 409
    assert Delivery.objects.count() == 1  # the 409 rolled back: no delivery of it


def test_training_failure_and_scoring_end_are_sent(api, scored):
    version, _ = scored
    register(api, events=["training.failed", "scoring.finished"])
    queued = DetectorVersion.objects.create(site=version.site, number=2, kind="histogram_iforest")
    record_training_failure(queued.pk, "out of memory")
    record_training_failure(queued.pk, "out of memory")  # already failed: not told twice
    job = ScoringJob.objects.create(site=version.site, version=version, total=3)
    chunks = [ScoringChunk.objects.create(job=job, index=i, asset_ids=[]) for i in range(2)]
    record_chunk_failure(chunks[0].pk, "boom")
    record_chunk_failure(chunks[1].pk, "boom")  # the job failed already
    failed, finished = bodies()
    assert failed["event"] == "training.failed"
    assert failed["data"]["version"]["number"] == 2
    assert failed["data"]["version"]["error"] == "out of memory"
    assert finished["event"] == "scoring.finished"
    assert finished["data"]["scoring_job"]["status"] == "failed"
    assert finished["data"]["scoring_job"]["id"] == job.pk
