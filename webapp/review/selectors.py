"""Reads on scores and flags, and the labels that reviews give to assets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery

from webapp.assets.models import Asset, Purpose
from webapp.assets.selectors import image_assets
from webapp.common.jobs import JobStatus
from webapp.detectors.models import ScoringChunk, ScoringJob
from webapp.review.models import REVIEWED, Flag, FlagStatus
from webapp.sites.models import Site


def _latest_decision() -> Subquery:
    """The status of the asset's most recently reviewed flag (its current label).

    A frame is labelled by the event segments that cover it, not only by a flag on itself:
    rejecting a segment makes all its frames normal, confirming it makes them anomalies.
    """
    own = Q(score__asset=OuterRef("pk"), video__isnull=True)
    covering = Q(
        video=OuterRef("source_video"),
        start_frame__lte=OuterRef("frame_index"),
        end_frame__gte=OuterRef("frame_index"),
    )
    return Subquery(
        Flag.objects.filter(own | covering, status__in=REVIEWED)
        .order_by("-reviewed_at", "-id")
        .values("status")[:1]
    )


def normal_training_assets(site: Site) -> QuerySet[Asset]:
    """Known-normal assets: uploaded for training, or flagged and then rejected by a reviewer.

    Assets whose latest review confirmed an anomaly never count as normal.
    """
    return (
        image_assets(site)
        .annotate(decision=_latest_decision())
        # (an exclude() on the nullable annotation would also drop never-reviewed rows)
        .filter(Q(purpose=Purpose.TRAIN, decision__isnull=True) | Q(decision=FlagStatus.REJECTED))
        .order_by("id")
    )


def confirmed_anomalies(site: Site) -> QuerySet[Asset]:
    """Assets a reviewer confirmed as anomalous: used to evaluate and calibrate versions."""
    return (
        image_assets(site)
        .annotate(decision=_latest_decision())
        .filter(decision=FlagStatus.CONFIRMED)
        .order_by("id")
    )


_FLAG_RELATIONS = (
    "score",
    "score__asset",
    "score__version",
    "reviewer",
    "video",
    "video__video",
    "superseded_by",
    "superseded_by__version",
)


def flags_of(
    site: Site, *, status: str | None = None, since_id: int | None = None
) -> QuerySet[Flag]:
    """Flags of a site, highest score first, with what a list needs loaded in one query.

    ``since_id``: only flags opened after that one (ids only grow), what a page drawn
    when it was the latest has not seen yet.
    """
    flags = Flag.objects.filter(site=site).select_related(*_FLAG_RELATIONS)
    if status:
        flags = flags.filter(status=status)
    if since_id is not None:
        flags = flags.filter(pk__gt=since_id)
    return flags.order_by("-score__score", "id")


@dataclass(frozen=True)
class ScoringJobProgress:
    id: int
    status: str
    total: int
    done: int


@dataclass(frozen=True)
class QueueStatus:
    """What the review queue shows while new uploads are scored (see :func:`queue_status`)."""

    pending: int
    latest_flag: int | None
    jobs: list[ScoringJobProgress] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return bool(self.jobs)

    @property
    def total(self) -> int:
        return sum(job.total for job in self.jobs)

    @property
    def done(self) -> int:
        return sum(job.done for job in self.jobs)

    @property
    def started(self) -> bool:
        return any(job.status == JobStatus.RUNNING for job in self.jobs)


def queue_status(site: Site) -> QueueStatus:
    """Pending flags, the latest flag id, and the site's unfinished scoring jobs.

    An image counts as done when its chunk has succeeded: a chunk's scores and flags are
    recorded in one transaction, so the flags of every image counted done are there to
    fetch. Three queries at most, whatever the number of jobs and chunks.
    """
    jobs = list(
        ScoringJob.objects.filter(site=site, status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
        .order_by("id")
        .values_list("id", "status", "total")
    )
    # (read after the jobs: a job seen finished has all its flags in what follows)
    flags = Flag.objects.filter(site=site).aggregate(
        pending=Count("id", filter=Q(status=FlagStatus.PENDING)), latest=Max("id")
    )
    done: dict[int, int] = {}
    chunks = ScoringChunk.objects.filter(
        job_id__in=[job_id for job_id, _, _ in jobs], status=JobStatus.SUCCEEDED
    ).values_list("job_id", "asset_ids")
    for job_id, asset_ids in chunks:
        done[job_id] = done.get(job_id, 0) + len(asset_ids)
    return QueueStatus(
        pending=flags["pending"],
        latest_flag=flags["latest"],
        jobs=[
            ScoringJobProgress(job_id, status, total, min(total, done.get(job_id, 0)))
            for job_id, status, total in jobs
        ],
    )


def flag_with_site(flag_id: int) -> Flag | None:
    return Flag.objects.select_related("site", *_FLAG_RELATIONS).filter(pk=flag_id).first()


def pending_counts(site_ids: Iterable[int]) -> dict[int, int]:
    """Number of pending flags per site id (sites without any are absent)."""
    rows = (
        Flag.objects.filter(site_id__in=list(site_ids), status=FlagStatus.PENDING)
        .values("site_id")
        .annotate(n=Count("id"))
    )
    return {row["site_id"]: row["n"] for row in rows}


def segment_flags_of(video: Asset) -> QuerySet[Flag]:
    """The event-segment flags of a video, in time order."""
    return (
        Flag.objects.filter(video=video)
        .select_related("score", "score__asset", "score__version", "reviewer")
        .order_by("start_frame", "id")
    )
