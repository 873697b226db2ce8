"""Reads on detector versions and scoring jobs."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np
from django.db.models import Count, Q, QuerySet

from detection.base import ParamsError
from detection.calibration import fpr_bound, normalised_score
from detection.registry import available_kinds, detector_class
from webapp.detectors.models import DetectorVersion, JobStatus, ScoringJob
from webapp.sites.models import Site


def versions_of(site: Site) -> QuerySet[DetectorVersion]:
    return DetectorVersion.objects.filter(site=site).select_related("site").order_by("-number")


def version_with_site(version_id: int) -> DetectorVersion | None:
    return (
        DetectorVersion.objects.select_related("site", "created_by").filter(pk=version_id).first()
    )


def version_of_site(site: Site, number: int) -> DetectorVersion | None:
    """A site's version by its number (the "model 3" of its pages)."""
    return (
        DetectorVersion.objects.select_related("site", "created_by")
        .filter(site=site, number=number)
        .first()
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
    """The detector kinds this installation offers, with defaults and a one-line summary.

    ``schema`` is the JSON Schema of the kind's parameters: each field's type, range or
    choices, default and a plain-language ``description`` (the training form is built from
    it)."""
    kinds = []
    for kind in available_kinds():
        cls = detector_class(kind)
        kinds.append(
            {
                "kind": kind,
                "title": cls.title or kind,
                "summary": cls.summary,
                "defaults": cls.params_class().to_dict(),
                "schema": cls.params_class.json_schema(),
                "uses_gpu": cls.uses_gpu,
                "needs_labels": cls.needs_labels,
                "needs_boxes": cls.needs_boxes,
                "description": (cls.__doc__ or "").strip().split("\n")[0],
            }
        )
    return kinds


def plain_kind(kind: str) -> tuple[str, str]:
    """A kind's title and one-sentence summary in plain words (see ``Detector.summary``);
    the bare name and nothing for a kind since removed from this installation."""
    try:
        cls = detector_class(kind)
    except ParamsError:
        return kind, ""
    return cls.title or kind, cls.summary


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


#: Sorted held-out scores of the versions a process showed flags of lately. A version's
#: evaluation is written once, when its training succeeds (reviews feed the *next*
#: version; training again sets ``finished_at`` anew), so the key (id, created, finished)
#: names one evaluation for good; decoding it on every page of flags was a sixth of the
#: request.
_HELD_OUT: OrderedDict[tuple[int, Any, Any], np.ndarray] = OrderedDict()
_HELD_OUT_VERSIONS = 64
_HELD_OUT_LOCK = threading.Lock()


def held_out_scores(version: DetectorVersion) -> np.ndarray:
    """The version's held-out normal scores, sorted (empty before it is trained)."""
    key = (version.pk, version.created_at, version.finished_at)
    with _HELD_OUT_LOCK:
        cached = _HELD_OUT.get(key)
        if cached is not None:
            _HELD_OUT.move_to_end(key)
            return cached
    if "evaluation" in version.__dict__:
        normal, _ = evaluation_scores(version)
    else:  # only that key: not the anomalies' scores too
        rows = (
            DetectorVersion.objects.filter(pk=version.pk)
            .values_list("evaluation__holdout", flat=True)
            .first()
        )
        normal = [score for _, score in rows or []]
    scores = np.sort(np.asarray(normal, dtype=np.float64))
    with _HELD_OUT_LOCK:
        _HELD_OUT[key] = scores
        while len(_HELD_OUT) > _HELD_OUT_VERSIONS:
            _HELD_OUT.popitem(last=False)
    return scores


def normalised(version: DetectorVersion, score: float) -> float | None:
    """Share (0-1) of the version's held-out normal images that scored lower than ``score``."""
    return normalised_score(score, held_out_scores(version))


def calibration_summary(version: DetectorVersion) -> dict[str, Any] | None:
    """What the version's threshold promises a site, in numbers and in one plain sentence.

    None for versions trained before the promise was recorded, or not trained yet.
    """
    metrics = version.metrics or {}
    promised = metrics.get("guaranteed_fpr")
    if promised is None:
        return None
    n = int(metrics.get("n_calibration") or 0)
    per_100 = 100 * float(promised)
    method = metrics.get("calibration") or "holdout"
    checked = "each checked by a model that never saw it" if method == "crossfit" else "held out"
    target = metrics.get("target_fpr")
    kept = bool(metrics.get("target_fpr_kept"))
    more = int(metrics.get("more_normals_needed") or 0)
    # what the threshold keeps on 9 sites in 10, from n and the promise's rank alone (so
    # versions trained before the bound was stored get it too)
    bound = fpr_bound(n, round((n + 1) * (1 - float(promised))))
    sentence = (
        f"At most {per_100:.1f} false alarms are expected per 100 normal photos "
        f"(calibrated on {n} normal photos, {checked}); with 90 % confidence this site "
        f"gets at most {100 * float(bound):.1f} per 100."
    )
    if metrics.get("threshold_method") == "fpr" and target is not None and not kept:
        sentence += (
            f" That is more than the {100 * float(target):g} per 100 asked for: this site has "
            f"too few normal photos to promise it. Add {more} more normal photos and train again."
        )
    recall = None
    total = int(metrics.get("n_anomalous") or 0)
    if total and metrics.get("recall_found") is not None:
        recall = {
            "found": int(metrics["recall_found"]),
            "total": total,
            "low": float(metrics["recall_low"]),
            "high": float(metrics["recall_high"]),
        }
        sentence += (
            f" It finds {recall['found']} of the {total} confirmed anomalies: between "
            f"{100 * recall['low']:.0f} % and {100 * recall['high']:.0f} % of such anomalies "
            "(95 % confidence)."
        )
    return {
        "method": method,
        "n_calibration": n,
        "target_fpr": target,
        "guaranteed_fpr": float(promised),
        "expected_false_alarms_per_100": round(per_100, 2),
        "fpr_bound_90": float(bound),
        "target_fpr_kept": kept,
        "more_normals_needed": more,
        "recall": recall,
        "message": sentence,
    }
