"""The ``data`` of each event, as plain JSON-able dicts (ids, names, numbers, ISO times).

Small on purpose: enough for a client to act (or to fetch the rest through the API, e.g.
``GET /api/flags/{id}/``), and nothing a site's viewers could not read there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from webapp.detectors.models import DetectorVersion, ScoringJob
from webapp.review.models import Flag, FlagStatus


def flag_data(flag: Flag) -> dict[str, Any]:
    score = flag.score
    named = flag.video if flag.video_id else score.asset
    return {
        "id": flag.pk,
        "status": flag.status,
        "kind": "segment" if flag.video_id else "image",
        "asset": score.asset_id,
        "filename": named.filename,
        "video": flag.video_id,
        "start_frame": flag.start_frame,
        "end_frame": flag.end_frame,
        "score": score.score,
        "threshold": score.threshold,
        "version": score.version_id,
        "version_number": score.version.number,
        "reasons": (score.details or {}).get("reasons", []),
        "reviewer": flag.reviewer.get_username() if flag.reviewer else None,
        "reviewed_at": flag.reviewed_at,
        "note": flag.note,
        "created_at": flag.created_at,
    }


def flags_data(flag_ids: Iterable[int]) -> dict[str, Any]:
    """``{"flags": [...]}``: the flags one scoring chunk (or one video) opened, in id order."""
    flags = (
        Flag.objects.filter(pk__in=list(flag_ids))
        .select_related("score__asset", "score__version", "video", "reviewer")
        .order_by("id")
    )
    return {"flags": [flag_data(flag) for flag in flags]}


def one_flag_data(flag_id: int) -> dict[str, Any]:
    flag = Flag.objects.select_related("score__asset", "score__version", "video", "reviewer").get(
        pk=flag_id
    )
    return {"flag": flag_data(flag)}


def version_data(version_id: int) -> dict[str, Any]:
    version = DetectorVersion.objects.select_related("site").get(pk=version_id)
    metrics = version.metrics or {}
    return {
        "version": {
            "id": version.pk,
            "number": version.number,
            "kind": version.kind,
            "chosen_kind": version.chosen_kind,
            "status": version.status,
            "threshold": version.threshold,
            "auroc": metrics.get("auroc"),
            "is_active": version.is_active,
            "error": version.error,
            "finished_at": version.finished_at,
        }
    }


def scoring_job_data(job_id: int) -> dict[str, Any]:
    job = ScoringJob.objects.select_related("version").get(pk=job_id)
    return {
        "scoring_job": {
            "id": job.pk,
            "version": job.version_id,
            "version_number": job.version.number,
            "status": job.status,
            "total": job.total,
            "error": job.error,
            "finished_at": job.finished_at,
        },
        "pending_flags": Flag.objects.filter(
            site_id=job.site_id, status=FlagStatus.PENDING
        ).count(),
    }
