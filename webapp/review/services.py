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
from webapp.assets.models import Asset
from webapp.common.errors import Conflict
from webapp.detectors.models import DetectorVersion
from webapp.review.models import DECISION_STATUS, Decision, Flag, FlagStatus, Score


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
    flagged whatever its score. Returns how many are flagged.
    """
    threshold = float(version.threshold if version.threshold is not None else float("inf"))
    asset_ids = [asset.pk for asset in assets]
    labelled = set(
        Flag.objects.filter(score__asset_id__in=asset_ids)
        .exclude(status=FlagStatus.PENDING)
        .values_list("score__asset_id", flat=True)
    )
    Flag.objects.filter(score__asset_id__in=asset_ids, status=FlagStatus.PENDING).exclude(
        score__version=version
    ).delete()
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
            if asset.pk not in labelled:
                Flag.objects.get_or_create(score=score, defaults={"site_id": asset.site_id})
        else:
            Flag.objects.filter(score=score, status=FlagStatus.PENDING).delete()
    return flagged


def _store_heatmap(score: Score, heatmap: np.ndarray, threshold: float) -> None:
    if score.heatmap:
        score.heatmap.delete(save=False)
    png = heatmap_png(heatmap, scale=2 * threshold if np.isfinite(threshold) else 1.0)
    score.heatmap.save(f"{score.asset_id}.png", ContentFile(png), save=False)
    Score.objects.filter(pk=score.pk).update(heatmap=score.heatmap.name)


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
    flag = Flag.objects.select_related("reviewer").get(pk=flag_id)
    if not updated:
        raise Conflict(
            f"Flag {flag_id} was already reviewed ({flag.status}"
            f"{' by ' + flag.reviewer.get_username() if flag.reviewer else ''}); "
            "undo that review first to change it."
        )
    return flag


def undo_review(*, flag_id: int) -> Flag:
    """Put a reviewed flag back in the queue; 409 if it is still pending."""
    updated = (
        Flag.objects.filter(pk=flag_id)
        .exclude(status=FlagStatus.PENDING)
        .update(status=FlagStatus.PENDING, reviewer=None, reviewed_at=None, note="")
    )
    if not updated:
        raise Conflict(f"Flag {flag_id} is pending; there is no review to undo.")
    return Flag.objects.get(pk=flag_id)
