"""The dashboard's numbers on a small built dataset, and its visits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from django.utils import timezone

from tests.dashboard_data import FlagSpec, bare_assets, make_flags, version_of
from tests.factories import member
from webapp.assets.models import MediaType, Purpose
from webapp.dashboard import selectors
from webapp.dashboard.services import record_dashboard_visit
from webapp.review.models import FlagStatus
from webapp.review.services import review_flag, undo_review
from webapp.sites import audit
from webapp.sites.models import AuditAction, Site

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 10, 18, 0, tzinfo=UTC)  # a Tuesday
P, C, R, S = FlagStatus.PENDING, FlagStatus.CONFIRMED, FlagStatus.REJECTED, FlagStatus.SUPERSEDED


@pytest.fixture(autouse=True)
def _fast_passwords(settings):  # type: ignore[no-untyped-def]
    """Users' passwords hash in microseconds (the default hasher takes a second each)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def at(day: int, hour: float, month: int = 6) -> datetime:
    return datetime(2025, month, day, tzinfo=UTC) + timedelta(hours=hour)


@pytest.fixture
def world(site, users):  # type: ignore[no-untyped-def]
    """Eight flags around the 30-day window ending on NOW (see each line)."""
    rita = member(site, "reviewer", username="rita")
    ray = users["reviewer"]
    version = version_of(site)
    flags = make_flags(
        site,
        version,
        [
            FlagSpec(at(1, 9, month=5), C, ray, at(2, 9, month=5)),  # all before the window
            FlagSpec(at(10, 10, month=5), P),  # before the window, still waiting: the oldest
            FlagSpec(at(8, 10), R, ray, at(8, 10.5)),  # waited 30 minutes
            FlagSpec(at(8, 11), C, rita, at(9, 11)),  # waited exactly a day
            FlagSpec(at(9, 8), R, rita, at(10, 10)),  # waited 26 hours
            FlagSpec(at(10, 9), P),
            FlagSpec(at(10, 9.5), S),  # a newer model took over: left out
            FlagSpec(at(1, 12), R, ray, at(1, 14)),  # waited 2 hours
        ],
    )
    return {"version": version, "flags": flags, "rita": rita, "ray": ray}


def test_flags_per_day_and_waiting_at_the_end_of_each_day(site, world):  # type: ignore[no-untyped-def]
    result = selectors.flags_over_time(site, now=NOW)
    days = result["days"]
    assert len(days) == 30
    assert (days[0]["date"], days[-1]["date"]) == (date(2025, 5, 12), date(2025, 6, 10))
    by_day = {row["date"]: row for row in days}
    assert by_day[date(2025, 6, 1)] == {
        "date": date(2025, 6, 1),
        "opened": 1,
        "confirmed": 0,
        "rejected": 1,
        "pending_at_end": 1,
    }
    assert [
        (by_day[date(2025, 6, d)]["opened"], by_day[date(2025, 6, d)]["confirmed"])
        for d in (8, 9, 10)
    ] == [(2, 0), (1, 1), (1, 0)]
    # one flag waited from before the window; the superseded one is never counted
    assert [row["pending_at_end"] for row in days[:20]] == [1] * 20
    assert [by_day[date(2025, 6, d)]["pending_at_end"] for d in (7, 8, 9, 10)] == [1, 2, 2, 2]
    assert days[-1]["pending_at_end"] == result["totals"]["pending"]
    assert result["totals"] == {"pending": 2, "confirmed": 2, "rejected": 3, "superseded": 1}
    assert result["oldest_pending_since"] == at(10, 10, month=5)
    assert result["oldest_pending_s"] == (NOW - at(10, 10, month=5)).total_seconds()


