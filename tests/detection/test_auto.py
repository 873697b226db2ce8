"""``auto``: the kind chosen on the site's own images, and the synthetic anomalies it uses."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from detection.base import ParamsError
from detection.registry import create_detector, load_detector
from detection.synthetic import CHANGES, synthetic_anomalies, synthetic_anomaly
from detection.training import fit_and_calibrate
from tests.images import green_texture, grey_blue_scene

SIZE = 64
FAST = {"candidate_params": {"deep_knn": {"image_size": SIZE, "device": "cpu"}}}
NORMAL = [green_texture(i, SIZE) for i in range(16)]


def test_each_synthetic_change_alters_one_small_region_only() -> None:
    rng = np.random.default_rng(0)
    image, donor = green_texture(1, SIZE), grey_blue_scene(2, SIZE)
    for change in CHANGES:
        changed = synthetic_anomaly(image, donor, change, rng)
        assert changed.shape == image.shape and changed.dtype == np.uint8
        differs = np.any(changed != image, axis=2)
        ys, xs = np.nonzero(differs)
        assert differs.any(), change
        box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
        assert box <= 0.09 * SIZE * SIZE, change  # one rectangle of 2-8 % of the image
    with pytest.raises(ValueError, match="change must be one of"):
        synthetic_anomaly(image, donor, "glitter", rng)
    made = synthetic_anomalies(NORMAL[:3], per_image=2, seed=5)
    assert len(made) == 6
    again = synthetic_anomalies(NORMAL[:3], per_image=2, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(made, again, strict=True))


def test_auto_compares_the_candidates_keeps_the_winner_and_saves_both(tmp_path: Path) -> None:
    detector = create_detector("auto", FAST).fit(NORMAL)
    choice = detector.choice
    assert choice["compared_on"] == "synthetic anomalies"
    assert [row["kind"] for row in choice["table"]] == ["histogram_iforest", "deep_knn"]
    assert all(0 <= row["auroc"] <= 1 and row["fit_s"] >= 0 for row in choice["table"])
    best = max(row["auroc"] for row in choice["table"])
    winner = next(row for row in choice["table"] if row["kind"] == choice["chosen"])
    assert winner["auroc"] >= best - 0.005 and choice["chosen"] in choice["reason"]
    assert (choice["probe_normals"], choice["probe_anomalies"]) == (4, 8)
    assert detector.chosen.kind == choice["chosen"]

    odd = [grey_blue_scene(i, SIZE) for i in range(3)]
    path = tmp_path / "auto.zip"
    detector.save(path)
    with zipfile.ZipFile(path) as archive:
        names = sorted(archive.namelist())
    assert names == ["meta.json", "state/choice.json", "state/chosen.zip"]
    loaded = load_detector(path)
    np.testing.assert_allclose(loaded.score(odd).scores, detector.score(odd).scores, rtol=1e-5)
    assert loaded.choice == choice


def test_confirmed_anomalies_decide_and_the_version_records_why() -> None:
    odd = [grey_blue_scene(i, SIZE) for i in range(4)]
    outcome = fit_and_calibrate("auto", FAST, NORMAL, odd, target_fpr=0.1)
    auto = outcome.metrics["auto"]
    assert auto["compared_on"] == "confirmed anomalies" and auto["probe_anomalies"] == 4
    assert outcome.metrics["calibration"] == "crossfit"
    assert outcome.metrics["n_calibration"] == 16 and np.all(np.isfinite(outcome.holdout_scores))
    assert outcome.metrics["auroc"] == 1.0


def test_time_budget_skips_later_candidates_but_always_tries_the_first() -> None:
    detector = create_detector("auto", {**FAST, "time_budget_s": 1e-6}).fit(NORMAL)
    first, second = detector.choice["table"]
    assert "auroc" in first and first["kind"] == detector.choice["chosen"]
    assert "time budget" in second["skipped"] and "auroc" not in second


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"candidates": ["video_autoencoder"]}, "candidates must be distinct kinds"),
        ({"candidates": []}, "candidates must be distinct kinds"),
        ({"candidate_params": {"deep_knn": {"image_size": -3}}}, "candidate_params of deep_knn"),
        ({"candidate_params": {"patch_autoencoder": {}}}, "candidate_params must map"),
        ({"time_budget_s": 0}, "time_budget_s"),
        ({"probe_fraction": 0.9}, "probe_fraction"),
    ],
)
def test_bad_auto_params_are_refused(params, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParamsError, match=message):
        create_detector("auto", params)
