"""Reviewer quality: known-answer checks (counted right, never shown as such) and
second opinions (agreement, disputes, settling, undo), through the API and the services."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.factories import member, odd_images, upload_images
from tests.queue_page import queue_rows
from webapp.assets.models import Purpose
from webapp.dashboard import selectors as dashboard
from webapp.detectors.models import DetectorVersion, JobStatus
from webapp.review import quality
from webapp.review.models import Flag, FlagStatus, KnownAnswerCheck, Opinion
from webapp.review.selectors import confirmed_anomalies, normal_training_assets
from webapp.review.services import record_scores
from webapp.sites.models import AuditAction, AuditEntry, Site

pytestmark = pytest.mark.django_db

QUEUE = "/api/sites/park/flags/?status=pending"
QUALITY = "/api/sites/park/reviewers/"
SETTINGS = "/api/sites/park/review-settings/"


@pytest.fixture
def flags(site, users):  # type: ignore[no-untyped-def]
    """Six pending flags of the active version 1 on ``park``, highest score first."""
    assets = upload_images(site, users["uploader"], Purpose.SCORE, odd_images(6))
    version = DetectorVersion.objects.create(
        site=site, number=1, kind="histogram_iforest", status=JobStatus.SUCCEEDED, threshold=0.5
    )
    record_scores(version=version, assets=assets, scores=[0.95, 0.9, 0.85, 0.8, 0.75, 0.7])
    Site.objects.filter(pk=site.pk).update(active_version=version)
    return [Flag.objects.get(score__asset=asset) for asset in assets]


@pytest.fixture
def events(monkeypatch):  # type: ignore[no-untyped-def]
    """Webhook events emitted by the review services, by name."""
    seen: list[str] = []
    monkeypatch.setattr(
        "webapp.review.services.emit", lambda *, site_id, event, data: seen.append(event)
    )
    return seen


def checks_on(site, every: int = 10) -> None:  # type: ignore[no-untyped-def]
    Site.objects.filter(pk=site.pk).update(known_answer_checks=True, known_answer_every=every)


def second_opinion_on(site) -> None:  # type: ignore[no-untyped-def]
    Site.objects.filter(pk=site.pk).update(second_opinion=True)


def pending_ids(client) -> list[int]:  # type: ignore[no-untyped-def]
    return [row["id"] for row in client.get(QUEUE).json()["results"]]


def decide(client, flag, decision: str = "confirm"):  # type: ignore[no-untyped-def]
    return client.post(f"/api/flags/{flag.pk}/review/", {"decision": decision}, format="json")


def person(api, name: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    rows = api("admin").get(QUALITY).json()["reviewers"]
    return next(row for row in rows if row["reviewer"] == name)


def test_a_check_looks_exactly_like_a_pending_flag(site, users, flags, api, client):
    gold, real = flags[0], flags[1]
    decide(api("admin"), gold, "confirm")
    decide(api("admin"), flags[5], "reject")
    checks_on(site)
    Flag.objects.filter(pk=gold.pk).update(superseded_by=real.score)  # (an old history)
    reviewer = api("reviewer")

    listed = {row["id"]: row for row in reviewer.get(QUEUE).json()["results"]}
    (check,) = KnownAnswerCheck.objects.all()
    assert check.reviewer == users["reviewer"] and check.answer == ""
    served = listed[check.flag_id]
    assert check.flag_id in (gold.pk, flags[5].pk)
    ordinary = listed[real.pk]
    assert served.keys() == ordinary.keys()
    same = ["status", "reviewer", "reviewed_at", "note", "superseded_by", "disputed", "version"]
    assert {k: served[k] for k in same} == {k: ordinary[k] for k in same}
    assert served["status"] == "pending" and served["reviewer"] is None
    assert reviewer.get(f"/api/flags/{check.flag_id}/").json() == served
    assert reviewer.get(QUEUE).json()["count"] == 5  # 4 real + the check, as the page says
    status = reviewer.get("/api/sites/park/scoring-status/").json()
    assert status["pending"] == 5
    # to everyone else it is what it is, and nothing counts it as pending
    assert api("admin").get(f"/api/flags/{check.flag_id}/").json()["status"] != "pending"
    assert api("admin").get(QUEUE).json()["count"] == 4
    assert check.flag_id not in pending_ids(api("viewer"))
    # the reviewer's other lists leave it out too
    for status_name in ("confirmed", "rejected"):
        rows = reviewer.get(f"/api/sites/park/flags/?status={status_name}").json()["results"]
        assert check.flag_id not in [row["id"] for row in rows]
    # the queue page draws it as any pending flag, and counts it in
    client.force_login(users["reviewer"])
    html = client.get("/sites/park/review/").content.decode()
    item = next(row for row in queue_rows(html) if row["id"] == check.flag_id)
    assert item["status"] == "pending" and item["reviewer"] is None
    assert item["reviewed_at"] is None and item["note"] == ""
    assert '<strong id="pending-count">5</strong>' in html
    assert KnownAnswerCheck.objects.count() == 1  # served once, whatever asks
    # and so does the photo's own page, which the queue links to
    asset_page = client.get(f"/assets/{served['asset']}/").content.decode()
    assert "badge-pending" in asset_page and "by admin" not in asset_page


def test_an_answer_to_a_check_is_counted_once_and_changes_nothing(site, users, flags, api, events):
    gold = flags[0]
    decide(api("admin"), gold, "confirm")
    checks_on(site)
    reviewer = api("reviewer")
    # (only one known flag: the check is this one)
    assert gold.pk in pending_ids(reviewer)
    now = timezone.now()
    before = {
        "flags": dict(Flag.objects.values_list("pk", "status")),
        "pending": api("admin").get(QUEUE).json()["count"],
        "audit": AuditEntry.objects.filter(action__startswith="review_").count(),
        "events": list(events),
        "normal": list(normal_training_assets(site).values_list("pk", flat=True)),
        "anomalies": list(confirmed_anomalies(site).values_list("pk", flat=True)),
        "per_reviewer": dashboard.decisions_per_reviewer(site, now=now),
        "flags_over_time": dashboard.flags_over_time(site, now=now),
    }

    answered = decide(reviewer, gold, "reject")  # wrong: the admin confirmed it
    assert answered.status_code == 200, answered.json()
    assert (answered.json()["status"], answered.json()["reviewer"]) == ("rejected", "reviewer")
    assert reviewer.get(f"/api/flags/{gold.pk}/").json()["status"] == "rejected"
    after = {
        "flags": dict(Flag.objects.values_list("pk", "status")),
        "pending": api("admin").get(QUEUE).json()["count"],
        "audit": AuditEntry.objects.filter(action__startswith="review_").count(),
        "events": list(events),
        "normal": list(normal_training_assets(site).values_list("pk", flat=True)),
        "anomalies": list(confirmed_anomalies(site).values_list("pk", flat=True)),
        "per_reviewer": dashboard.decisions_per_reviewer(site, now=now),
        "flags_over_time": dashboard.flags_over_time(site, now=now),
    }
    assert after == before
    assert Flag.objects.get(pk=gold.pk).reviewer == users["admin"]
    assert AuditEntry.objects.filter(action=AuditAction.CHECK_ANSWERED).count() == 1
    row = person(api, "reviewer")
    assert (row["checks_answered"], row["checks_agreed"], row["check_agreement"]) == (1, 0, 0.0)

    # the same decision again is a 409 that speaks of the reviewer's own answer only
    again = decide(reviewer, gold, "confirm")
    assert again.status_code == 409
    assert (
        "rejected by reviewer" in again.json()["detail"] and "admin" not in again.json()["detail"]
    )
    bulk = reviewer.post(
        "/api/sites/park/flags/review/", {"ids": [gold.pk], "decision": "confirm"}, format="json"
    ).json()
    assert bulk["results"][0]["status"] == "rejected" and bulk["reviewed"] == 0

    # undo takes back the answer only; answering again replaces it: still one answer
    undone = reviewer.post(f"/api/flags/{gold.pk}/undo/")
    assert undone.status_code == 200 and undone.json()["status"] == "pending"
    assert Flag.objects.get(pk=gold.pk).status == FlagStatus.CONFIRMED
    assert reviewer.post(f"/api/flags/{gold.pk}/undo/").status_code == 409  # nothing left
    assert decide(reviewer, gold, "confirm").json()["status"] == "confirmed"
    row = person(api, "reviewer")
    assert (row["checks_answered"], row["checks_agreed"], row["check_agreement"]) == (1, 1, 1.0)
    assert KnownAnswerCheck.objects.count() == 1
    assert events == before["events"]

    # the admin changing their mind changes the score; undoing it ends the check
    api("admin").post(f"/api/flags/{gold.pk}/undo/")
    assert api("admin").get(QUALITY).json()["reviewers"] == []
    assert decide(reviewer, gold, "confirm").json()["status"] == "confirmed"  # now for real
    assert Flag.objects.get(pk=gold.pk).reviewer == users["reviewer"]


def test_checks_come_about_once_in_n_and_never_twice(site, users, flags, api):
    for flag in flags[:2]:
        decide(api("admin"), flag, "confirm")
    real = flags[2:]
    checks_on(site, every=3)
    reviewer = api("reviewer")
    first = set(pending_ids(reviewer)) - {f.pk for f in real}
    assert len(first) == 1  # one check at a time
    assert set(pending_ids(reviewer)) - {f.pk for f in real} == first  # the same, not another
    (first_id,) = first
    reviewer.post(f"/api/flags/{first_id}/review/", {"decision": "confirm"}, format="json")
    assert set(pending_ids(reviewer)) == {f.pk for f in real}  # due after 2 real decisions
    decide(reviewer, real[0])
    assert set(pending_ids(reviewer)) == {f.pk for f in real[1:]}
    decide(reviewer, real[1])
    second = set(pending_ids(reviewer)) - {f.pk for f in real}
    assert len(second) == 1 and second != first
    reviewer.post(f"/api/flags/{second.pop()}/review/", {"decision": "reject"}, format="json")
    decide(reviewer, real[2])
    decide(reviewer, real[3])
    assert set(pending_ids(reviewer)) == set()  # both known flags used, none real left
    assert KnownAnswerCheck.objects.filter(reviewer=users["reviewer"]).count() == 2
    row = person(api, "reviewer")
    assert (row["checks_answered"], row["checks_agreed"]) == (2, 1)
    # the real decisions count as decisions; the answers do not
    assert Flag.objects.filter(reviewer=users["reviewer"]).count() == 4


def test_admins_and_others_are_never_served_checks(site, users, flags, api):
    decide(api("admin"), flags[0], "confirm")
    assert gold_served(api, "reviewer") is False  # checks are off
    checks_on(site)
    from tests.conftest import client_for

    other_admin = member(site, "admin", username="admin2")

    for client in (api("admin"), client_for(other_admin), api("viewer")):
        assert flags[0].pk not in pending_ids(client)
    assert not KnownAnswerCheck.objects.exists()
    # an admin demoted to reviewer is never checked against their own decisions
    site.memberships.filter(user=users["admin"]).update(role="reviewer")
    assert quality.serve_check(site=site, reviewer=users["admin"]) is None
    # a known flag of a model that no longer has flags in the queue would stand out
    site.memberships.filter(user=users["admin"]).update(role="admin")
    newer = DetectorVersion.objects.create(
        site=site, number=2, kind="histogram_iforest", status=JobStatus.SUCCEEDED, threshold=0.5
    )
    Site.objects.filter(pk=site.pk).update(active_version=newer)
    record_scores(version=newer, assets=[f.score.asset for f in flags[1:]], scores=[0.9] * 5)
    assert set(pending_ids(api("reviewer"))) == set(
        Flag.objects.filter(score__version=newer).values_list("pk", flat=True)
    )
    assert not KnownAnswerCheck.objects.exists()


def gold_served(api, who: str) -> bool:  # type: ignore[no-untyped-def]
    ids = pending_ids(api(who))
    return Flag.objects.filter(pk__in=ids).exclude(status=FlagStatus.PENDING).exists()


# --- second opinion -------------------------------------------------------------------


def test_two_reviewers_who_agree_settle_a_flag_once(site, users, flags, api, events):
    second_opinion_on(site)
    from tests.conftest import client_for

    other = client_for(member(site, "reviewer", username="reviewer2"))
    flag = flags[0]
    first = decide(api("reviewer"), flag, "reject")
    assert first.json()["status"] == "rejected"  # to them, their decision stands
    assert Flag.objects.get(pk=flag.pk).status == FlagStatus.PENDING
    assert flag.pk not in pending_ids(api("reviewer"))
    assert flag.pk in pending_ids(other) and flag.pk in pending_ids(api("admin"))
    assert api("admin").get(f"/api/flags/{flag.pk}/").json()["disputed"] is False
    assert flag.pk not in normal_training_assets(site).values_list("pk", flat=True)
    assert events == [] and not AuditEntry.objects.filter(action__startswith="review_").exists()
    assert AuditEntry.objects.filter(action=AuditAction.OPINION_GIVEN).count() == 1

    second = decide(other, flag, "reject")
    assert second.json()["status"] == "rejected"
    settled = Flag.objects.get(pk=flag.pk)
    assert (settled.status, settled.reviewer.username) == (FlagStatus.REJECTED, "reviewer2")
    assert settled.score.asset_id in normal_training_assets(site).values_list("pk", flat=True)
    assert events == ["flag.reviewed"]  # once
    assert AuditEntry.objects.filter(action=AuditAction.REVIEW_REJECT).count() == 1
    per_day = dashboard.decisions_per_reviewer(site, now=timezone.now())["reviewers"]
    assert sum(sum(p["rejected"]) for p in per_day) == 1  # one decision, not two
    body = api("admin").get(QUALITY).json()
    assert (body["double_reviewed"], body["double_reviewed_agreed"]) == (1, 1)
    assert body["pairs"] == [
        {"reviewers": ["reviewer", "reviewer2"], "flags": 1, "agreed": 1, "agreement": 1.0}
    ]
    assert person(api, "reviewer")["agreement_with_others"] == 1.0

    # each one's undo takes back their own decision; the label goes with too few agreeing
    undone = other.post(f"/api/flags/{flag.pk}/undo/")
    assert undone.status_code == 200 and undone.json()["status"] == "pending"
    assert Flag.objects.get(pk=flag.pk).status == FlagStatus.PENDING
    assert events == ["flag.reviewed", "flag.review_undone"]
    assert api("reviewer").get(f"/api/flags/{flag.pk}/").json()["status"] == "rejected"
    assert api("reviewer").post(f"/api/flags/{flag.pk}/undo/").json()["status"] == "pending"
    assert not Opinion.objects.exists()
    assert api("reviewer").post(f"/api/flags/{flag.pk}/undo/").status_code == 409


def test_a_dispute_stays_open_until_a_third_reviewer_or_an_admin_settles_it(
    site, users, flags, api
):
    second_opinion_on(site)
    from tests.conftest import client_for

    two, three = (client_for(member(site, "reviewer", username=f"reviewer{n}")) for n in (2, 3))
    a, b = flags[0], flags[1]
    for flag in (a, b):
        decide(api("reviewer"), flag, "confirm")
        decide(two, flag, "reject")
    for flag in (a, b):
        assert Flag.objects.get(pk=flag.pk).status == FlagStatus.PENDING
        row = api("admin").get(f"/api/flags/{flag.pk}/").json()
        assert (row["status"], row["disputed"]) == ("pending", True)
        assert three.get(f"/api/flags/{flag.pk}/").json()["disputed"] is True
    assert api("admin").get(QUALITY).json()["disputed"] == 2
    assert decide(api("reviewer"), a, "reject").status_code == 409  # one opinion each

    decide(three, a, "confirm")  # a majority of two
    assert Flag.objects.get(pk=a.pk).status == FlagStatus.CONFIRMED
    decide(api("admin"), b, "reject")  # an admin's decision settles at once
    assert Flag.objects.get(pk=b.pk).status == FlagStatus.REJECTED
    assert not Opinion.objects.filter(reviewer=users["admin"]).exists()
    body = api("admin").get(QUALITY).json()
    assert body["disputed"] == 0
    assert (body["double_reviewed"], body["double_reviewed_agreed"]) == (2, 0)
    assert person(api, "reviewer")["double_reviewed"] == 3  # with reviewer2 twice, reviewer3
    assert person(api, "reviewer")["agreed_with_others"] == 1
    pairs = {tuple(p["reviewers"]): (p["flags"], p["agreed"]) for p in body["pairs"]}
    assert pairs[("reviewer", "reviewer2")] == (2, 0)
    assert pairs[("reviewer", "reviewer3")] == (1, 1)
    # the one left in the minority keeps their opinion; the admin's label stands on undo
    assert two.post(f"/api/flags/{b.pk}/undo/").status_code == 200
    assert Flag.objects.get(pk=b.pk).status == FlagStatus.REJECTED


def test_review_settings_are_for_admins_and_audited(site, users, api):
    assert api("admin").get(SETTINGS).json() == {
        "known_answer_checks": False,
        "known_answer_every": 10,
        "second_opinion": False,
    }
    changed = api("admin").patch(
        SETTINGS, {"known_answer_checks": True, "known_answer_every": 5}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["known_answer_every"] == 5
    entry = AuditEntry.objects.get(action=AuditAction.SETTINGS_CHANGED)
    assert "known_answer_checks from False to True" in entry.summary
    assert api("admin").patch(SETTINGS, {"known_answer_every": 1}, format="json").status_code == 400
    assert api("reviewer").get(SETTINGS).status_code == 403
    assert "known_answer_checks" not in api("reviewer").get("/api/sites/park/").json()
    assert api("reviewer").get(QUALITY).status_code == 403


def test_the_reviewers_page(site, users, flags, client):
    client.force_login(users["reviewer"])
    assert client.get("/sites/park/reviewers/").status_code == 403
    client.force_login(users["admin"])
    page = client.get("/sites/park/reviewers/")
    assert page.status_code == 200
    assert b"Agreement per reviewer" in page.content and b"Known-answer checks" in page.content
    saved = client.post(
        "/sites/park/reviewers/",
        {"known_answer_checks": "on", "known_answer_every": "4", "second_opinion": "on"},
    )
    assert saved.status_code == 302
    site.refresh_from_db()
    assert (site.known_answer_checks, site.known_answer_every, site.second_opinion) == (
        True,
        4,
        True,
    )
    bad = client.post("/sites/park/reviewers/", {"known_answer_every": "0"})
    assert bad.status_code == 400