def test_waiting_times_median_90th_percentile_and_histogram(site, world):  # type: ignore[no-untyped-def]
    waits = [1800, 7200, 86400, 93600]  # the four flags decided in the window
    result = selectors.waiting_times(site, now=NOW)
    assert result["decided"] == 4
    assert result["median_s"] == pytest.approx(np.percentile(waits, 50))
    assert result["p90_s"] == pytest.approx(np.percentile(waits, 90))
    # exactly 24 hours falls in "1 to 3 days": the buckets are [lower, upper)
    assert [b["count"] for b in result["histogram"]] == [1, 1, 0, 2, 0, 0]
    assert result["histogram"][-1] == {"label": "over 7 days", "upper_s": None, "count": 0}


def test_decisions_per_reviewer_per_day(site, world):  # type: ignore[no-untyped-def]
    result = selectors.decisions_per_reviewer(site, now=NOW)
    assert result["days"][0] == date(2025, 5, 28) and len(result["days"]) == 14
    rows = {row["reviewer"]: row for row in result["reviewers"]}
    assert [row["reviewer"] for row in result["reviewers"]] == ["reviewer", "rita"]
    assert rows["reviewer"]["total"] == 2 and sum(rows["reviewer"]["rejected"]) == 2
    day = {d: i for i, d in enumerate(result["days"])}
    assert rows["rita"]["confirmed"][day[date(2025, 6, 9)]] == 1
    assert rows["rita"]["rejected"][day[date(2025, 6, 10)]] == 1
    assert sum(rows["rita"]["confirmed"]) + sum(rows["rita"]["rejected"]) == 2


def test_days_are_calendar_days_of_the_time_zone(site, world):  # type: ignore[no-untyped-def]
    version = world["version"]
    # 13:00 UTC on 9 June is 01:00 on 10 June in Auckland (UTC+12 in June)
    make_flags(site, version, [FlagSpec(at(9, 13))])
    in_utc = {row["date"]: row for row in selectors.flags_over_time(site, now=NOW)["days"]}
    with timezone.override("Pacific/Auckland"):
        there = {row["date"]: row for row in selectors.flags_over_time(site, now=NOW)["days"]}
    assert (in_utc[date(2025, 6, 9)]["opened"], in_utc[date(2025, 6, 10)]["opened"]) == (2, 1)
    assert (there[date(2025, 6, 9)]["opened"], there[date(2025, 6, 10)]["opened"]) == (1, 2)
    # NOW (18:00 UTC) is already the 11th there: the window ends a day later
    assert max(there) == date(2025, 6, 11) and min(there) == date(2025, 5, 13)


def test_photo_counts_by_purpose_and_videos(site):  # type: ignore[no-untyped-def]
    bare_assets(site, 3, purpose=Purpose.TRAIN)
    bare_assets(site, 2, purpose=Purpose.SCORE)
    bare_assets(site, 1, purpose=Purpose.SCORE, media_type=MediaType.VIDEO)
    bare_assets(site, 4, purpose=Purpose.SCORE, media_type=MediaType.FRAME)
    assert selectors.photo_counts(site) == {
        "training": 3,
        "to_check": 2,
        "videos_training": 0,
        "videos_to_check": 1,
        "video_frames": 4,
    }


def test_the_active_model_in_plain_words_and_the_latest_training(site):  # type: ignore[no-untyped-def]
    chosen = version_of(
        site,
        1,
        kind="auto",
        finished_at=at(3, 12),
        metrics={
            "auto": {"chosen": "deep_knn"},
            "guaranteed_fpr": 0.0099,
            "n_calibration": 100,
            "calibration": "crossfit",
            "threshold_method": "fpr",
            "target_fpr": 0.01,
            "target_fpr_kept": True,
        },
    )
    version_of(site, 2, status="failed", error="out of memory")
    Site.objects.filter(pk=site.pk).update(active_version=chosen)
    site.refresh_from_db()
    summary = selectors.model_summary(site)
    active = summary["active"]
    assert (active["number"], active["kind"], active["chosen_kind"]) == (1, "auto", "deep_knn")
    assert active["description"].startswith("Chosen automatically among several kinds: deep_knn.")
    assert "every small region of a photo" in active["description"]
    assert active["guaranteed_false_alarm_rate"] == 0.0099
    assert active["expected_false_alarms_per_100"] == 0.99
    assert summary["last_trained_at"] == at(3, 12)
    latest = summary["latest_training"]
    assert (latest["number"], latest["status_text"], latest["error"]) == (
        2,
        "failed",
        "out of memory",
    )


