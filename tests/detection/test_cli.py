"""``python -m detection`` end to end on folders of real files, in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2

from tests.images import green_texture, grey_blue_scene

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "detection", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_train_then_score_flags_the_odd_image(tmp_path: Path) -> None:
    normal = tmp_path / "normal"
    normal.mkdir()
    for i in range(20):
        cv2.imwrite(str(normal / f"leaf{i:02}.png"), green_texture(i))
    odd = tmp_path / "odd.png"
    cv2.imwrite(str(odd), grey_blue_scene(0))
    fresh = tmp_path / "fresh.png"
    cv2.imwrite(str(fresh), green_texture(99))
    model = tmp_path / "model.zip"

    trained = _cli(
        "train", "--data", str(normal), "--kind", "histogram_iforest", "--out", str(model)
    )
    assert trained.returncode == 0, trained.stderr
    summary = json.loads(trained.stdout)
    # cross-fitted: fitted on all 20, each calibrated out of fold; 1/21 is all 20 can promise
    assert (summary["n_fit"], summary["n_holdout"], summary["n_calibration"]) == (20, 0, 20)
    sidecar = json.loads(model.with_name("model.zip.json").read_text())
    assert sidecar["guaranteed_fpr"] == summary["guaranteed_fpr"] == 1 / 21
    held = tmp_path / "held.zip"
    # no --kind: auto, which says what it chose
    split = _cli("train", "--data", str(normal), "--calibration", "holdout", "--out", str(held))
    assert split.returncode == 0, split.stderr
    held_summary = json.loads(split.stdout)
    assert held_summary["n_holdout"] == 4
    assert held_summary["auto"]["chosen"] in {"histogram_iforest", "deep_knn"}

    scored = _cli("score", "--model", str(model), str(odd), str(fresh))
    assert scored.returncode == 0, scored.stderr
    rows = dict(line.split("\t", 1) for line in scored.stdout.strip().splitlines()[1:])
    assert rows[str(odd)].endswith("anomalous")
    assert rows[str(fresh)].endswith("normal")

    evaluated = _cli(
        "evaluate", "--model", str(model), "--normal", str(fresh), "--anomalous", str(odd)
    )
    assert evaluated.returncode == 0, evaluated.stderr
    lines = evaluated.stdout.strip().splitlines()
    assert lines[-7:] == [
        "pixel_auroc: n/a",  # the histogram kind makes no heatmaps
        "auroc: 1.0000",
        "average_precision: 1.0000",
        "f1: 1.0000",
        "precision: 1.0000",
        "recall: 1.0000",
        f"auroc {odd.parent.name}: 1.0000",
    ]
    as_json = _cli(
        "evaluate", "--model", str(model), "--normal", str(fresh), "--anomalous", str(odd), "--json"
    )
    assert json.loads(as_json.stdout)["tp"] == 1


def test_evaluate_reports_pixel_auroc_from_masks_beside_and_auroc_per_folder(
    tmp_path: Path,
) -> None:
    import numpy as np

    normal = tmp_path / "good"
    normal.mkdir()
    for i in range(10):
        cv2.imwrite(str(normal / f"g{i}.png"), green_texture(i))
    for folder, colour in (("stain", (200, 40, 220)), ("ash", (128, 128, 128))):
        (tmp_path / folder).mkdir()
        for i in range(2):
            image = green_texture(50 + i).copy()
            image[20:36, 20:36] = colour
            mask = np.zeros(image.shape[:2], np.uint8)
            mask[20:36, 20:36] = 255
            cv2.imwrite(str(tmp_path / folder / f"d{i}.jpg"), image)
            cv2.imwrite(str(tmp_path / folder / f"d{i}.png"), mask)  # magnetic-tile's layout
    model = tmp_path / "knn.zip"
    params = '{"image_size": 64, "device": "cpu"}'
    trained = _cli(
        "train",
        "--data",
        str(normal),
        "--kind",
        "deep_knn",
        "--params",
        params,
        "--out",
        str(model),
    )
    assert trained.returncode == 0, trained.stderr
    evaluated = _cli(
        "evaluate",
        "--model",
        str(model),
        "--normal",
        str(normal),
        "--anomalous",
        str(tmp_path / "stain"),
        str(tmp_path / "ash"),
        "--json",
    )
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert metrics["n_anomalous"] == 4  # the masks were not taken for photos
    assert set(metrics["per_folder_auroc"]) == {"stain", "ash"}
    assert metrics["pixel_auroc"] > 0.8


def test_errors_are_reported_without_a_traceback(tmp_path: Path) -> None:
    bogus = tmp_path / "model.zip"
    bogus.write_text("nope")
    result = _cli("score", "--model", str(bogus), str(bogus))
    assert result.returncode == 2
    assert "not a detector artefact" in result.stderr and "Traceback" not in result.stderr


def test_classifier_trains_from_class_subfolders(tmp_path: Path) -> None:
    from tests.images import red_texture

    for name, make in (("fern", green_texture), ("poppy", red_texture)):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(6):
            cv2.imwrite(str(tmp_path / "data" / name / f"{i}.png"), make(i))
    params = json.dumps({"image_size": 64, "epochs": 2})
    model = tmp_path / "model.zip"
    trained = _cli(
        "train", "--data", str(tmp_path / "data"), "--kind", "classifier_openset",
        "--params", params, "--out", str(model),
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout)["classification_accuracy"] is not None
    flat = _cli("train", "--data", str(tmp_path / "data" / "fern"), "--kind",
                "classifier_openset", "--out", str(model))  # fmt: skip
    assert flat.returncode == 2 and "DIR/<class name>/" in flat.stderr
