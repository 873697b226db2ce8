"""The grid-patch autoencoder kind: fit, score ordering, heatmaps, save/load, params.

Tiny images (64 px, a 4 x 4 grid of 16 px patches) and few epochs keep this file within
seconds on two CPU cores; the real-data figures come from ``benchmarks/magnetic_tile.py``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from detection.base import DetectorError, ParamsError
from detection.detectors.patch_autoencoder import PatchAutoencoderDetector
from detection.registry import available_kinds, create_detector, detector_class, load_detector
from tests.images import green_texture, grey_blue_scene, texture_with_defect

SIZE = 64
PARAMS = {"image_size": SIZE, "grid": 4, "epochs": 10, "batch_size": 16, "device": "cpu"}
NORMAL = [green_texture(i, SIZE) for i in range(14)]
ODD = [grey_blue_scene(i, SIZE) for i in range(4)]


@pytest.fixture(scope="module")
def fitted() -> PatchAutoencoderDetector:
    detector = create_detector("patch_autoencoder", PARAMS)
    assert isinstance(detector, PatchAutoencoderDetector)
    return detector.fit(NORMAL[:10])


def test_kind_is_registered_for_the_gpu_queue() -> None:
    assert "patch_autoencoder" in available_kinds()
    assert detector_class("patch_autoencoder").uses_gpu


def test_odd_images_score_above_held_out_normal_ones(fitted: PatchAutoencoderDetector) -> None:
    normal_scores = fitted.score(NORMAL[10:]).scores
    odd_scores = fitted.score(ODD).scores
    assert normal_scores.dtype == np.float64 and normal_scores.shape == (4,)
    assert odd_scores.min() > normal_scores.max()


def test_heatmap_has_the_input_shape_and_peaks_on_the_defect(
    fitted: PatchAutoencoderDetector,
) -> None:
    wide = np.ascontiguousarray(np.concatenate([NORMAL[11], NORMAL[12][:, :30]], axis=1))
    defects = [texture_with_defect(seed, SIZE) for seed in range(3)]
    result = fitted.score([wide] + [image for image, _ in defects])
    assert result.heatmaps is not None and len(result.heatmaps) == 4
    assert result.heatmaps[0].shape == wide.shape[:2]
    for heatmap, (image, (rows, cols)) in zip(result.heatmaps[1:], defects, strict=True):
        assert heatmap.shape == image.shape[:2] and heatmap.dtype == np.float32
        y, x = np.unravel_index(np.argmax(heatmap), heatmap.shape)
        assert rows.start <= y < rows.stop and cols.start <= x < cols.stop
    # one bad patch is enough to lift the image above every clean held-out texture
    clean = fitted.score(NORMAL[10:]).scores
    assert result.scores[1:].min() > clean.max()


def test_save_load_round_trip_gives_identical_scores(
    fitted: PatchAutoencoderDetector, tmp_path: Path
) -> None:
    path = tmp_path / "model.zip"
    fitted.save(path)
    with zipfile.ZipFile(path) as archive:
        assert "state/model.pt" in archive.namelist()
    loaded = load_detector(path)
    assert isinstance(loaded, PatchAutoencoderDetector)
    images = NORMAL[10:] + ODD
    before, after = fitted.score(images), loaded.score(images)
    np.testing.assert_array_equal(before.scores, after.scores)
    assert before.heatmaps is not None and after.heatmaps is not None
    for a, b in zip(before.heatmaps, after.heatmaps, strict=True):
        np.testing.assert_array_equal(a, b)


def test_grayscale_colour_difference_ssim_fits_and_round_trips(tmp_path: Path) -> None:
    params = {
        **PARAMS,
        "channels": 1,
        "preprocess": "colour_difference",
        "loss": "mse+ssim",
        "epochs": 4,
        "augment": True,
    }
    messages: list[str] = []
    detector = create_detector("patch_autoencoder", params)
    detector.fit(NORMAL[:6], progress=lambda fraction, message: messages.append(message))
    assert sum(message.startswith("epoch ") for message in messages) == 4
    assert isinstance(detector, PatchAutoencoderDetector)
    assert detector.reference is not None and detector.reference.shape == (SIZE, SIZE, 1)
    path = tmp_path / "model.zip"
    detector.save(path)
    with zipfile.ZipFile(path) as archive:
        assert "state/reference.pt" in archive.namelist()
    loaded = load_detector(path)
    assert isinstance(loaded, PatchAutoencoderDetector) and loaded.reference is not None
    np.testing.assert_array_equal(loaded.reference, detector.reference)
    images = NORMAL[10:12] + ODD[:2]
    np.testing.assert_array_equal(detector.score(images).scores, loaded.score(images).scores)


def test_same_seed_gives_the_same_model() -> None:
    params = {**PARAMS, "epochs": 2}
    first = create_detector("patch_autoencoder", params).fit(NORMAL[:4])
    second = create_detector("patch_autoencoder", params).fit(NORMAL[:4])
    np.testing.assert_array_equal(first.score(ODD).scores, second.score(ODD).scores)


@pytest.mark.parametrize(
    "params",
    [
        {"grid": 0},
        {"image_size": 60, "grid": 4},  # patch side 15 is not a multiple of 8
        {"channels": 2},
        {"preprocess": "sharpen"},
        {"loss": "l1"},
        {"epochs": 0},
        {"learning_rate": 0},
        {"ssim_window": 4},
        {"augment": "yes"},
        {"device": "tpu"},
        {"colour": 3},
    ],
)
def test_bad_params_raise_params_error(params: dict) -> None:
    with pytest.raises(ParamsError):
        create_detector("patch_autoencoder", params)


def test_fitting_needs_two_images_and_scoring_needs_a_fit() -> None:
    detector = create_detector("patch_autoencoder", PARAMS)
    with pytest.raises(DetectorError, match="at least 2"):
        detector.fit(NORMAL[:1])
    with pytest.raises(DetectorError, match="fitted"):
        detector.score(NORMAL[:1])
    with pytest.raises(DetectorError):
        detector.fit([NORMAL[0], NORMAL[1][..., 0]])  # not HxWx3
