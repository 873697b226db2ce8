"""Many flags at once (the review grid), and what the live queue polls while scoring runs."""

from __future__ import annotations

import pytest

from tests.factories import SiteFactory, odd_images, trained_version, upload_images
from webapp.assets.models import Purpose
from webapp.detectors.models import DetectorVersion, JobStatus, ScoringChunk, ScoringJob
from webapp.detectors.services import activate_version
from webapp.review.models import Flag, FlagStatus
from webapp.review.services import record_scores
from webapp.sites.models import AuditAction, AuditEntry, Membership, Site

pytestmark = pytest.mark.django_db

REVIEW = "/api/sites/park/flags/review/"
UNDO = "/api/sites/park/flags/undo/"


@pytest.fixture
def flags(site, users):  # type: ignore[no-untyped-def]
    """Four pending flags of version 1 on ``park`` (scores 0.9 ... 0.6), highest first."""
    assets = upload_images(site, users["uploader"], Purpose.SCORE, odd_images(4))
    first = trained_version(site, 1)
    record_scores(version=first, assets=assets, scores=[0.9, 0.8, 0.7, 0.6])
    Site.objects.filter(pk=site.pk).update(active_version=first)  # (no scoring job queued)
    return [Flag.objects.get(score__asset=asset) for asset in assets]


def outcomes(body) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    return [(row["id"], row["outcome"]) for row in body["results"]]


