"""Reads on detector versions and scoring jobs."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db.models import Count, Q, QuerySet

from detection.calibration import normalised_score
from detection.registry import available_kinds, detector_class
from webapp.detectors.models import DetectorVersion, JobStatus, ScoringJob
from webapp.sites.models import Site


def versions_of(site: Site) -> QuerySet[DetectorVersion]:
    return DetectorVersion.objects.filter(site=site).select_related("site").order_by("-number")


def version_with_site(version_id: int) -> DetectorVersion | None:
    return (
        DetectorVersion.objects.select_related("site", "created_by").filter(pk=version_id).first()
    )


def scoring_job_with_progress(job_id: int) -> ScoringJob | None:
    return (
        ScoringJob.objects.select_related("site", "version")
        .annotate(
            n_chunks=Count("chunks"),
            n_chunks_done=Count("chunks", filter=Q(chunks__status=JobStatus.SUCCEEDED)),
        )
        .filter(pk=job_id)
        .first()
    )


def scoring_jobs_of(site: Site) -> QuerySet[ScoringJob]:
    return (
        ScoringJob.objects.filter(site=site)
        .select_related("version")
        .annotate(
            n_chunks=Count("chunks"),
            n_chunks_done=Count("chunks", filter=Q(chunks__status=JobStatus.SUCCEEDED)),
        )
        .order_by("-id")
    )


def detector_kinds() -> list[dict[str, Any]]:
    """The detector kinds this installation offers, with defaults and a one-line summary."""
    kinds = []
    for kind in available_kinds():
        cls = detector_class(kind)
        kinds.append(
            {
                "kind": kind,
                "defaults": cls.params_class().to_dict(),
                "uses_gpu": cls.uses_gpu,
                "needs_labels": cls.needs_labels,
                "needs_boxes": cls.needs_boxes,
                "description": (cls.__doc__ or "").strip().split("\n")[0],
            }
        )
    return kinds


def evaluation_scores(version: DetectorVersion) -> tuple[list[float], list[float]]:
    """Scores of the version's held-out normal images and of the confirmed anomalies."""
    evaluation = version.evaluation or {}
    return (
        [score for _, score in evaluation.get("holdout", [])],
        [score for _, score in evaluation.get("anomalies", [])],
    )


def extreme_examples(
    version: DetectorVersion, count: int = 8
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """The held-out normals it found most unusual, and the anomalies it found least unusual.

    These are where a threshold hurts: false alarms to come, and defects it nearly missed.
    """
    evaluation = version.evaluation or {}
    normals = sorted(evaluation.get("holdout", []), key=lambda row: -row[1])[:count]
    anomalies = sorted(evaluation.get("anomalies", []), key=lambda row: row[1])[:count]
    return [tuple(r) for r in normals], [tuple(r) for r in anomalies]  # type: ignore[misc]


class Normaliser:
    """score -> share of its version's held-out normal images that scored lower.

    Keeps each version's sorted held-out scores, so a page of flags sorts them once.
    """

    def __init__(self) -> None:
        self._sorted: dict[int, np.ndarray] = {}

    def __call__(self, version: DetectorVersion, score: float) -> float | None:
        if version.pk not in self._sorted:
            normal, _ = evaluation_scores(version)
            self._sorted[version.pk] = np.sort(np.asarray(normal, dtype=np.float64))
        return normalised_score(score, self._sorted[version.pk])
