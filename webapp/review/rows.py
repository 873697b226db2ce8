"""A flag as the API sends it and the queue page draws it: one plain dict per flag.

The fields are those documented by :class:`webapp.review.api.FlagOutput` (the OpenAPI
schema), in its order. They are built here directly instead of by that serializer: for a
page of 50 flags DRF's per-field machinery cost more Python time than the page's queries,
and the queue page draws its list from the same rows, so both say the same thing.
Pass flags through :func:`webapp.review.selectors.present` first (the reviewer's view of
known-answer checks and second opinions, ``disputed``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rest_framework.fields import DateTimeField

from webapp.detectors.selectors import normalised
from webapp.review.models import Flag, Score

_DATETIME = DateTimeField()  # DRF's own formatting (ISO 8601, the current time zone)
_BOX_TEXT = ("label", "nearest_class")
_BOX_NUMBERS = ("x", "y", "w", "h", "confidence", "openness")


def _box(box: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {name: str(box[name]) for name in _BOX_TEXT}
    row.update((name, float(box[name])) for name in _BOX_NUMBERS)
    row["unknown"] = bool(box["unknown"])
    row["reason"] = str(box["reason"])
    if "named_as" in box:
        row["named_as"] = str(box["named_as"])
    return row


def _newer(score: Score | None) -> dict[str, Any] | None:
    if score is None:
        return None
    return {
        "version": score.version_id,
        "version_number": score.version.number,
        "score": float(score.score),
        "threshold": float(score.threshold),
        "is_flagged": bool(score.is_flagged),
    }


def flag_row(flag: Flag) -> dict[str, Any]:
    """The flag's fields; for a segment, its peak frame's image and the video's times."""
    score = flag.score
    asset = score.asset
    segment = flag.is_segment
    video = getattr(flag.video, "video", None) if segment else None
    fps = video.fps if video else None
    details = score.details or {}
    return {
        "id": flag.pk,
        "asset": score.asset_id,
        "filename": (
            f"{flag.video.filename} frames {flag.start_frame}-{flag.end_frame}"
            if segment
            else asset.filename
        ),
        "width": asset.width,
        "height": asset.height,
        "image_url": f"/api/assets/{score.asset_id}/image/",
        "display_url": f"/api/assets/{score.asset_id}/display/",
        "thumbnail_url": f"/api/assets/{score.asset_id}/thumbnail/",
        "heatmap_url": f"/api/flags/{flag.pk}/heatmap/" if score.heatmap else None,
        "score": float(score.score),
        "threshold": float(score.threshold),
        "normalised_score": normalised(score.version, score.score),
        "version": score.version_id,
        "version_number": score.version.number,
        "status": flag.status,
        "reviewer": flag.reviewer.get_username() if flag.reviewer else None,
        "reviewed_at": _DATETIME.to_representation(flag.reviewed_at),
        "note": flag.note,
        "created_at": _DATETIME.to_representation(flag.created_at),
        "kind": "segment" if segment else "image",
        "video": flag.video_id,
        "start_frame": flag.start_frame,
        "end_frame": flag.end_frame,
        "peak_frame": asset.frame_index if segment else None,
        "start_s": flag.start_frame / fps if fps and flag.start_frame is not None else None,
        # (just after the segment's last frame)
        "end_s": (flag.end_frame + 1) / fps if fps and flag.end_frame is not None else None,
        "preview_url": (
            f"/api/assets/{flag.video_id}/preview/" if video and video.preview else None
        ),
        "boxes": [_box(box) for box in details.get("boxes", [])],
        "reasons": [str(reason) for reason in details.get("reasons", [])],
        "superseded_by": _newer(flag.superseded_by),
        "disputed": bool(getattr(flag, "disputed", False)),
    }


def flag_rows(flags: Iterable[Flag]) -> list[dict[str, Any]]:
    return [flag_row(flag) for flag in flags]
