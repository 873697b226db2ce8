"""Reads on scores and flags, and the labels that reviews give to assets."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from webapp.assets.models import Asset, Purpose
from webapp.assets.selectors import image_assets
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


def flags_of(site: Site, *, status: str | None = None) -> QuerySet[Flag]:
    """Flags of a site, highest score first, with what a list needs loaded in one query."""
    flags = Flag.objects.filter(site=site).select_related(*_FLAG_RELATIONS)
    if status:
        flags = flags.filter(status=status)
    return flags.order_by("-score__score", "id")


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
