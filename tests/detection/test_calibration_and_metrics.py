"""Threshold calibration and evaluation metrics on hand-checked numbers."""

from __future__ import annotations

import numpy as np
import pytest

from detection.base import DetectorError
from detection.calibration import f1_optimal_threshold, threshold_for_fpr
from detection.metrics import evaluate, pixel_auroc


def test_fpr_threshold_flags_at_most_the_target_share_of_normals() -> None:
    normal = np.arange(100, dtype=float)  # 0..99
    threshold = threshold_for_fpr(normal, 0.05)
    assert np.sum(normal > threshold) == 5
    assert threshold_for_fpr(normal, 0.0) == 99.0
    assert np.sum(normal > threshold_for_fpr(normal, 0.011)) == 1


def test_fpr_threshold_with_few_images_flags_none_of_them() -> None:
    assert threshold_for_fpr([0.2, 0.9, 0.4], 0.01) == 0.9


def test_fpr_threshold_needs_scores() -> None:
    with pytest.raises(DetectorError):
        threshold_for_fpr([], 0.01)


def test_f1_threshold_separates_separable_scores() -> None:
    threshold = f1_optimal_threshold([0.1, 0.2, 0.3], [0.8, 0.9])
    assert 0.3 < threshold < 0.8
    assert evaluate([0.1, 0.2, 0.3, 0.8, 0.9], [0, 0, 0, 1, 1], threshold)["f1"] == 1.0


def test_f1_threshold_never_cuts_between_tied_scores() -> None:
    threshold = f1_optimal_threshold([0.5, 0.5, 0.1], [0.5, 0.9])
    assert threshold not in (0.5,)
    flagged = np.array([0.5, 0.5, 0.1, 0.5, 0.9]) > threshold
    assert flagged[0] == flagged[1] == flagged[3]


def test_evaluate_counts_and_rates() -> None:
    result = evaluate([0.1, 0.6, 0.7, 0.2], [0, 0, 1, 1], threshold=0.5)
    assert (result["tp"], result["fp"], result["tn"], result["fn"]) == (1, 1, 1, 1)
    assert result["precision"] == result["recall"] == result["f1"] == 0.5
    assert result["auroc"] == 0.75  # 3 of 4 (anomaly, normal) pairs ordered
    assert result["false_positive_rate"] == 0.5


def test_evaluate_with_one_class_has_no_auroc() -> None:
    result = evaluate([0.1, 0.2], [0, 0], threshold=0.15)
    assert result["auroc"] is None and result["average_precision"] is None
    assert result["false_positive_rate"] == 0.5


def test_pixel_auroc() -> None:
    heat = np.array([[0.1, 0.9], [0.2, 0.8]])
    mask = np.array([[0, 255], [0, 255]])
    assert pixel_auroc([heat], [mask]) == 1.0
    assert pixel_auroc([heat], [np.zeros((2, 2))]) is None


def test_normalised_score_is_the_share_of_normal_scores_below() -> None:
    from detection.calibration import normalised_score

    normal = np.array([0.1, 0.2, 0.3, 0.4])
    assert normalised_score(0.05, normal) == 0.0
    assert normalised_score(0.3, normal) == 0.5  # ties do not count as below
    assert normalised_score(9.0, normal) == 1.0
    assert normalised_score(0.3, np.array([])) is None


def test_conformal_rank_and_what_it_promises() -> None:
    from detection.calibration import conformal_rank, guaranteed_fpr, normals_needed

    assert conformal_rank(99, 0.01) == 99  # 100 slots: the maximum promises exactly 1 %
    assert guaranteed_fpr(99, 99) == pytest.approx(0.01)
    assert conformal_rank(98, 0.01) is None  # 1/99 > 1 %: no threshold can promise it
    assert conformal_rank(199, 0.05) == 190
    assert guaranteed_fpr(199, 190) == pytest.approx(0.05)
    assert normals_needed(0.01) == 99 and normals_needed(0.05) == 19
    assert conformal_rank(0, 0.05) is None


def test_conformal_threshold_keeps_its_promise_over_many_draws() -> None:
    """Realised false-positive rate of fresh normals (exact, from the score distribution's
    survival function), averaged over many calibration sets, is the promised rate."""
    from scipy.stats import gamma

    from detection.calibration import conformal_threshold

    rng = np.random.default_rng(0)
    for n, target in [(39, 0.05), (150, 0.02), (300, 0.01)]:
        realised, promised = [], []
        for _ in range(3000):
            threshold, promise, kept = conformal_threshold(rng.gamma(2.0, size=n), target)
            assert kept and promise <= target + 1e-12
            realised.append(gamma.sf(threshold, 2.0))
            promised.append(promise)
        error = 4 * np.std(realised) / np.sqrt(len(realised))
        assert abs(np.mean(realised) - promised[0]) < error, (n, target, np.mean(realised))


def test_the_per_site_bound_holds_on_nine_sites_in_ten() -> None:
    """Each draw is one site's calibration set; the bound must cover its realised rate in
    90 % of draws (not only on average), and sit above the average promise."""
    from scipy.stats import gamma

    from detection.calibration import conformal_threshold, fpr_bound, guaranteed_fpr

    assert fpr_bound(24, 24) == pytest.approx(1 - 0.1 ** (1 / 24))  # Beta(1, 24): 9.1 %
    assert fpr_bound(24, 24) > guaranteed_fpr(24, 24) == pytest.approx(0.04)
    assert fpr_bound(0, 0) == 1.0 and fpr_bound(10, 0) == 1.0
    assert fpr_bound(999, 990) < fpr_bound(99, 99)  # more normals, tighter bound
    rng = np.random.default_rng(1)
    for n, target in [(24, 0.01), (150, 0.02)]:
        covered = []
        for _ in range(3000):
            scores = rng.gamma(2.0, size=n)
            threshold, _, _ = conformal_threshold(scores, target)
            rank = int(np.count_nonzero(scores <= threshold))
            covered.append(gamma.sf(threshold, 2.0) <= fpr_bound(n, rank))
        assert 0.88 <= np.mean(covered) <= 0.92, (n, np.mean(covered))


def test_conformal_threshold_says_when_the_site_has_too_few_normals() -> None:
    from detection.calibration import conformal_threshold

    threshold, promise, kept = conformal_threshold([0.3, 0.1, 0.9, 0.5], 0.01)
    assert threshold == 0.9 and not kept
    assert promise == pytest.approx(1 / 5)


def test_any_threshold_has_a_promise_and_recall_an_exact_interval() -> None:
    from detection.calibration import promised_fpr, recall_interval

    scores = np.arange(1.0, 20.0)  # 19 calibration scores: 20 slots
    assert promised_fpr(scores, 19.0) == pytest.approx(1 / 20)
    assert promised_fpr(scores, 17.5) == pytest.approx(3 / 20)
    assert promised_fpr(scores, 0.0) == 1.0
    low, high = recall_interval(4, 5)
    assert low == pytest.approx(0.2836, abs=1e-4) and high == pytest.approx(0.9949, abs=1e-4)
    assert recall_interval(0, 3)[0] == 0.0 and recall_interval(3, 3)[1] == 1.0
    with pytest.raises(DetectorError):
        recall_interval(1, 0)
