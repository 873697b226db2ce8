"""Choosing the score above which an image is flagged, from scores of held-out images.

Convention everywhere: an image is flagged when ``score > threshold``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detection.base import DetectorError


def threshold_for_fpr(normal_scores: Sequence[float] | np.ndarray, target_fpr: float) -> float:
    """The lowest threshold that flags at most ``target_fpr`` of these normal scores.

    Reviewers' time is the scarce resource, so the default calibration bounds the share of
    normal images that reach the queue. With few held-out images the bound is coarse: with
    n of them the achievable false-positive rates are multiples of 1/n.
    """
    scores = np.sort(np.asarray(normal_scores, dtype=np.float64))
    if scores.size == 0:
        raise DetectorError("cannot calibrate a threshold without held-out normal scores")
    if not 0 <= target_fpr < 1:
        raise DetectorError("target_fpr must be in [0, 1)")
    allowed = int(np.floor(target_fpr * scores.size + 1e-9))  # normal images we may flag
    if allowed == 0:
        return float(scores[-1])
    # flag the `allowed` highest: threshold between them and the next lower distinct score
    candidate = scores[scores.size - allowed - 1]
    return float(candidate)


def f1_optimal_threshold(
    normal_scores: Sequence[float] | np.ndarray, anomaly_scores: Sequence[float] | np.ndarray
) -> float:
    """The threshold that maximises F1 of "anomalous" on these labelled scores.

    Only meaningful once reviewers have confirmed some anomalies; ties keep the higher
    threshold (fewer flags).
    """
    normal = np.asarray(normal_scores, dtype=np.float64)
    anomalous = np.asarray(anomaly_scores, dtype=np.float64)
    if normal.size == 0 or anomalous.size == 0:
        raise DetectorError("F1 calibration needs both normal and confirmed anomalous scores")
    scores = np.concatenate([normal, anomalous])
    labels = np.concatenate([np.zeros(normal.size), np.ones(anomalous.size)])
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    true_pos = np.cumsum(labels)
    flagged = np.arange(1, scores.size + 1)
    f1 = 2 * true_pos / (flagged + anomalous.size)
    # a cut is only possible where the next score is strictly lower
    distinct = np.append(scores[:-1] > scores[1:], True)
    f1 = np.where(distinct, f1, -1.0)
    best = int(np.argmax(f1))
    if best == scores.size - 1:
        return float(scores[-1] - 1e-9 * max(1.0, abs(scores[-1])))
    return float((scores[best] + scores[best + 1]) / 2)


def normalised_score(score: float, sorted_normal_scores: np.ndarray) -> float | None:
    """The share of held-out normal images that scored lower: 0 to 1, same for every kind.

    Raw scores mean different things per kind (a distance, an error, a log-likelihood);
    "more unusual than 99.4 % of the normal images it was checked on" means the same thing
    everywhere. None without held-out scores.
    """
    if sorted_normal_scores.size == 0:
        return None
    below = np.searchsorted(sorted_normal_scores, score, side="left")
    return float(below / sorted_normal_scores.size)
