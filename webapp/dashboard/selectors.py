"""Reads for a site's dashboard: photos, flags over time, waiting times, reviewers, model.

Every number is aggregated in the database (``TruncDate`` with ``Count``, conditional
counts, one ordered row per percentile), so the dashboard costs the same few queries with
ten flags or a hundred thousand. Days are calendar days in ``TIME_ZONE``, the last
:data:`FLAG_DAYS` (or :data:`REVIEWER_DAYS`) of them, today included.

Flags a newer model took over (``superseded``) are left out of the counts over time and of
the waiting times: the image waits once, through the newer model's flag, and when the old
flag left the queue is not recorded.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import (
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    Min,
    Q,
    QuerySet,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from webapp.assets.models import Asset, MediaType, Purpose
from webapp.detectors.models import DetectorVersion, JobStatus
from webapp.detectors.selectors import calibration_summary, plain_kind
from webapp.review.models import REVIEWED, Flag, FlagStatus
from webapp.sites.models import AuditAction, AuditEntry, Site

FLAG_DAYS = 30
REVIEWER_DAYS = 14
#: Flags that count over time: in the queue, or decided (see the module's docstring).
COUNTED = (FlagStatus.PENDING, *REVIEWED)
#: Waiting-time histogram: (upper bound, label); the last bucket has no upper bound.
WAIT_BUCKETS: tuple[tuple[timedelta | None, str], ...] = (
    (timedelta(hours=1), "under 1 hour"),
    (timedelta(hours=6), "1 to 6 hours"),
    (timedelta(days=1), "6 to 24 hours"),
    (timedelta(days=3), "1 to 3 days"),
    (timedelta(days=7), "3 to 7 days"),
    (None, "over 7 days"),
)
#: Audit actions that tell of a model: trained, failed, made active.
MODEL_EVENTS = (
    AuditAction.TRAINING_SUCCEEDED,
    AuditAction.TRAINING_FAILED,
    AuditAction.ACTIVATION,
)
DECISION_EVENTS = (AuditAction.REVIEW_CONFIRM, AuditAction.REVIEW_REJECT, AuditAction.REVIEW_UNDO)
TRAINING_STATUS_TEXT = {
    JobStatus.QUEUED: "waiting for a worker",
    JobStatus.RUNNING: "training now",
    JobStatus.SUCCEEDED: "finished",
    JobStatus.FAILED: "failed",
}


def last_days(now: datetime, count: int) -> list[date]:
    """The ``count`` calendar days up to and including ``now``'s, oldest first."""
    today = timezone.localdate(now)
    return [today - timedelta(days=count - 1 - i) for i in range(count)]


def start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _day(field: str) -> TruncDate:
    return TruncDate(field, tzinfo=timezone.get_current_timezone())


def photo_counts(site: Site) -> dict[str, int]:
    """Photos known to be normal (for training) and to check, videos, kept video frames."""
    image, video = Q(media_type=MediaType.IMAGE), Q(media_type=MediaType.VIDEO)
    train, score = Q(purpose=Purpose.TRAIN), Q(purpose=Purpose.SCORE)
    return Asset.objects.filter(site=site).aggregate(
        training=Count("id", filter=image & train),
        to_check=Count("id", filter=image & score),
        videos_training=Count("id", filter=video & train),
        videos_to_check=Count("id", filter=video & score),
        video_frames=Count("id", filter=Q(media_type=MediaType.FRAME)),
    )


