"""Choosing the score above which an image is flagged, from scores of held-out images.

Convention everywhere: an image is flagged when ``score > threshold``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


# -- conformal calibration: a false-positive rate the site can rely on --------------------


def conformal_rank(n_normal: int, target_fpr: float) -> int | None:
    """Which order statistic of ``n_normal`` calibration scores keeps ``target_fpr``.

    For scores of normal images that are exchangeable with a new normal image's (the same
    site, a model that saw none of them), the new image scores above the k-th smallest
    calibration score with probability (n + 1 - k) / (n + 1) (split conformal prediction;
    Vovk et al. 2005, Angelopoulos & Bates 2021). The smallest k with that <= target is
    ceil((n + 1)(1 - target)). None when even k = n (the maximum) cannot promise it, i.e.
    when n < 1 / target - 1.
    """
    if n_normal < 1:
        return None
    if not 0 < target_fpr < 1:
        raise DetectorError("target_fpr must be in (0, 1)")
    rank = int(np.ceil((n_normal + 1) * (1 - target_fpr) - 1e-9))
    return rank if rank <= n_normal else None


def guaranteed_fpr(n_normal: int, rank: int) -> float:
    """The false-positive rate promised by thresholding at the ``rank``-th smallest score.

    A marginal promise: averaged over calibration sets, the share of new normal images
    flagged is at most this (exactly this for continuous scores without ties).
    """
    return (n_normal + 1 - rank) / (n_normal + 1)


#: How sure the per-site bound (:func:`fpr_bound`) is: it holds for 9 sites in 10.
BOUND_CONFIDENCE = 0.9


def fpr_bound(n_normal: int, rank: int, confidence: float = BOUND_CONFIDENCE) -> float:
    """A false-positive rate that *this* site's threshold keeps with ``confidence``.

    The promise of :func:`guaranteed_fpr` is an average over calibration sets; one site's
    draw of a few dozen normals can land far above it (the flowers benchmark's 24 held-out
    photos promised 4 % and realised 20 %). Conditional on the calibration set, the share of
    new normal images above the ``rank``-th of ``n_normal`` exchangeable continuous scores
    is Beta(n + 1 - rank, rank) distributed (Vovk 2012, "Conditional validity of inductive
    conformal predictors"); its ``confidence`` quantile is the rate that stays unexceeded on
    that share of sites. 1.0 when the threshold is below every calibration score.
    """
    from scipy.stats import beta

    if n_normal < 1 or rank < 1:
        return 1.0
    if not 0 < confidence < 1:
        raise DetectorError("confidence must be in (0, 1)")
    rank = min(rank, n_normal)
    return float(beta.ppf(confidence, n_normal + 1 - rank, rank))


def normals_needed(target_fpr: float) -> int:
    """The fewest calibration normals with which ``target_fpr`` can be promised at all."""
    if not 0 < target_fpr < 1:
        raise DetectorError("target_fpr must be in (0, 1)")
    return int(np.ceil(1 / target_fpr - 1 - 1e-9))


def conformal_threshold(
    normal_scores: Sequence[float] | np.ndarray, target_fpr: float
) -> tuple[float, float, bool]:
    """(threshold, guaranteed false-positive rate, whether ``target_fpr`` could be kept).

    When the site has too few normals for the target, the threshold is the highest score
    (the strictest possible) and the rate it does guarantee, 1 / (n + 1), is returned with
    ``False``, so the caller can say so plainly instead of pretending.
    """
    scores = np.sort(np.asarray(normal_scores, dtype=np.float64))
    if scores.size == 0:
        raise DetectorError("cannot calibrate a threshold without normal scores")
    rank = conformal_rank(scores.size, target_fpr)
    kept = rank is not None
    rank = rank if rank is not None else scores.size
    return float(scores[rank - 1]), guaranteed_fpr(scores.size, rank), kept


def promised_fpr(normal_scores: Sequence[float] | np.ndarray, threshold: float) -> float:
    """The false-positive rate that any ``threshold`` guarantees on these calibration scores.

    With r of the n scores at or below the threshold, it is at least the r-th order
    statistic, so a new exchangeable normal image exceeds it with probability at most
    (n + 1 - r) / (n + 1). This is how an F1-chosen or fixed threshold gets a promise too.
    """
    scores = np.asarray(normal_scores, dtype=np.float64)
    if scores.size == 0:
        raise DetectorError("cannot promise a false-positive rate without normal scores")
    at_or_below = int(np.count_nonzero(scores <= threshold))
    return guaranteed_fpr(scores.size, at_or_below)


def recall_interval(found: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson interval of a recall of ``found`` / ``total`` confirmed anomalies.

    Exact (never narrower than the truth), which matters with the handful of anomalies a
    new site has: 4 of 5 found is anything from 28 % to 99 %.
    """
    from scipy.stats import beta

    if total < 1 or not 0 <= found <= total:
        raise DetectorError("a recall interval needs 0 <= found <= total and total >= 1")
    alpha = 1 - confidence
    low = 0.0 if found == 0 else float(beta.ppf(alpha / 2, found, total - found + 1))
    high = 1.0 if found == total else float(beta.ppf(1 - alpha / 2, found + 1, total - found))
    return low, high


def calibration_report(
    normal_scores: Sequence[float] | np.ndarray,
    anomaly_scores: Sequence[float] | np.ndarray,
    threshold: float,
    target_fpr: float,
    *,
    normals_per_calibration_score: float = 1.0,
) -> dict[str, Any]:
    """What the threshold promises, in the terms a site admin decides with.

    ``normals_per_calibration_score``: how many of the site's normal images stand behind one
    calibration score (1 with cross-fitting, 1 / holdout fraction with a held-out split), so
    "add N more normal images" counts what the admin uploads.
    """
    normal = np.asarray(normal_scores, dtype=np.float64)
    anomalous = np.asarray(anomaly_scores, dtype=np.float64)
    promised = promised_fpr(normal, threshold)
    bound = fpr_bound(normal.size, int(np.count_nonzero(normal <= threshold)))
    needed = int(np.ceil(normals_needed(target_fpr) * normals_per_calibration_score - 1e-9))
    have = round(normal.size * normals_per_calibration_score)
    report: dict[str, Any] = {
        "n_calibration": int(normal.size),
        "guaranteed_fpr": promised,
        "expected_false_alarms_per_100": round(100 * promised, 2),
        "fpr_bound_90": bound,
        "target_fpr_kept": bool(promised <= target_fpr + 1e-12),
        "normals_needed_for_target": needed,
        "more_normals_needed": max(0, needed - have),
    }
    if anomalous.size:
        found = int(np.count_nonzero(anomalous > threshold))
        low, high = recall_interval(found, int(anomalous.size))
        report.update(recall_found=found, recall_low=low, recall_high=high)
    return report
