"""The one-class evaluation protocol: train on normal images, test on unseen ones.

Shared by ``python -m detection evaluate`` and ``benchmarks/`` so that every figure in the
README is produced by the same code path as training in the product.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from detection.calibration import f1_optimal_threshold
from detection.metrics import evaluate
from detection.training import fit_and_calibrate, score_in_chunks


@dataclasses.dataclass
class EvaluationResult:
    kind: str
    params: dict[str, Any]
    threshold: float
    metrics: dict[str, Any]  # at the calibrated threshold, on the test set
    best_f1: float  # F1 at the best threshold on the test set: an upper bound, not a claim
    fit_seconds: float
    score_ms_per_image: float
    test_scores: np.ndarray
    test_labels: np.ndarray
    #: One heatmap per test image (normal ones first), when asked for and the kind has them.
    test_heatmaps: list[np.ndarray] | None = None
    #: The fitted detector (e.g. to ask an open-set classifier for its classes).
    detector: Any = None


def evaluate_one_class(
    kind: str,
    params: Mapping[str, Any] | None,
    train_normal: Sequence[np.ndarray],
    test_normal: Sequence[np.ndarray],
    test_anomalous: Sequence[np.ndarray],
    *,
    labels: Sequence[str] | None = None,
    target_fpr: float = 0.01,
    holdout_fraction: float = 0.2,
    calibration: str = "auto",
    seed: int = 0,
    keep_heatmaps: bool = False,
) -> EvaluationResult:
    """Fit and calibrate on ``train_normal`` exactly as the product does, then test.

    ``labels``: one class per training image, for kinds that need them. ``calibration`` as
    in :func:`~detection.training.fit_and_calibrate`; ``metrics`` add ``promised_fpr`` (what
    the threshold guarantees on average) and ``fpr_bound_90`` (what it keeps on 9 sites in
    10) beside the realised ``false_positive_rate`` on the test
    normals. ``keep_heatmaps`` returns the test heatmaps (for pixel-level metrics) shrunk to
    :data:`~detection.training.PIXEL_SIDE` on the long side, as training measures them.
    """
    started = time.perf_counter()
    outcome = fit_and_calibrate(
        kind,
        params,
        train_normal,
        labels=labels,
        target_fpr=target_fpr,
        holdout_fraction=holdout_fraction,
        calibration=calibration,
        seed=seed,
    )
    fit_seconds = time.perf_counter() - started
    test = list(test_normal) + list(test_anomalous)
    labels = np.array([0] * len(test_normal) + [1] * len(test_anomalous))
    started = time.perf_counter()
    scores, heatmaps = score_in_chunks(outcome.detector, test, keep_heatmaps=keep_heatmaps)
    score_ms = 1000 * (time.perf_counter() - started) / max(1, len(test))
    metrics = evaluate(scores, labels, outcome.threshold)
    metrics["promised_fpr"] = outcome.metrics.get("guaranteed_fpr")
    metrics["fpr_bound_90"] = outcome.metrics.get("fpr_bound_90")
    metrics["calibration"] = outcome.metrics.get("calibration")
    best = f1_optimal_threshold(scores[labels == 0], scores[labels == 1])
    return EvaluationResult(
        kind=kind,
        params=outcome.detector.params.to_dict(),
        threshold=outcome.threshold,
        metrics=metrics,
        best_f1=float(evaluate(scores, labels, best)["f1"] or 0.0),
        fit_seconds=fit_seconds,
        score_ms_per_image=score_ms,
        test_scores=scores,
        test_labels=labels,
        test_heatmaps=heatmaps,
        detector=outcome.detector,
    )