def flags_over_time(site: Site, *, now: datetime, days: int = FLAG_DAYS) -> dict[str, Any]:
    """Flag totals by status, and per day: opened, confirmed, rejected, waiting at its end.

    "Waiting at the end of a day" is every counted flag opened by then minus those decided
    by then: three queries whatever the number of days (totals with the count before the
    first day, then flags opened and flags decided per day).
    """
    window = last_days(now, days)
    start = start_of(window[0])
    flags = Flag.objects.filter(site=site).order_by()
    totals = flags.aggregate(
        pending=Count("id", filter=Q(status=FlagStatus.PENDING)),
        confirmed=Count("id", filter=Q(status=FlagStatus.CONFIRMED)),
        rejected=Count("id", filter=Q(status=FlagStatus.REJECTED)),
        superseded=Count("id", filter=Q(status=FlagStatus.SUPERSEDED)),
        opened_before=Count("id", filter=Q(status__in=COUNTED, created_at__lt=start)),
        decided_before=Count("id", filter=Q(status__in=REVIEWED, reviewed_at__lt=start)),
        oldest_pending=Min("created_at", filter=Q(status=FlagStatus.PENDING)),
    )
    opened = dict(
        flags.filter(status__in=COUNTED, created_at__gte=start)
        .annotate(day=_day("created_at"))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    decided = {
        (row["day"], row["status"]): row["n"]
        for row in flags.filter(status__in=REVIEWED, reviewed_at__gte=start)
        .annotate(day=_day("reviewed_at"))
        .values("day", "status")
        .annotate(n=Count("id"))
    }
    waiting = totals["opened_before"] - totals["decided_before"]
    rows = []
    for day in window:
        confirmed = decided.get((day, FlagStatus.CONFIRMED), 0)
        rejected = decided.get((day, FlagStatus.REJECTED), 0)
        waiting += opened.get(day, 0) - confirmed - rejected
        rows.append(
            {
                "date": day,
                "opened": opened.get(day, 0),
                "confirmed": confirmed,
                "rejected": rejected,
                "pending_at_end": waiting,
            }
        )
    oldest = totals["oldest_pending"]
    return {
        "totals": {k: totals[k] for k in ("pending", "confirmed", "rejected", "superseded")},
        "days": rows,
        "oldest_pending_since": oldest,
        "oldest_pending_s": (now - oldest).total_seconds() if oldest else None,
    }


def _waited() -> ExpressionWrapper:
    return ExpressionWrapper(F("reviewed_at") - F("created_at"), output_field=DurationField())


def _percentile(flags: QuerySet[Flag], count: int, share: float) -> float | None:
    """The ``share`` quantile of ``wait`` (seconds), interpolated between the two nearest
    ranks as numpy's default does; the database sorts and hands back two rows at most."""
    if not count:
        return None
    rank = share * (count - 1)
    low = math.floor(rank)
    values = [
        wait.total_seconds()
        for wait in flags.order_by("wait", "id").values_list("wait", flat=True)[low : low + 2]
    ]
    if len(values) == 1:
        return values[0]
    return values[0] + (rank - low) * (values[1] - values[0])


def waiting_times(site: Site, *, now: datetime, days: int = FLAG_DAYS) -> dict[str, Any]:
    """How long flags decided in the last ``days`` waited between opening and decision:
    the median, the 90th percentile and a histogram (:data:`WAIT_BUCKETS`)."""
    start = start_of(last_days(now, days)[0])
    flags = (
        Flag.objects.filter(site=site, status__in=REVIEWED, reviewed_at__gte=start)
        .annotate(wait=_waited())
        .order_by()
    )
    bounds: list[tuple[timedelta | None, timedelta | None]] = []
    lower: timedelta | None = None
    for upper, _ in WAIT_BUCKETS:
        bounds.append((lower, upper))
        lower = upper
    counts = flags.aggregate(
        n=Count("id"),
        **{
            f"bucket_{i}": Count(
                "id",
                filter=(Q(wait__gte=lo) if lo is not None else Q())
                & (Q(wait__lt=hi) if hi is not None else Q()),
            )
            for i, (lo, hi) in enumerate(bounds)
        },
    )
    n = counts["n"]
    return {
        "window_days": days,
        "decided": n,
        "median_s": _percentile(flags, n, 0.5),
        "p90_s": _percentile(flags, n, 0.9),
        "histogram": [
            {
                "label": label,
                "upper_s": upper.total_seconds() if upper is not None else None,
                "count": counts[f"bucket_{i}"],
            }
            for i, (upper, label) in enumerate(WAIT_BUCKETS)
        ],
    }


def decisions_per_reviewer(
    site: Site, *, now: datetime, days: int = REVIEWER_DAYS
) -> dict[str, Any]:
    """Standing decisions (confirmed, rejected) of each reviewer per day, busiest first.

    A decision undone is no longer counted; one redone counts for whoever made it last,
    so no decision is counted twice. Reviewers whose account was deleted are ``None``.
    """
    window = last_days(now, days)
    rows = (
        Flag.objects.filter(site=site, status__in=REVIEWED, reviewed_at__gte=start_of(window[0]))
        .annotate(day=_day("reviewed_at"))
        .values("reviewer__username", "day", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    index = {day: i for i, day in enumerate(window)}
    people: dict[str | None, dict[str, Any]] = {}
    for row in rows:
        if row["day"] not in index:
            continue
        person = people.setdefault(
            row["reviewer__username"],
            {
                "reviewer": row["reviewer__username"],
                "confirmed": [0] * days,
                "rejected": [0] * days,
                "total": 0,
            },
        )
        person[row["status"]][index[row["day"]]] += row["n"]
        person["total"] += row["n"]
    ordered = sorted(people.values(), key=lambda p: (-p["total"], p["reviewer"] or "~"))
    return {"days": window, "reviewers": ordered}


def model_summary(site: Site) -> dict[str, Any]:
    """The active model in plain words, its promise on false alarms, and the latest training.

    ``site.active_version`` is expected loaded (``access_site`` selects it).
    """
    active = site.active_version
    versions = DetectorVersion.objects.filter(site=site)
    latest = versions.order_by("-number").first()
    last_trained = versions.filter(status=JobStatus.SUCCEEDED).aggregate(at=Max("finished_at"))
    summary: dict[str, Any] = {
        "active": None,
        "last_trained_at": last_trained["at"],
        "latest_training": None,
    }
    if active is not None:
        calibration = calibration_summary(active)
        chosen = active.chosen_kind
        description = plain_kind(chosen or active.kind)[1]
        if chosen:
            description = f"Chosen automatically among several kinds: {chosen}. {description}"
        summary["active"] = {
            "id": active.pk,
            "number": active.number,
            "kind": active.kind,
            "chosen_kind": chosen,
            "description": description,
            "trained_at": active.finished_at,
            "guaranteed_false_alarm_rate": calibration["guaranteed_fpr"] if calibration else None,
            "expected_false_alarms_per_100": (
                calibration["expected_false_alarms_per_100"] if calibration else None
            ),
            "calibration_message": calibration["message"] if calibration else "",
        }
    if latest is not None:
        summary["latest_training"] = {
            "id": latest.pk,
            "number": latest.number,
            "kind": latest.kind,
            "status": latest.status,
            "status_text": TRAINING_STATUS_TEXT.get(latest.status, latest.status),
            "progress": latest.progress,
            "error": latest.error[:300],
            "created_at": latest.created_at,
            "finished_at": latest.finished_at,
        }
    return summary


def changes_since(site: Site, *, user: AbstractBaseUser, since: datetime | None) -> dict[str, Any]:
    """What happened on the site after ``since`` (None: a first visit, nothing to compare).

    New photos and flags come from their tables (what is still there); decisions by other
    people and model events come from the audit log, which keeps each one with its author.
    """
    if since is None:
        return {
            "first_visit": True,
            "since": None,
            "photos": None,
            "flags": None,
            "decisions_by_others": [],
            "models": [],
        }
    image, video = Q(media_type=MediaType.IMAGE), Q(media_type=MediaType.VIDEO)
    photos = Asset.objects.filter(site=site, created_at__gt=since).aggregate(
        training=Count("id", filter=image & Q(purpose=Purpose.TRAIN)),
        to_check=Count("id", filter=image & Q(purpose=Purpose.SCORE)),
        videos=Count("id", filter=video),
    )
    flags = (
        Flag.objects.filter(site=site, created_at__gt=since)
        .order_by()
        .aggregate(
            opened=Count("id", filter=Q(status__in=COUNTED)),
            still_pending=Count("id", filter=Q(status=FlagStatus.PENDING)),
        )
    )
    entries = AuditEntry.objects.filter(site=site, created_at__gt=since).order_by()
    decisions: dict[str, dict[str, Any]] = {}
    for row in (
        entries.filter(action__in=DECISION_EVENTS)
        .exclude(actor_id=user.pk)
        .values("actor_name", "action")
        .annotate(n=Count("id"))
    ):
        name = row["actor_name"] or "system"
        person = decisions.setdefault(
            name, {"reviewer": name, "confirmed": 0, "rejected": 0, "undone": 0}
        )
        key = {
            AuditAction.REVIEW_CONFIRM: "confirmed",
            AuditAction.REVIEW_REJECT: "rejected",
            AuditAction.REVIEW_UNDO: "undone",
        }[row["action"]]
        person[key] += row["n"]
    models = [
        {
            "event": entry.action,
            "event_text": entry.get_action_display(),
            "number": (entry.details or {}).get("number"),
            "version": int(entry.object_id) if entry.object_id.isdigit() else None,
            "by": entry.actor_name or None,
            "at": entry.created_at,
        }
        for entry in entries.filter(action__in=MODEL_EVENTS).order_by("created_at", "id")[:20]
    ]
    return {
        "first_visit": False,
        "since": since,
        "photos": photos,
        "flags": flags,
        "decisions_by_others": sorted(
            decisions.values(), key=lambda d: (-(d["confirmed"] + d["rejected"]), d["reviewer"])
        ),
        "models": models,
    }


def site_dashboard(
    site: Site, *, user: AbstractBaseUser, since: datetime | None, now: datetime | None = None
) -> dict[str, Any]:
    """Every number of the dashboard page and API, for ``user`` (whose last visit ended at
    ``since``)."""
    now = now or timezone.now()
    return {
        "site": site.slug,
        "generated_at": now,
        "time_zone": timezone.get_current_timezone_name(),
        "photos": photo_counts(site),
        "flags": flags_over_time(site, now=now),
        "waiting": waiting_times(site, now=now),
        "reviewers": decisions_per_reviewer(site, now=now),
        "model": model_summary(site),
        "since_last_visit": changes_since(site, user=user, since=since),
    }
