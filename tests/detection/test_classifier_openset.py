"""The open-set classifier kind: a fine-tuned CNN over labelled classes; feature-distance,
energy and max-softmax scores.

Two known classes (green "moss" and red "poppy" textures) and an unseen third kind (grey/blue
scenes); 64 px images and a few epochs keep this file fast on two CPU cores.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from detection.base import DetectorError, ParamsError
from detection.detectors.classifier_openset import ClassifierOpensetDetector
from detection.registry import available_kinds, create_detector, detector_class, load_detector
from detection.training import fit_and_calibrate, fold_indices
from detection.weights import WeightsMissingError, weights_dir
from tests.images import green_texture, grey_blue_scene, red_texture

SIZE = 64
PARAMS = {
    "image_size": SIZE,
    "epochs": 3,
    "batch_size": 8,
    "learning_rate": 3e-3,
    "device": "cpu",
}
MOSS = [green_texture(i, SIZE) for i in range(14)]
POPPY = [red_texture(i, SIZE) for i in range(14)]
TRAIN = MOSS[:10] + POPPY[:10]
TRAIN_LABELS = ["moss"] * 10 + ["poppy"] * 10
HELD = MOSS[10:] + POPPY[10:]
HELD_LABELS = ["moss"] * 4 + ["poppy"] * 4
UNSEEN = [grey_blue_scene(i, SIZE) for i in range(6)]


def fitted_detector(**params: object) -> ClassifierOpensetDetector:
    detector = create_detector("classifier_openset", {**PARAMS, **params})
    assert isinstance(detector, ClassifierOpensetDetector)
    return detector.fit(TRAIN, labels=TRAIN_LABELS)


@pytest.fixture(scope="module")
def fitted() -> ClassifierOpensetDetector:
    return fitted_detector()


def test_kind_is_registered_for_the_gpu_queue_and_needs_labels() -> None:
    assert "classifier_openset" in available_kinds()
    cls = detector_class("classifier_openset")
    assert cls.uses_gpu and cls.needs_labels


def test_known_classes_are_predicted_and_unseen_images_score_higher(
    fitted: ClassifierOpensetDetector,
) -> None:
    assert fitted.classes == ["moss", "poppy"]
    assert fitted.training_accuracy == 1.0
    assert fitted.predict(HELD) == HELD_LABELS
    held = fitted.score(HELD).scores
    unseen = fitted.score(UNSEEN).scores
    assert held.dtype == np.float64 and held.shape == (8,)
    assert unseen.mean() > held.mean()
    assert np.median(unseen) > np.max(held)  # most unseen images above every known one
    # feature_knn: a training photo is at distance ~0 from itself; nothing is beyond 2
    assert fitted.params.score_method == "feature_knn"
    assert np.allclose(fitted.score(TRAIN).scores, 0.0, atol=2e-3)
    assert ((held > 0) & (held <= 2)).all()


def test_feature_knn_is_the_mean_distance_to_the_nearest_training_photos(
    fitted: ClassifierOpensetDetector,
) -> None:
    _, features = fitted._forward(HELD)
    assert torch.allclose(features.norm(dim=1), torch.ones(len(HELD)), atol=1e-5)
    similarity = features @ fitted.bank.float().T
    nearest3 = similarity.sort(dim=1, descending=True).values[:, :3].mean(dim=1)
    fitted.params = fitted.params.model_copy(update={"neighbours": 3})
    try:
        np.testing.assert_allclose(fitted.score(HELD).scores, 1 - nearest3.double().numpy())
    finally:
        fitted.params = fitted.params.model_copy(update={"neighbours": 1})


def test_energy_scores() -> None:
    detector = fitted_detector(score_method="energy", augment=False, epochs=2)
    held = detector.score(HELD).scores
    assert detector.score(UNSEEN).scores.mean() > held.mean()
    # energy = -T * logsumexp(logits / T)
    logits = detector.logits(HELD)
    assert np.allclose(held, -np.log(np.exp(logits).sum(axis=1)))


def test_max_softmax_scores() -> None:
    detector = fitted_detector(score_method="max_softmax", augment=False, epochs=2)
    assert detector.predict(HELD) == HELD_LABELS
    held = detector.score(HELD).scores
    unseen = detector.score(UNSEEN).scores
    assert ((held >= 0) & (held < 1)).all() and ((unseen >= 0) & (unseen < 1)).all()
    assert unseen.mean() > held.mean()


def test_save_load_round_trip_gives_identical_scores(
    fitted: ClassifierOpensetDetector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.zip"
    fitted.save(path)
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        classes = json.loads(archive.read("state/classes.json"))
    assert names == {"meta.json", "state/model.pt", "state/features.pt", "state/classes.json"}
    assert classes["classes"] == ["moss", "poppy"]
    # a saved model is self-contained: scoring needs no pretrained weights file
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    loaded = load_detector(path)
    assert isinstance(loaded, ClassifierOpensetDetector)
    assert loaded.classes == fitted.classes
    assert loaded.training_accuracy == fitted.training_accuracy
    images = HELD + UNSEEN
    np.testing.assert_array_equal(loaded.score(images).scores, fitted.score(images).scores)
    assert loaded.predict(HELD) == HELD_LABELS


def test_a_model_saved_without_training_features_still_scores_by_energy(
    tmp_path: Path,
) -> None:
    """Artefacts from before feature_knn hold no bank; their params say energy."""
    detector = fitted_detector(score_method="energy", epochs=1)
    detector.bank = None
    detector.save(tmp_path / "old.zip")
    loaded = load_detector(tmp_path / "old.zip")
    np.testing.assert_array_equal(loaded.score(UNSEEN).scores, detector.score(UNSEEN).scores)
    loaded.params = loaded.params.model_copy(update={"score_method": "feature_knn"})
    with pytest.raises(DetectorError, match=r"holds no training features.*retrain"):
        loaded.score(UNSEEN)


def test_same_seed_same_model_and_progress_per_epoch() -> None:
    calls: list[tuple[float, str]] = []
    a = create_detector("classifier_openset", {**PARAMS, "epochs": 2})
    a.fit(TRAIN[::2], labels=TRAIN_LABELS[::2], progress=lambda f, m: calls.append((f, m)))
    b = create_detector("classifier_openset", {**PARAMS, "epochs": 2})
    b.fit(TRAIN[::2], labels=TRAIN_LABELS[::2])
    np.testing.assert_array_equal(a.score(UNSEEN).scores, b.score(UNSEEN).scores)
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert sum("loss" in message for _, message in calls) == 2  # one report per epoch
    assert "training accuracy" in calls[-1][1]


@pytest.mark.parametrize(
    "labels",
    [None, ["moss"] * 10 + [""] * 10, ["moss"] * 10 + [None] * 10],  # type: ignore[list-item]
)
def test_unlabelled_images_are_refused(labels: list[str] | None) -> None:
    detector = create_detector("classifier_openset", PARAMS)
    with pytest.raises(DetectorError, match="set a class label on each training asset"):
        detector.fit(TRAIN, labels=labels)


def test_one_class_or_mismatched_labels_are_refused() -> None:
    detector = create_detector("classifier_openset", PARAMS)
    with pytest.raises(DetectorError, match=r"at least 2 classes.*found moss"):
        detector.fit(MOSS, labels=["moss"] * len(MOSS))
    with pytest.raises(DetectorError, match="3 class labels for 20"):
        detector.fit(TRAIN, labels=["moss", "poppy", "moss"])


def test_missing_weights_say_how_to_install_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tried to download weights")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    assert weights_dir().is_relative_to(tmp_path)
    detector = create_detector("classifier_openset", PARAMS)
    with pytest.raises(WeightsMissingError, match=re.escape("mobilenet_v2-b0353104.pth")) as caught:
        detector.fit(TRAIN, labels=TRAIN_LABELS)
    assert "install_weights" in str(caught.value)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"score_method": "entropy"}, "score_method"),
        ({"temperature": 0}, "temperature"),
        ({"neighbours": 0}, "neighbours"),
        ({"epochs": 0}, "epochs"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"image_size": 8}, "image_size"),
        ({"freeze_backbone": "yes"}, "freeze_backbone"),
        ({"device": "tpu"}, "device"),
        ({"classes": 3}, "unknown parameter"),
    ],
)
def test_bad_params_are_refused(params: dict[str, object], message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        create_detector("classifier_openset", params)


def test_unfitted_detector_cannot_score() -> None:
    with pytest.raises(DetectorError, match="fitted"):
        create_detector("classifier_openset", PARAMS).score(HELD)


@pytest.mark.parametrize(
    ("calibration", "n_holdout", "n_calibration"), [("holdout", 7, 7), ("auto", 0, 28)]
)
def test_fit_and_calibrate_reports_classification_accuracy(
    calibration: str, n_holdout: int, n_calibration: int
) -> None:
    """Held out, or (the kind's default) every photo out of fold, each classified by a model
    that never saw it."""
    images = MOSS + POPPY
    labels = ["moss"] * len(MOSS) + ["poppy"] * len(POPPY)
    outcome = fit_and_calibrate(
        "classifier_openset",
        {**PARAMS, "epochs": 2},
        images,
        UNSEEN,
        labels=labels,
        holdout_fraction=0.25,
        calibration=calibration,
    )
    metrics = outcome.metrics
    assert metrics["calibration"] == ("crossfit" if calibration == "auto" else "holdout")
    assert metrics["n_holdout"] == n_holdout
    assert metrics["n_calibration"] == n_calibration
    assert metrics["classification_accuracy"] == 1.0
    assert metrics["auroc"] > 0.8


def test_cross_fitting_trains_each_fold_model_without_its_fold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One fine-tuning per fold on the other photos, and the final one on all, side by side;
    each fold is scored against its own model's training photos only."""
    detector = create_detector("classifier_openset", PARAMS)
    assert isinstance(detector, ClassifierOpensetDetector)
    seen: list[list[int]] = []
    fine_tune = detector._fine_tune

    def spy(images, targets, n_classes, subsets, progress):  # type: ignore[no-untyped-def]
        seen.extend(list(subset) for subset in subsets)
        return fine_tune(images, targets, n_classes, subsets, progress)

    monkeypatch.setattr(detector, "_fine_tune", spy)
    folds = fold_indices(len(TRAIN), 3, seed=0)
    scores, heatmaps = detector.fit_out_of_fold(TRAIN, folds, labels=TRAIN_LABELS)
    assert heatmaps is None and scores.shape == (20,)
    assert [set(s) & set(f) for s, f in zip(seen, folds, strict=False)] == [set()] * 3
    assert [len(s) for s in seen] == [20 - len(f) for f in folds] + [20]  # last: on all
    # in the final model every training photo is its own nearest neighbour (distance ~0);
    # out of fold none is, since its own features were not in the bank it was scored against
    in_sample = detector.score(TRAIN).scores
    assert in_sample.max() < 1e-3
    assert scores.min() > 5 * in_sample.max()
    assert detector.out_of_fold_predictions == TRAIN_LABELS
    # the final model is exactly what fit() makes of the same photos
    plain = create_detector("classifier_openset", PARAMS).fit(TRAIN, labels=TRAIN_LABELS)
    np.testing.assert_allclose(
        detector.score(UNSEEN).scores, plain.score(UNSEEN).scores, rtol=1e-5, atol=1e-6
    )


def test_a_network_trained_whole_holds_photos_out_or_is_cross_fitted_by_refitting() -> None:
    """Without a frozen trunk nothing is shared: by default a share is held out; asked to
    cross-fit, the caller refits per fold."""
    detector = create_detector("classifier_openset", {**PARAMS, "freeze_backbone": False})
    assert not detector.crossfit and create_detector("classifier_openset", PARAMS).crossfit
    assert (
        detector.fit_out_of_fold(TRAIN, [[0, 1], list(range(2, 20))], labels=TRAIN_LABELS) is None
    )
    assert not detector.is_fitted
    outcome = fit_and_calibrate(
        "classifier_openset",
        {**PARAMS, "freeze_backbone": False, "epochs": 1},
        TRAIN,
        UNSEEN,
        labels=TRAIN_LABELS,
        folds=2,
        calibration="crossfit",
    )
    assert outcome.metrics["calibration"] == "crossfit"
    assert outcome.metrics["n_calibration"] == 20


def test_a_trunk_too_large_to_hold_is_run_per_batch() -> None:
    """A site whose trunk outputs would not fit in memory still fine-tunes (each batch
    through the trunk as it is drawn) and is cross-fitted by refitting."""
    detector = create_detector("classifier_openset", {**PARAMS, "epochs": 2})
    assert isinstance(detector, ClassifierOpensetDetector)
    detector.view_memory = 1024  # bytes: less than one photo's trunk output
    folds = fold_indices(len(TRAIN), 2, seed=0)
    assert detector.fit_out_of_fold(TRAIN, folds, labels=TRAIN_LABELS) is None
    detector.fit(TRAIN, labels=TRAIN_LABELS)
    assert detector.predict(HELD) == HELD_LABELS
    assert detector.score(UNSEEN).scores.min() > detector.score(HELD).scores.max()


def test_folds_keep_every_class_in_every_fold_model() -> None:
    """Folds are dealt per class, and a fold that would leave one class is refitted (and
    refused there with the reason) rather than trained on one class."""
    from detection.training import fold_indices

    labels = ["moss"] * 5 + ["poppy"] * 15  # few moss photos: plain folds bunch them
    for seed in range(20):
        for fold in fold_indices(20, 5, seed, strata=labels):
            assert sum(labels[i] == "moss" for i in fold) == 1
    assert any(
        max(sum(labels[i] == "moss" for i in fold) for fold in fold_indices(20, 5, seed)) > 1
        for seed in range(20)
    )
    detector = create_detector("classifier_openset", PARAMS)
    moss_out = [[0, 1, 2, 3, 4], list(range(5, 20))]
    assert detector.fit_out_of_fold(TRAIN[:20], moss_out, labels=labels) is None
