"""The PatchCore-style kind: pretrained features, coreset memory bank, heatmaps.

Small images (64 px) and few of them keep this file fast on two CPU cores; the real-data
figures come from ``benchmarks/magnetic_tile.py``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from detection.base import DetectorError, ParamsError
from detection.detectors.deep_knn import DeepKnnDetector
from detection.device import pick_device
from detection.features.backbone import resized_shape
from detection.registry import available_kinds, create_detector, detector_class, load_detector
from detection.sampling import greedy_coreset
from detection.weights import WeightsMissingError, weights_dir
from tests.images import green_texture, grey_blue_scene

SIZE = 64
PARAMS = {"image_size": SIZE, "device": "cpu", "coreset_ratio": 0.5, "batch_size": 8}
NORMAL = [green_texture(i, SIZE) for i in range(14)]
ODD = [grey_blue_scene(i, SIZE) for i in range(4)]


def with_defect(seed: int) -> tuple[np.ndarray, tuple[slice, slice]]:
    """A normal texture with a grey 16x16 block pasted at a seed-dependent place."""
    image = green_texture(100 + seed, SIZE).copy()
    rng = np.random.default_rng(seed)
    y, x = (int(v) for v in rng.integers(4, SIZE - 20, 2))
    region = (slice(y, y + 16), slice(x, x + 16))
    image[region] = (140, 140, 140)
    return image, region


@pytest.fixture(scope="module")
def fitted() -> DeepKnnDetector:
    detector = create_detector("deep_knn", PARAMS)
    assert isinstance(detector, DeepKnnDetector)
    return detector.fit(NORMAL[:10])


def test_kind_is_registered_for_the_gpu_queue() -> None:
    assert "deep_knn" in available_kinds()
    assert detector_class("deep_knn").uses_gpu


def test_odd_images_score_above_normal_ones(fitted: DeepKnnDetector) -> None:
    normal_scores = fitted.score(NORMAL[10:]).scores
    odd_scores = fitted.score(ODD).scores
    assert normal_scores.dtype == np.float64
    assert odd_scores.min() > normal_scores.max()


def test_memory_bank_is_the_requested_share_of_patches(fitted: DeepKnnDetector) -> None:
    (bank,) = fitted.memory_banks
    channels, height, width = fitted.features([NORMAL[0]], SIZE)[0].shape
    n_patches = 10 * height * width
    assert bank.shape == (round(0.5 * n_patches), channels)
    assert bank.dtype == torch.float32
    assert len(fitted.normalisers) == 1 and fitted.normalisers[0] > 0


def test_heatmap_has_the_input_shape_and_peaks_on_the_defect(fitted: DeepKnnDetector) -> None:
    wide = np.ascontiguousarray(np.concatenate([NORMAL[11], NORMAL[12][:, :30]], axis=1))
    defects = [with_defect(seed) for seed in range(3)]
    result = fitted.score([wide] + [image for image, _ in defects])
    assert result.heatmaps is not None
    assert result.heatmaps[0].shape == wide.shape[:2]
    for heatmap, (image, (rows, cols)) in zip(result.heatmaps[1:], defects, strict=True):
        assert heatmap.shape == image.shape[:2] and heatmap.dtype == np.float32
        y, x = np.unravel_index(np.argmax(heatmap), heatmap.shape)
        # within the pasted block, give or take one backbone patch (8 px at this size)
        assert rows.start - 8 <= y < rows.stop + 8 and cols.start - 8 <= x < cols.stop + 8
        assert heatmap[rows, cols].mean() > 1.3 * np.median(heatmap)
    # a defect raises the image score above every clean held-out texture
    clean = fitted.score(NORMAL[10:]).scores
    assert result.scores[1:].min() > clean.max()


def test_save_and_load_give_identical_scores(fitted: DeepKnnDetector, tmp_path: Path) -> None:
    path = tmp_path / "model.zip"
    fitted.save(path)
    loaded = load_detector(path)
    assert isinstance(loaded, DeepKnnDetector) and loaded.params == fitted.params
    images = ODD + NORMAL[10:]
    before, after = fitted.score(images), loaded.score(images)
    np.testing.assert_array_equal(after.scores, before.scores)
    assert before.heatmaps is not None and after.heatmaps is not None
    for a, b in zip(after.heatmaps, before.heatmaps, strict=True):
        np.testing.assert_array_equal(a, b)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert "state/memory_bank.pt" in names
    assert not any(name.endswith((".pkl", ".pth")) for name in names)  # no backbone inside


def test_a_large_training_set_pools_a_random_share_of_each_images_patches() -> None:
    detector = create_detector("deep_knn", {**PARAMS, "coreset_ratio": 1.0})
    assert isinstance(detector, DeepKnnDetector)
    detector.max_pool_patches = 100  # 10 images x 64 patches would be 640
    detector.fit(NORMAL[:10])
    (bank,) = detector.memory_banks
    assert len(bank) == 100  # the coreset keeps the whole capped pool
    assert len(torch.unique(bank, dim=0)) == 100
    scores = detector.score(NORMAL[10:] + ODD).scores
    assert scores[len(NORMAL[10:]) :].min() > scores[: len(NORMAL[10:])].max()


def test_several_image_sizes_give_one_bank_each_and_add_up(tmp_path: Path) -> None:
    detector = create_detector("deep_knn", {**PARAMS, "image_size": [48, 96]}).fit(NORMAL[:8])
    assert isinstance(detector, DeepKnnDetector)
    small, large = detector.memory_banks
    assert len(large) > len(small)  # 4x the patches per image at twice the side
    defect, (rows, cols) = with_defect(7)
    result = detector.score([defect, *NORMAL[10:]])
    assert result.scores[0] > result.scores[1:].max()
    assert result.heatmaps is not None and result.heatmaps[0].shape == defect.shape[:2]
    y, x = np.unravel_index(np.argmax(result.heatmaps[0]), defect.shape[:2])
    assert rows.start - 8 <= y < rows.stop + 8 and cols.start - 8 <= x < cols.stop + 8
    detector.save(tmp_path / "multi.zip")
    loaded = load_detector(tmp_path / "multi.zip")
    np.testing.assert_array_equal(loaded.score(ODD).scores, detector.score(ODD).scores)


@pytest.mark.parametrize(
    "shape, keep_aspect, expected",
    [
        ((100, 250), True, (96, 224)),  # about the area of 144 x 144, sides multiples of 16
        ((600, 200), True, (256, 80)),
        ((100, 250), False, (144, 144)),
        ((10, 5000), True, (32, 3216)),  # never thinner than two grid cells
    ],
)
def test_resized_shape_keeps_the_area_and_the_aspect_ratio(
    shape: tuple[int, int], keep_aspect: bool, expected: tuple[int, int]
) -> None:
    assert resized_shape(shape, 144, keep_aspect) == expected


def test_a_wide_image_gets_a_wide_patch_grid(fitted: DeepKnnDetector) -> None:
    wide = np.ascontiguousarray(np.concatenate([NORMAL[11], NORMAL[12]], axis=1))
    (patch_map,) = fitted.features([wide], SIZE)
    assert patch_map.shape[2] == 2 * patch_map.shape[1]


def test_a_model_of_the_old_single_bank_format_is_refused_clearly(
    fitted: DeepKnnDetector, tmp_path: Path
) -> None:
    path = tmp_path / "old.zip"
    fitted.save(path)
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    bank_file = tmp_path / "bank.pt"
    torch.save({"memory_bank": fitted.memory_banks[0]}, bank_file)
    entries["state/memory_bank.pt"] = bank_file.read_bytes()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    with pytest.raises(DetectorError, match=r"older version.*train a new version"):
        load_detector(path)


def test_same_seed_same_memory_bank() -> None:
    a = create_detector("deep_knn", PARAMS).fit(NORMAL[:4])
    b = create_detector("deep_knn", PARAMS).fit(NORMAL[:4])
    assert isinstance(a, DeepKnnDetector) and isinstance(b, DeepKnnDetector)
    assert torch.equal(a.memory_banks[0], b.memory_banks[0])
    assert a.normalisers == b.normalisers


def _no_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tried to download weights")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def test_missing_weights_say_how_to_install_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    _no_downloads(monkeypatch)
    assert weights_dir().is_relative_to(tmp_path)
    detector = create_detector("deep_knn", PARAMS)
    with pytest.raises(WeightsMissingError, match="import_weights") as caught:
        detector.fit(NORMAL[:2])
    assert "mobilenet_v2-b0353104.pth" in str(caught.value)
    assert "install_weights" in str(caught.value)


@pytest.mark.parametrize(
    "backbone, filename",
    [("resnet18", "resnet18-f37072fd.pth"), ("wide_resnet50_2", "wide_resnet50_2-95faca4d.pth")],
)
def test_other_backbones_need_their_own_weights(
    backbone: str, filename: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if (weights_dir() / filename).exists():
        pytest.skip(f"{filename} is installed here")
    _no_downloads(monkeypatch)
    detector = create_detector("deep_knn", {**PARAMS, "backbone": backbone})
    with pytest.raises(WeightsMissingError, match=filename):
        detector.fit(NORMAL[:2])


def test_unknown_backbone_or_weights_are_clear_errors() -> None:
    with pytest.raises(DetectorError, match="unknown torchvision backbone"):
        create_detector("deep_knn", {**PARAMS, "backbone": "not_a_net"}).fit(NORMAL[:2])
    with pytest.raises(DetectorError, match="IMAGENET1K_V1"):
        create_detector("deep_knn", {**PARAMS, "weights": "V9"}).fit(NORMAL[:2])


@pytest.mark.parametrize(
    "params, message",
    [
        ({"coreset_ratio": 0}, "coreset_ratio"),
        ({"image_size": 8}, "image_size"),
        ({"image_size": []}, "image_size"),
        ({"image_size": [64, 8]}, "image_size"),
        ({"image_size": [64] * 5}, "image_size"),
        ({"image_size": True}, "image_size"),
        ({"keep_aspect": "yes"}, "keep_aspect"),
        ({"n_neighbors": 0}, "n_neighbors"),
        ({"device": "tpu"}, "device"),
        ({"layers": []}, "layers"),
        ({"resolution": 1}, "unknown parameter"),
    ],
)
def test_bad_params_are_refused_with_the_reason(params: dict, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        create_detector("deep_knn", params)


def test_scoring_before_fitting_fails_clearly() -> None:
    with pytest.raises(DetectorError, match="fitted"):
        create_detector("deep_knn", PARAMS).score(ODD)


def test_pick_device() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(DetectorError, match="CUDA is not available"):
            pick_device("cuda")


def test_coreset_picks_the_requested_number_of_distinct_points() -> None:
    points = torch.randn(500, 256, generator=torch.Generator().manual_seed(1))
    chosen = greedy_coreset(points, 50, seed=3)
    assert chosen.shape == (50,) and len(set(chosen.tolist())) == 50
    assert torch.equal(chosen, greedy_coreset(points, 50, seed=3))
    assert torch.equal(greedy_coreset(points, 600), torch.arange(500))


def test_coreset_stays_distinct_among_duplicates_and_covers_clusters() -> None:
    centres = torch.eye(5) * 100
    points = centres.repeat_interleave(20, dim=0)  # 5 clusters of 20 identical points
    first = greedy_coreset(points, 5, seed=0)
    assert sorted((first // 20).tolist()) == [0, 1, 2, 3, 4]  # one point per cluster
    many = greedy_coreset(points, 30, seed=0)
    assert len(set(many.tolist())) == 30


@pytest.mark.parametrize("invariances", [[], ["hflip"]])
def test_one_pass_cross_fitting_scores_like_refitting_every_fold(invariances) -> None:  # type: ignore[no-untyped-def]
    """Leaving a fold's entries out of the full bank scores about as a refit without it."""
    from scipy.stats import spearmanr

    from detection.training import crossfit_scores, fold_indices

    images = NORMAL + [green_texture(200 + i, SIZE + 16) for i in range(3)]  # mixed sizes
    folds = fold_indices(len(images), 4, seed=0)
    params = {**PARAMS, "image_size": [48, SIZE], "invariances": invariances}
    detector = DeepKnnDetector(params)
    scores, heatmaps = detector.fit_out_of_fold(images, folds, on_heatmap=lambda h: h[::2, ::2])
    refit, refit_maps = crossfit_scores("deep_knn", params, images, folds, keep_heatmaps=True)
    np.testing.assert_allclose(scores, refit, rtol=0.1)  # measured: within 3.5 %
    assert spearmanr(scores, refit).statistic > 0.8 and abs(scores.mean() / refit.mean() - 1) < 0.03
    assert heatmaps[0].shape == tuple(-(-d // 2) for d in refit_maps[0].shape)


def test_one_pass_cross_fitting_leaves_the_model_of_a_plain_fit_and_never_self_scores() -> None:
    from detection.training import fold_indices

    images = NORMAL
    folds = fold_indices(len(images), 5, seed=1)
    detector = DeepKnnDetector(PARAMS)
    scores, heatmaps = detector.fit_out_of_fold(images, folds)
    assert heatmaps is None and np.all(np.isfinite(scores))
    plain = DeepKnnDetector(PARAMS).fit(images)
    np.testing.assert_allclose(
        detector.score(ODD).scores, plain.score(ODD).scores, rtol=1e-4, atol=1e-6
    )
    # scored without their own patches, each image looks less familiar than to the model
    # that holds them (which the final model does)
    assert np.all(scores > plain.score(images).scores)


def test_one_pass_cross_fitting_declines_beyond_its_memory_budget() -> None:
    detector = DeepKnnDetector(PARAMS)
    detector.crossfit_memory = 1024  # bytes: less than one image's patch maps
    assert detector.fit_out_of_fold(NORMAL, [[0, 1], list(range(2, 14))]) is None
    assert not detector.is_fitted


def _stripes(seed: int, flipped: bool = False) -> np.ndarray:
    """Green diagonal stripes running one way (a directional texture), with noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:SIZE, :SIZE]
    phase = rng.uniform(0, 2 * np.pi)
    wave = (np.sin((x + y) * 0.5 + phase) > 0).astype(np.float32)
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    image[..., 1] = (80 + 120 * wave + rng.normal(0, 8, (SIZE, SIZE))).clip(0, 255)
    image[..., 0] = 30
    return image[:, ::-1].copy() if flipped else image


def test_declared_flip_invariance_keeps_flipped_normals_calm() -> None:
    from detection.detectors.deep_knn import variant_count, variants

    image = _stripes(0)
    made = variants(image, ("hflip", "rotate90", "lighting"))
    assert len(made) == variant_count(("hflip", "rotate90", "lighting")) == 7
    assert np.array_equal(made[1], image[:, ::-1]) and made[0] is image
    train = [_stripes(i) for i in range(10)]
    same = [_stripes(100 + i) for i in range(4)]
    flipped = [_stripes(100 + i, flipped=True) for i in range(4)]
    plain = DeepKnnDetector(PARAMS).fit(train)
    calm = DeepKnnDetector({**PARAMS, "invariances": ["hflip"]}).fit(train)
    # without the declaration stripes running the other way are unlike anything seen...
    assert plain.score(flipped).scores.min() > 1.5 * plain.score(same).scores.max()
    # ...with it they score like normal stripes
    assert calm.score(flipped).scores.max() < 1.2 * calm.score(same).scores.max()
    with pytest.raises(ParamsError, match="invariances"):
        DeepKnnDetector({"invariances": ["upside-down"]})