def test_a_site_without_anything(site, users):  # type: ignore[no-untyped-def]
    data = selectors.site_dashboard(site, user=users["viewer"], since=None, now=NOW)
    assert data["model"] == {"active": None, "last_trained_at": None, "latest_training": None}
    assert data["waiting"]["median_s"] is None and data["flags"]["oldest_pending_s"] is None
    assert data["reviewers"]["reviewers"] == []
    assert data["since_last_visit"]["first_visit"] is True


def test_visits_and_what_changed_since_the_last_one(site, users, world):  # type: ignore[no-untyped-def]
    me, rita = users["reviewer"], world["rita"]
    start = timezone.now() - timedelta(hours=2)
    first = record_dashboard_visit(site=site, user=me, now=start)
    assert first.baseline_at is None
    # a reload a few minutes later is the same (first) visit
    assert (
        record_dashboard_visit(site=site, user=me, now=start + timedelta(minutes=5)).baseline_at
        is None
    )

    # what happens next (at the real "now", after the visit)
    bare_assets(site, 3, purpose=Purpose.SCORE)
    bare_assets(site, 1, purpose=Purpose.TRAIN)
    bare_assets(site, 1, media_type=MediaType.VIDEO)
    new = make_flags(site, world["version"], [FlagSpec(timezone.now()) for _ in range(3)])
    review_flag(flag_id=new[0].pk, reviewer=rita, decision="confirm")
    review_flag(flag_id=new[1].pk, reviewer=rita, decision="reject")
    review_flag(flag_id=new[2].pk, reviewer=me, decision="reject")  # my own: not news to me
    undo_review(flag_id=new[2].pk, user=me)
    audit.record(
        site=site,
        actor=None,
        action=AuditAction.TRAINING_SUCCEEDED,
        object_type="version",
        object_id=world["version"].pk,
        summary="version 1 trained",
        details={"number": 1},
    )
    audit.record(
        site=site,
        actor=users["admin"],
        action=AuditAction.ACTIVATION,
        object_type="version",
        object_id=world["version"].pk,
        summary="activated version 1",
        details={"number": 1},
    )

    later = timezone.now() + timedelta(hours=1)
    visit = record_dashboard_visit(site=site, user=me, now=later)
    assert visit.baseline_at == start + timedelta(minutes=5)
    changes = selectors.changes_since(site, user=me, since=visit.baseline_at)
    assert changes["first_visit"] is False
    assert changes["photos"] == {"training": 1, "to_check": 3 + 3, "videos": 1}  # flags' too
    assert changes["flags"] == {"opened": 3, "still_pending": 1}
    assert changes["decisions_by_others"] == [
        {"reviewer": "rita", "confirmed": 1, "rejected": 1, "undone": 0}
    ]
    assert [(m["event"], m["number"], m["by"]) for m in changes["models"]] == [
        ("training_succeeded", 1, None),
        ("activation", 1, "admin"),
    ]

    # another visit soon after keeps the same baseline; one much later starts from it
    again = record_dashboard_visit(site=site, user=me, now=later + timedelta(minutes=20))
    assert again.baseline_at == visit.baseline_at
    next_day = record_dashboard_visit(site=site, user=me, now=later + timedelta(days=1))
    assert next_day.baseline_at == later + timedelta(minutes=20)
    quiet = selectors.changes_since(site, user=me, since=next_day.baseline_at)
    assert quiet["photos"] == {"training": 0, "to_check": 0, "videos": 0}
    assert quiet["decisions_by_others"] == [] and quiet["models"] == []
    # each member has their own visits
    assert record_dashboard_visit(site=site, user=rita, now=later).baseline_at is None
