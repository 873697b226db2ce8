"""fit_and_calibrate: the recipe the workers, CLI and benchmark share."""

from __future__ import annotations

import numpy as np
import pytest

from detection.base import DetectorError
from detection.training import Subset, fit_and_calibrate, fold_indices, split_indices
from tests.images import green_texture, grey_blue_scene

NORMAL = [green_texture(i) for i in range(30)]
ODD = [grey_blue_scene(i) for i in range(6)]


def test_split_is_seeded_disjoint_and_complete() -> None:
    fit, holdout = split_indices(10, 0.2, seed=1)
    assert len(holdout) == 2 and sorted(fit + holdout) == list(range(10))
    assert split_indices(10, 0.2, seed=1) == (fit, holdout)
    assert split_indices(5, 0.01, seed=0)[1]  # at least one held out


def test_subset_is_lazy_and_indexable() -> None:
    reads = []

    class Recorder(list):
        def __getitem__(self, i):  # type: ignore[no-untyped-def]
            reads.append(i)
            return super().__getitem__(i)

    view = Subset(Recorder(range(10)), [7, 3])
    assert len(view) == 2 and reads == []
    assert view[1] == 3 and reads == [3]


def test_fpr_calibration_and_metrics_on_holdout_and_anomalies() -> None:
    progress = []
    outcome = fit_and_calibrate(
        "histogram_iforest",
        {},
        NORMAL,
        ODD,
        calibration="holdout",
        target_fpr=0.01,
        progress=lambda f, m: progress.append(f),
    )
    m = outcome.metrics
    assert (m["n_fit"], m["n_holdout"], m["n_anomalous"]) == (24, 6, 6)
    assert m["threshold_method"] == "fpr" and m["calibration"] == "holdout"
    assert np.sum(outcome.holdout_scores > outcome.threshold) == 0
    assert m["auroc"] == 1.0 and m["recall"] == 1.0
    assert set(outcome.fit_indices).isdisjoint(outcome.holdout_indices)
    assert progress and progress == sorted(progress) and progress[-1] == 1.0
    # 6 held-out normals promise at best 1/7; 1 % needs 99 of them, i.e. 495 site normals
    assert m["guaranteed_fpr"] == pytest.approx(1 / 7) and not m["target_fpr_kept"]
    assert m["normals_needed_for_target"] == 495 and m["more_normals_needed"] == 465
    assert (m["recall_found"], m["recall_high"]) == (6, 1.0) and 0.5 < m["recall_low"] < 0.6


def test_folds_are_disjoint_seeded_and_cover_everything() -> None:
    folds = fold_indices(23, 5, seed=3)
    assert len(folds) == 5 and sorted(i for f in folds for i in f) == list(range(23))
    assert {len(f) for f in folds} == {4, 5} and fold_indices(23, 5, seed=3) == folds
    assert len(fold_indices(3, 5, seed=0)) == 3  # leave-one-out on tiny sets
    with pytest.raises(DetectorError, match="2 normal images"):
        fold_indices(1, 5, seed=0)


def test_crossfit_scores_every_normal_with_a_model_that_never_saw_it() -> None:
    """With 1-nearest-neighbour scoring a seen image scores (about) 0: none may."""
    params = {"k": 1}
    progress = []
    outcome = fit_and_calibrate(
        "histogram_iforest",
        params,
        NORMAL,
        ODD,
        target_fpr=0.05,
        progress=lambda f, m: progress.append(f),
    )
    m = outcome.metrics
    assert m["calibration"] == "crossfit" and m["folds"] == 5  # the kind's default
    assert (m["n_fit"], m["n_holdout"], m["n_calibration"]) == (30, 0, 30)
    assert outcome.fit_indices == outcome.holdout_indices == list(range(30))
    seen = outcome.detector.score(NORMAL).scores  # the final model saw them all
    assert seen.max() < 1e-6 < outcome.holdout_scores.min()
    # 30 calibration normals: 1/31 at best, so 5 % is kept (rank 30 = the maximum)
    assert m["target_fpr_kept"] and m["guaranteed_fpr"] <= 0.05
    assert m["more_normals_needed"] == 0 and m["expected_false_alarms_per_100"] <= 5
    assert progress == sorted(progress) and progress[-1] == 1.0


def test_calibration_choice_is_checked() -> None:
    with pytest.raises(DetectorError, match="calibration must be one of"):
        fit_and_calibrate("histogram_iforest", {}, NORMAL, calibration="psychic")
    with pytest.raises(DetectorError, match="at least 2 folds"):
        fit_and_calibrate("histogram_iforest", {}, NORMAL, calibration="crossfit", folds=1)


def test_f1_without_anomalies_falls_back_to_fpr_and_says_so() -> None:
    outcome = fit_and_calibrate("histogram_iforest", {}, NORMAL, threshold_method="f1")
    assert outcome.metrics["threshold_method"] == "fpr"
    assert outcome.metrics["requested_threshold_method"] == "f1"
    assert outcome.metrics["auroc"] is None


def test_f1_and_fixed_thresholds() -> None:
    f1 = fit_and_calibrate("histogram_iforest", {}, NORMAL, ODD, threshold_method="f1")
    assert f1.metrics["f1"] == 1.0
    fixed = fit_and_calibrate(
        "histogram_iforest", {}, NORMAL, threshold_method="fixed", fixed_threshold=0.42
    )
    assert fixed.threshold == 0.42


def test_bad_requests_fail_with_reasons() -> None:
    with pytest.raises(DetectorError, match="threshold_method"):
        fit_and_calibrate("histogram_iforest", {}, NORMAL, threshold_method="vibes")
    with pytest.raises(DetectorError, match="fixed_threshold"):
        fit_and_calibrate("histogram_iforest", {}, NORMAL, threshold_method="fixed")


def test_pixel_auroc_from_masks_of_anomalies_for_kinds_with_heatmaps() -> None:
    normal = [green_texture(i) for i in range(12)]
    defective, masks = [], []
    for i in range(3):
        image = green_texture(100 + i).copy()
        image[20:36, 20:36] = (200, 40, 220)  # a magenta blotch
        mask = np.zeros(image.shape[:2], np.uint8)
        mask[20:36, 20:36] = 255
        defective.append(image)
        masks.append(mask)
    outcome = fit_and_calibrate(
        "deep_knn", {"image_size": 64}, normal, defective, anomaly_masks=[*masks[:2], None]
    )
    assert outcome.metrics["pixel_auroc"] > 0.9
    plain = fit_and_calibrate("histogram_iforest", {}, normal, defective, anomaly_masks=masks)
    assert plain.metrics["pixel_auroc"] is None  # no heatmaps to judge
