"""The colour-histogram detector: learns green, flags grey/blue, survives save/load."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from detection.base import DetectorError, ParamsError
from detection.features.color_histogram import color_histogram, hellinger_histogram
from detection.registry import available_kinds, create_detector, load_detector
from tests.images import green_texture, grey_blue_scene

NORMAL = [green_texture(i) for i in range(40)]
ODD = [grey_blue_scene(i) for i in range(8)]


def test_histogram_is_normalised_and_sized_by_bins() -> None:
    hist = color_histogram(green_texture(0), (4, 5, 6))
    assert hist.shape == (120,)
    assert np.linalg.norm(hist) == pytest.approx(1.0, rel=1e-5)


def test_kind_is_registered() -> None:
    assert "histogram_iforest" in available_kinds()


@pytest.mark.parametrize(
    "estimator",
    ["knn", "isolation_forest", "one_class_svm", "local_outlier_factor", "elliptic_envelope"],
)
def test_every_estimator_ranks_odd_images_above_normal_ones(estimator: str) -> None:
    detector = create_detector("histogram_iforest", {"estimator": estimator}).fit(NORMAL[:30])
    normal_scores = detector.score(NORMAL[30:]).scores
    odd_scores = detector.score(ODD).scores
    assert odd_scores.min() > normal_scores.max()


@pytest.mark.parametrize("estimator", ["knn", "isolation_forest", "elliptic_envelope"])
def test_save_and_load_give_identical_scores(tmp_path, estimator: str) -> None:  # type: ignore[no-untyped-def]
    detector = create_detector("histogram_iforest", {"estimator": estimator}).fit(NORMAL)
    path = tmp_path / "model.zip"
    detector.save(path)
    loaded = load_detector(path)
    assert loaded.params == detector.params
    np.testing.assert_allclose(loaded.score(ODD).scores, detector.score(ODD).scores)
    with zipfile.ZipFile(path) as archive:
        assert "meta.json" in archive.namelist()
        assert not any(name.endswith(".pkl") for name in archive.namelist())


def test_same_seed_same_scores() -> None:
    params = {"estimator": "isolation_forest", "random_state": 3}
    a = create_detector("histogram_iforest", params).fit(NORMAL).score(ODD)
    b = create_detector("histogram_iforest", params).fit(NORMAL).score(ODD)
    np.testing.assert_array_equal(a.scores, b.scores)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"bins": [8, 8]}, "bins"),
        ({"estimator": "kmeans"}, "estimator"),
        ({"n_estimators": 0}, "n_estimators"),
        ({"nu": 1.5}, "nu"),
        ({"space": "cosine"}, "space"),
        ({"grid": 0}, "grid"),
        ({"space": "l2", "grid": 2}, "grid layouts"),
        ({"k": 0}, "k: "),
        ({"colour": 1}, "unknown parameter"),
    ],
)
def test_bad_params_are_refused_with_the_reason(params: dict, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        create_detector("histogram_iforest", params)


def test_unknown_kind_lists_the_available_ones() -> None:
    with pytest.raises(ParamsError, match="histogram_iforest"):
        create_detector("magic")


def test_hellinger_embedding_is_a_unit_vector_whose_distances_are_hellinger() -> None:
    first, second = green_texture(0), grey_blue_scene(0)
    a, b = hellinger_histogram(first, (4, 4, 4)), hellinger_histogram(second, (4, 4, 4))
    assert np.linalg.norm(a) == pytest.approx(1.0, rel=1e-5)
    # H(p, q)^2 = 1 - sum(sqrt(p q)) = |sqrt p - sqrt q|^2 / 2
    p, q = a.astype(np.float64) ** 2, b.astype(np.float64) ** 2
    hellinger_sq = 1 - np.sum(np.sqrt(p * q))
    assert np.linalg.norm(a - b) ** 2 / 2 == pytest.approx(hellinger_sq, rel=1e-4)
    with_layout = hellinger_histogram(first, (4, 4, 4), grid=2)
    assert with_layout.shape == (64 * 5,)
    assert np.linalg.norm(with_layout) == pytest.approx(1.0, rel=1e-5)


def test_layout_tells_apart_images_with_the_same_colours_elsewhere() -> None:
    """Sky above, ground below vs the same colours swapped: equal globally, not in layout."""
    image = np.zeros((32, 32, 3), np.uint8)
    image[:16] = (200, 120, 40)
    image[16:] = (30, 40, 180)
    flipped = image[::-1].copy()
    global_only = hellinger_histogram(image, grid=1), hellinger_histogram(flipped, grid=1)
    np.testing.assert_allclose(*global_only)
    layouts = hellinger_histogram(image, grid=2), hellinger_histogram(flipped, grid=2)
    assert np.linalg.norm(layouts[0] - layouts[1]) > 0.5


def test_seed_style_verdicts_are_one_for_normal_and_minus_one_for_anomalies() -> None:
    seed = create_detector(
        "histogram_iforest",
        {"estimator": "isolation_forest", "space": "l2", "bins": [3, 3, 3], "grid": 1},
    ).fit(NORMAL[:30])
    assert set(seed.verdicts(ODD)) == {-1}
    assert np.mean(seed.verdicts(NORMAL[30:]) == 1) >= 0.5
    knn = create_detector("histogram_iforest").fit(NORMAL[:30])
    threshold = float(knn.score(NORMAL[30:]).scores.max())
    assert set(knn.verdicts(ODD, threshold)) == {-1}
    assert set(knn.verdicts(NORMAL[30:], threshold)) == {1}
    with pytest.raises(DetectorError, match="pass a threshold"):
        knn.verdicts(ODD)


def test_too_few_images_for_lof_is_a_clear_error() -> None:
    detector = create_detector(
        "histogram_iforest", {"estimator": "local_outlier_factor", "n_neighbors": 20}
    )
    with pytest.raises(DetectorError, match="n_neighbors=20"):
        detector.fit(NORMAL[:10])


def test_scoring_before_fitting_and_bad_arrays_fail_clearly() -> None:
    detector = create_detector("histogram_iforest")
    with pytest.raises(DetectorError, match="fitted"):
        detector.score(ODD)
    with pytest.raises(DetectorError, match="HxWx3"):
        detector.fit([np.zeros((8, 8), np.uint8)] * 3)


def test_a_file_that_is_not_an_artefact_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bogus = tmp_path / "model.zip"
    bogus.write_bytes(b"not a zip")
    with pytest.raises(DetectorError, match="not a detector artefact"):
        load_detector(bogus)


def test_colours_never_seen_in_training_raise_the_score() -> None:
    """IsolationForest alone cannot split on bins empty in all training images."""
    plain = create_detector("histogram_iforest", {"unseen_colour_weight": 0}).fit(NORMAL[:30])
    aware = create_detector("histogram_iforest").fit(NORMAL[:30])
    assert np.all(aware.unseen_share(aware.features(NORMAL[:30])) == 0)
    gain = aware.score(ODD).scores - plain.score(ODD).scores
    assert np.all(gain > 0.5)  # grey/blue pixels all fall in bins no green image filled
    np.testing.assert_allclose(aware.score(NORMAL[:30]).scores, plain.score(NORMAL[:30]).scores)


def _big(index: int) -> np.ndarray:
    """A 1 MP photo-like image: far more pixels than the histogram's default sample."""
    rng = np.random.default_rng(index)
    small = green_texture(index) if index % 5 else grey_blue_scene(index)
    image = np.kron(small, np.ones((8, 8, 1), dtype=np.uint8))[:1000, :1000]
    noise = rng.integers(0, 24, image.shape, dtype=np.uint8)
    return np.clip(image.astype(np.int16) + noise - 12, 0, 255).astype(np.uint8)


