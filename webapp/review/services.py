"""Writes on scores and flags: recording scores, reviewing, undoing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from detection.report import heatmap_png
from detection.segments import find_segments
from webapp.assets.models import Asset, MediaType
from webapp.common.errors import Conflict
from webapp.detectors.models import DetectorVersion
from webapp.review.models import DECISION_STATUS, Decision, Flag, FlagStatus, Score
from webapp.sites import audit
from webapp.sites.models import AuditAction


@transaction.atomic
def record_scores(
    *,
    version: DetectorVersion,
    assets: Sequence[Asset],
    scores: Sequence[float],
    heatmaps: Sequence[np.ndarray] | None = None,
    details: Sequence[dict] | None = None,
) -> int:
    """Upsert each asset's score by ``version`` and keep the review queue in step.

    Rules: a score above the version's threshold opens a pending flag, unless a reviewer
    has already labelled the asset (its label stands); pending flags that other versions
    raised for the same asset are superseded (removed, the scores stay); a pending flag
    whose score no longer clears the threshold is removed. Heatmaps, when the kind makes
    them, are kept as overlay images for flagged assets only (reviewers look at those).
    ``details`` (object kinds, see :func:`webapp.objects.services.describe_detections`) are
    kept on each score; an image whose details give ``reasons`` (site rules broken) is
    flagged whatever its score. Video frames get scores only: their flags are event
    segments, opened by :func:`flag_segments` once every frame of the video is scored.
    Returns how many are above the threshold (or break a rule).
    """
    threshold = float(version.threshold if version.threshold is not None else float("inf"))
    asset_ids = [asset.pk for asset in assets]
    labelled = set(
        Flag.objects.filter(score__asset_id__in=asset_ids, video__isnull=True)
        .exclude(status=FlagStatus.PENDING)
        .values_list("score__asset_id", flat=True)
    )
    Flag.objects.filter(
        score__asset_id__in=asset_ids, status=FlagStatus.PENDING, video__isnull=True
    ).exclude(score__version=version).delete()
    flagged = 0
    for index, (asset, value) in enumerate(zip(assets, scores, strict=True)):
        detail = details[index] if details is not None else {}
        is_flagged = float(value) > threshold or bool(detail.get("reasons"))
        score, _ = Score.objects.update_or_create(
            asset=asset,
            version=version,
            defaults={
                "score": float(value),
                "threshold": threshold,
                "is_flagged": is_flagged,
                "details": detail,
            },
        )
        if is_flagged and heatmaps is not None:
            _store_heatmap(score, heatmaps[index], threshold)
        if is_flagged:
            flagged += 1
        if asset.media_type == MediaType.FRAME:
            continue
        if is_flagged:
            if asset.pk not in labelled:
                Flag.objects.get_or_create(score=score, defaults={"site_id": asset.site_id})
        else:
            Flag.objects.filter(score=score, status=FlagStatus.PENDING).delete()
    return flagged


@transaction.atomic
def flag_segments(*, version: DetectorVersion, video: Asset) -> list[Flag]:
    """Open one pending flag per event segment of the video's frame scores by ``version``.

    Segments are runs of kept frames above the version's threshold (``find_segments``
    with the site's minimum length and bridged gap); the flag hangs on the peak frame's
    score and names the first and last frame indices. Rules, as for images: pending
    segment flags of the video (any version) are replaced; a reviewed segment stands, and
    no new flag is opened on frames it covers. Returns the flags now pending.
    """
    video = Asset.objects.select_for_update().select_related("site").get(pk=video.pk)
    site = video.site
    threshold = float(version.threshold if version.threshold is not None else float("inf"))
    scores = list(
        Score.objects.filter(version=version, asset__source_video=video)
        .select_related("asset")
        .order_by("asset__frame_index")
    )
    segments = find_segments(
        [score.score for score in scores],
        threshold,
        min_length=max(1, site.segment_min_length),
        max_gap=site.segment_max_gap,
    )
    Flag.objects.filter(video=video, status=FlagStatus.PENDING).delete()
    reviewed = list(
        Flag.objects.filter(video=video)
        .exclude(status=FlagStatus.PENDING)
        .values_list("start_frame", "end_frame")
    )
    opened = []
    for segment in segments:
        start = scores[segment.start].asset.frame_index
        end = scores[segment.end].asset.frame_index
        if any(start <= done_end and done_start <= end for done_start, done_end in reviewed):
            continue
        flag, _ = Flag.objects.get_or_create(
            score=scores[segment.peak],
            defaults={"site": site, "video": video, "start_frame": start, "end_frame": end},
        )
        opened.append(flag)
    return opened


def _store_heatmap(score: Score, heatmap: np.ndarray, threshold: float) -> None:
    if score.heatmap:
        score.heatmap.delete(save=False)
    png = heatmap_png(heatmap, scale=2 * threshold if np.isfinite(threshold) else 1.0)
    score.heatmap.save(f"{score.asset_id}.png", ContentFile(png), save=False)
    Score.objects.filter(pk=score.pk).update(heatmap=score.heatmap.name)


def _audit_review(flag: Flag, actor: AbstractBaseUser | None, action: str, verb: str) -> None:
    asset = flag.video if flag.video_id else flag.score.asset
    audit.record(
        site=flag.site,
        actor=actor,
        action=action,
        object_type="flag",
        object_id=flag.pk,
        summary=f"{verb} flag {flag.pk} on {asset.filename} (asset {asset.pk})",
        details={"asset": asset.pk, "filename": asset.filename, "note": flag.note},
    )


@transaction.atomic
def review_flag(*, flag_id: int, reviewer: AbstractBaseUser, decision: str, note: str = "") -> Flag:
    """Confirm (anomaly) or reject (normal) a pending flag; 409 if it was already reviewed."""
    if decision not in Decision.values:
        raise ValidationError(
            {"decision": f"decision must be one of {', '.join(Decision.values)}."}
        )
    updated = Flag.objects.filter(pk=flag_id, status=FlagStatus.PENDING).update(
        status=DECISION_STATUS[Decision(decision)],
        reviewer=reviewer,
        reviewed_at=timezone.now(),
        note=note.strip(),
    )
    flag = Flag.objects.select_related("reviewer", "site", "score__asset", "video").get(pk=flag_id)
    if not updated:
        raise Conflict(
            f"Flag {flag_id} was already reviewed ({flag.status}"
            f"{' by ' + flag.reviewer.get_username() if flag.reviewer else ''}); "
            "undo that review first to change it."
        )
    confirm = decision == Decision.CONFIRM
    action = AuditAction.REVIEW_CONFIRM if confirm else AuditAction.REVIEW_REJECT
    _audit_review(flag, reviewer, action, "confirmed" if confirm else "rejected")
    return flag


@transaction.atomic
def undo_review(*, flag_id: int, user: AbstractBaseUser | None = None) -> Flag:
    """Put a reviewed flag back in the queue; 409 if it is still pending."""
    updated = (
        Flag.objects.filter(pk=flag_id)
        .exclude(status=FlagStatus.PENDING)
        .update(status=FlagStatus.PENDING, reviewer=None, reviewed_at=None, note="")
    )
    if not updated:
        raise Conflict(f"Flag {flag_id} is pending; there is no review to undo.")
    flag = Flag.objects.select_related("site", "score__asset", "video").get(pk=flag_id)
    _audit_review(flag, user, AuditAction.REVIEW_UNDO, "undid the review of")
    return flag
