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