def test_grid_sample_keeps_at_most_max_pixels_spread_over_the_whole_image() -> None:
    from detection.features.color_histogram import grid_sample

    image = np.zeros((1000, 1500, 3), np.uint8)
    sample = grid_sample(image, 65_536)
    assert sample.shape[0] * sample.shape[1] <= 65_536
    assert sample.shape[0] * sample.shape[1] > 65_536 / 2
    assert grid_sample(image, 0) is image and grid_sample(image, 2_000_000) is image


def test_a_grid_sample_gives_nearly_the_histogram_of_every_pixel() -> None:
    image = _big(3)
    every = hellinger_histogram(image, (3, 3, 3), grid=2)
    sampled = hellinger_histogram(image, (3, 3, 3), grid=2, max_pixels=65_536)
    assert np.linalg.norm(every - sampled) < 0.02  # (unit vectors: Hellinger distance)


def test_an_artefact_saved_before_max_pixels_keeps_scoring_every_pixel(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An old version's threshold was calibrated on histograms of every pixel: loading its
    artefact must not switch it to the sampled histogram of new versions."""
    import json

    images = [_big(i) for i in range(12)]
    old = create_detector("histogram_iforest", {"max_pixels": 0}).fit(images[:8])
    written = tmp_path / "new-format.zip"
    old.save(written)
    legacy = tmp_path / "before-max-pixels.zip"
    with zipfile.ZipFile(written) as source, zipfile.ZipFile(legacy, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "meta.json":
                meta = json.loads(data)
                del meta["params"]["max_pixels"]
                data = json.dumps(meta).encode()
            target.writestr(item, data)

    loaded = load_detector(legacy)
    assert loaded.params.max_pixels == 0
    np.testing.assert_array_equal(loaded.score(images[8:]).scores, old.score(images[8:]).scores)
    # a new artefact keeps the sample it was fitted with
    sampled = create_detector("histogram_iforest").fit(images[:8])
    assert sampled.params.max_pixels == 16_384
    sampled.save(tmp_path / "sampled.zip")
    again = load_detector(tmp_path / "sampled.zip")
    assert again.params.max_pixels == 16_384
    np.testing.assert_array_equal(again.score(images[8:]).scores, sampled.score(images[8:]).scores)