def test_bulk_review_applies_what_it_can_and_reports_each_id(site, users, flags, api):
    a, b, c, d = flags
    # b was reviewed by someone else meanwhile
    api("admin").post(f"/api/flags/{b.pk}/review/", {"decision": "reject"})
    # c's image was scored again by a newer model: its flag now stands for it
    second = trained_version(site, 2)
    activate_version(version=second)
    record_scores(version=second, assets=[c.score.asset], scores=[0.75])
    newer = Flag.objects.get(score__asset=c.score.asset, score__version=second)
    # a flag of another site the reviewer belongs to, and one of a site they cannot see
    other = SiteFactory(slug="line", name="Line")
    Membership.objects.create(site=other, user=users["reviewer"], role="viewer")
    (other_asset,) = upload_images(other, users["admin"], Purpose.SCORE, odd_images(1))
    record_scores(version=trained_version(other, 1), assets=[other_asset], scores=[0.9])
    theirs = Flag.objects.get(site=other)
    hidden = SiteFactory(slug="hidden", name="Hidden")
    (hidden_asset,) = upload_images(hidden, users["admin"], Purpose.SCORE, odd_images(1))
    record_scores(version=trained_version(hidden, 1), assets=[hidden_asset], scores=[0.9])
    secret = Flag.objects.get(site=hidden)
    entries = AuditEntry.objects.filter(action=AuditAction.REVIEW_CONFIRM).count()

    ids = [a.pk, b.pk, c.pk, 999_999, theirs.pk, secret.pk, a.pk, d.pk]
    response = api("reviewer").post(
        REVIEW, {"ids": ids, "decision": "confirm", "note": "rust"}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["decision"] == "confirm"
    assert body["reviewed"] == 2
    assert outcomes(body) == [  # each id once, in the order given
        (a.pk, "reviewed"),
        (b.pk, "already_reviewed"),
        (c.pk, "superseded"),
        (999_999, "unknown"),
        (theirs.pk, "not_this_site"),
        (secret.pk, "unknown"),  # as a missing id: other sites' ids cannot be probed
        (d.pk, "reviewed"),
    ]
    rows = {row["id"]: row for row in body["results"]}
    assert rows[a.pk]["status"] == "confirmed" and rows[a.pk]["detail"] == ""
    assert rows[b.pk]["status"] == "rejected" and "already reviewed" in rows[b.pk]["detail"]
    assert rows[c.pk]["current"] == newer.pk and f"review flag {newer.pk}" in rows[c.pk]["detail"]
    assert rows[secret.pk]["detail"] == rows[999_999]["detail"].replace("999999", str(secret.pk))

    statuses = dict(Flag.objects.values_list("pk", "status"))
    assert statuses[a.pk] == statuses[d.pk] == FlagStatus.CONFIRMED
    assert statuses[b.pk] == FlagStatus.REJECTED  # the admin's decision stands
    assert statuses[c.pk] == FlagStatus.SUPERSEDED and statuses[newer.pk] == FlagStatus.PENDING
    assert statuses[theirs.pk] == statuses[secret.pk] == FlagStatus.PENDING
    assert Flag.objects.get(pk=a.pk).note == "rust"
    assert Flag.objects.get(pk=a.pk).reviewer == users["reviewer"]
    confirmed = AuditEntry.objects.filter(action=AuditAction.REVIEW_CONFIRM).count()
    assert confirmed == entries + 2


def test_a_decision_is_never_counted_twice(users, flags, api):
    ids = [flag.pk for flag in flags[:2]]
    first = api("reviewer").post(REVIEW, {"ids": ids, "decision": "reject"}, format="json")
    assert first.json()["reviewed"] == 2
    again = api("admin").post(REVIEW, {"ids": ids, "decision": "confirm"}, format="json")
    assert again.status_code == 200
    assert again.json()["reviewed"] == 0
    assert {row["outcome"] for row in again.json()["results"]} == {"already_reviewed"}
    for flag in Flag.objects.filter(pk__in=ids):
        assert (flag.status, flag.reviewer) == (FlagStatus.REJECTED, users["reviewer"])
    assert AuditEntry.objects.filter(action=AuditAction.REVIEW_REJECT).count() == 2
    assert AuditEntry.objects.filter(action=AuditAction.REVIEW_CONFIRM).count() == 0
    assert Flag.objects.filter(status=FlagStatus.PENDING).count() == 2

    # undo puts them back once; a second undo has nothing left to take back
    undone = api("reviewer").post(UNDO, {"ids": [*ids, 999_999]}, format="json")
    assert undone.status_code == 200
    assert undone.json()["undone"] == 2
    assert outcomes(undone.json()) == [(ids[0], "undone"), (ids[1], "undone"), (999_999, "unknown")]
    assert [row["status"] for row in undone.json()["results"][:2]] == ["pending", "pending"]
    twice = api("reviewer").post(UNDO, {"ids": ids}, format="json").json()
    assert twice["undone"] == 0
    assert {row["outcome"] for row in twice["results"]} == {"not_reviewed"}
    assert Flag.objects.filter(status=FlagStatus.PENDING).count() == 4


def test_bulk_review_roles_and_bad_requests(flags, api):
    body = {"ids": [flags[0].pk], "decision": "confirm"}
    for who, status in [("viewer", 403), ("uploader", 403), ("outsider", 404)]:
        assert api(who).post(REVIEW, body, format="json").status_code == status, who
        assert api(who).post(UNDO, {"ids": [flags[0].pk]}, format="json").status_code == status
    from rest_framework.test import APIClient

    assert APIClient().post(REVIEW, body, format="json").status_code == 401
    assert Flag.objects.filter(status=FlagStatus.PENDING).count() == 4
    for bad in [
        {"ids": [flags[0].pk], "decision": "maybe"},
        {"ids": [], "decision": "confirm"},
        {"ids": ["x"], "decision": "confirm"},
        {"decision": "confirm"},
        {"ids": list(range(1, 502)), "decision": "confirm"},
    ]:
        response = api("reviewer").post(REVIEW, bad, format="json")
        assert response.status_code == 400, bad
        assert response.json()["detail"]
    assert api("admin").post(REVIEW, body, format="json").json()["reviewed"] == 1


def test_scoring_status_counts_images_done_and_new_flags_since(site, users, flags, api):
    idle = api("viewer").get("/api/sites/park/scoring-status/").json()
    assert idle == {
        "running": False,
        "started": False,
        "total": 0,
        "done": 0,
        "pending": 4,
        "latest_flag": max(flag.pk for flag in flags),
        "jobs": [],
    }
    active = DetectorVersion.objects.get(site=site, number=1)
    job = ScoringJob.objects.create(site=site, version=active, total=120, status=JobStatus.RUNNING)
    for index, size in enumerate([64, 56]):
        ScoringChunk.objects.create(
            job=job, index=index, asset_ids=list(range(size)), status=JobStatus.QUEUED
        )
    ScoringChunk.objects.filter(job=job, index=0).update(status=JobStatus.SUCCEEDED)
    running = api("viewer").get("/api/sites/park/scoring-status/").json()
    assert (running["running"], running["started"]) == (True, True)
    assert (running["done"], running["total"]) == (64, 120)
    assert running["jobs"] == [{"id": job.pk, "status": "running", "total": 120, "done": 64}]

    since = running["latest_flag"]
    (asset,) = upload_images(site, users["uploader"], Purpose.SCORE, odd_images(1, start=10))
    record_scores(version=active, assets=[asset], scores=[0.65])
    new = api("viewer").get(f"/api/sites/park/flags/?status=pending&since_id={since}").json()
    assert [row["asset"] for row in new["results"]] == [asset.pk]
    bad = api("viewer").get("/api/sites/park/flags/?since_id=-1")
    assert bad.status_code == 400 and "since_id" in bad.json()["detail"]
