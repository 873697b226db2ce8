"""The ``ssd_openset`` kind on small synthetic shape images (squares, circles; triangles
unknown): fit, score, boxes in image pixels, save/load, parameters, training glue, CLI."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from detection.base import DetectorError, ParamsError
from detection.coco import to_coco
from detection.objects import UNKNOWN_LABEL, DetectedBox, LabelledBox, flag_boxes, iou
from detection.registry import create_detector, detector_class, load_detector
from detection.training import fit_and_calibrate
from detection.weights import use_project_torch_home
from tests.object_images import known_set, shape_image

REPO = Path(__file__).resolve().parents[2]
#: Tiny and quick: these tests check the plumbing, not accuracy (see the NEU-DET test).
PARAMS = {"image_size": 64, "epochs": 2, "batch_size": 8, "device": "cpu", "candidates": 5}
IMAGES, BOXES = known_set(16, seed=0)


@pytest.fixture(scope="module", autouse=True)
def _weights() -> None:
    use_project_torch_home()


@pytest.fixture(scope="module")
def fitted():  # type: ignore[no-untyped-def]
    return create_detector("ssd_openset", PARAMS).fit(IMAGES, boxes=BOXES)


def test_kind_is_registered_as_an_object_kind() -> None:
    cls = detector_class("ssd_openset")
    assert cls.needs_boxes and cls.uses_gpu and not cls.needs_labels
    assert not detector_class("histogram_iforest").needs_boxes


def test_fit_and_score_return_boxes_in_image_pixels(fitted) -> None:  # type: ignore[no-untyped-def]
    assert fitted.classes == ["circle", "square"]
    assert len(fitted.loss_history) == 2 and all(np.isfinite(fitted.loss_history))
    rng = np.random.default_rng(3)
    wide, _ = shape_image(rng, ["square"], size=96)
    wide = cv2.resize(wide, (160, 96))  # not square, not the training size
    result = fitted.score([IMAGES[0], wide])
    assert result.scores.shape == (2,) and np.isfinite(result.scores).all()
    assert result.boxes is not None and len(result.boxes) == 2
    for image, boxes in zip([IMAGES[0], wide], result.boxes, strict=True):
        height, width = image.shape[:2]
        assert 1 <= len(boxes) <= PARAMS["candidates"]
        for box in boxes:
            assert isinstance(box, DetectedBox) and box.label in fitted.classes
            assert box.x >= 0 and box.x + box.w <= width + 1e-3
            assert box.y >= 0 and box.y + box.h <= height + 1e-3
            assert box.w > 0 and box.h > 0 and 0 <= box.confidence <= 1
    # the image score is its worst candidate's openness
    assert result.scores[1] == pytest.approx(max(b.openness for b in result.boxes[1]))
    assert fitted.score([]).scores.shape == (0,)


def test_every_openness_method_scores(fitted) -> None:  # type: ignore[no-untyped-def]
    assert set(fitted.scales) == {"energy", "max_softmax", "feature_knn"}
    for method in ("energy", "max_softmax", "feature_knn", "combined"):
        detector = create_detector("ssd_openset", {**PARAMS, "openness": method})
        detector.model, detector.bank, detector.scales = fitted.model, fitted.bank, fitted.scales
        detector.classes, detector.is_fitted = fitted.classes, True
        scores = detector.score(IMAGES[:2]).scores
        assert np.isfinite(scores).all()
        if method == "max_softmax":
            assert ((scores >= 0) & (scores <= 1)).all()


def test_save_load_round_trip(fitted, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ssd.zip"
    fitted.save(path)
    loaded = load_detector(path)
    assert loaded.kind == "ssd_openset" and loaded.classes == fitted.classes
    before, after = fitted.score(IMAGES[:3]), loaded.score(IMAGES[:3])
    np.testing.assert_allclose(after.scores, before.scores, rtol=1e-5, atol=1e-5)
    assert [len(b) for b in after.boxes] == [len(b) for b in before.boxes]
    assert after.boxes[0][0].x == pytest.approx(before.boxes[0][0].x, abs=1e-3)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"openness": "entropy"}, "openness: Input should be"),
        ({"image_size": 100}, "multiple of 32"),
        ({"epochs": 0}, "epochs: Input should be greater"),
        ({"score_threshold": 1.5}, "score_threshold"),
        ({"learning_rate": "fast"}, "learning_rate: Input should be a valid number"),
        ({"device": "tpu"}, "device"),
        ({"anchors": 3}, "unknown parameter"),
    ],
)
def test_bad_params_are_refused(params: dict, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        create_detector("ssd_openset", params)


def test_fit_needs_boxes() -> None:
    detector = create_detector("ssd_openset", PARAMS)
    with pytest.raises(DetectorError, match="needs labelled boxes"):
        detector.fit(IMAGES[:4])
    with pytest.raises(DetectorError, match="box lists for 2 of 4"):
        detector.fit(IMAGES[:4], boxes=BOXES[:2])
    with pytest.raises(DetectorError, match="at least one labelled box"):
        detector.fit(IMAGES[:4], boxes=[[]] * 4)
    with pytest.raises(DetectorError, match="must be fitted"):
        detector.score(IMAGES[:1])


def test_flag_boxes_names_open_boxes_unknown() -> None:
    boxes = [
        DetectedBox("square", 1, 1, 5, 5, confidence=0.9, openness=0.2),
        DetectedBox("circle", 9, 9, 5, 5, confidence=0.4, openness=2.5),
        DetectedBox("circle", 20, 9, 5, 5, confidence=0.05, openness=0.1),
    ]
    shown = flag_boxes(boxes, threshold=1.0, min_confidence=0.3)
    assert [b.label for b in shown] == ["square", UNKNOWN_LABEL]
    assert "unlike every known class" in shown[1].reason and shown[0].reason == ""
    assert [b.label for b in flag_boxes(boxes, threshold=None)] == ["square", "circle"]


def test_fit_and_calibrate_passes_boxes_and_reports_object_metrics() -> None:
    rng = np.random.default_rng(9)
    unknown = [shape_image(rng, ["triangle"]) for _ in range(4)]
    outcome = fit_and_calibrate(
        "ssd_openset",
        {**PARAMS, "epochs": 1},
        IMAGES,
        [image for image, _ in unknown],
        boxes=BOXES,
        anomaly_boxes=[boxes for _, boxes in unknown],
        holdout_fraction=0.25,
    )
    objects = outcome.metrics["objects"]
    assert objects["n_images"] == 4 + 4 and objects["n_unknown_objects"] == 4
    assert objects["map_50"] is not None and 0 <= objects["map_50"] <= 1
    assert objects["unknown_image_auroc"] is not None
    assert 0 <= objects["unknown_recall"] <= 1 and objects["open_set_error"] >= 0
    with pytest.raises(DetectorError, match="box lists for 3 of 16"):
        fit_and_calibrate("ssd_openset", PARAMS, IMAGES, boxes=BOXES[:3])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "detection", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_trains_from_coco_scores_with_boxes_and_evaluates(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    rows = []
    for i, (image, boxes) in enumerate(zip(IMAGES, BOXES, strict=True)):
        cv2.imwrite(str(folder / f"{i}.png"), image)
        rows.append((f"{i}.png", image.shape[1], image.shape[0], boxes))
    cv2.imwrite(str(folder / "unlabelled.png"), IMAGES[0])
    coco = tmp_path / "annotations.json"
    coco.write_text(json.dumps(to_coco([*rows, ("gone.png", 96, 96, [])], ["circle", "square"])))
    model = tmp_path / "ssd.zip"
    params = json.dumps({**PARAMS, "epochs": 1})
    done = _cli(
        "train", "--kind", "ssd_openset", "--data", str(folder), "--coco", str(coco),
        "--params", params, "--out", str(model),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1 images are not in annotations.json" in done.stderr
    assert "1 images of annotations.json not found: gone.png" in done.stderr
    assert "objects" in json.loads(done.stdout.strip().splitlines()[-1])

    done = _cli("score", "--model", str(model), "--json", str(folder / "0.png"))
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)
    assert row["verdict"] in ("normal", "anomalous") and isinstance(row["boxes"], list)
    assert all(
        set(b) >= {"label", "x", "y", "w", "h", "confidence", "openness"} for b in row["boxes"]
    )
    done = _cli("score", "--model", str(model), str(folder / "0.png"))
    assert done.returncode == 0 and done.stdout.startswith("path\tscore\tverdict")

    done = _cli(
        "evaluate", "--model", str(model), "--coco", str(coco), "--images", str(folder), "--json"
    )
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    assert metrics["n_images"] == 16 and metrics["map_50"] is not None

    done = _cli("train", "--kind", "ssd_openset", "--data", str(folder), "--out", str(model))
    assert done.returncode == 2 and "--coco" in done.stderr


def test_boxes_of_labelled_images_survive_the_helper() -> None:
    image, boxes = shape_image(np.random.default_rng(0), ["square", "triangle"])
    assert [b.label for b in boxes] == ["square", "triangle"]
    assert all(isinstance(b, LabelledBox) and b.x + b.w <= image.shape[1] for b in boxes)


def test_unknown_regions_locate_an_object_the_detector_was_not_taught(tmp_path: Path) -> None:
    detector = create_detector("ssd_openset", {**PARAMS, "unknown_regions": True})
    detector.fit(IMAGES, boxes=BOXES)
    median, high = detector.region_scale
    assert high > median
    rng = np.random.default_rng(11)
    triangles = [shape_image(rng, ["triangle"]) for _ in range(4)]
    plain = [shape_image(rng, ["square"])[0] for _ in range(4)]
    result = detector.score([image for image, _ in triangles])
    located = 0
    for (_, truth), boxes in zip(triangles, result.boxes, strict=True):
        regions = [b for b in boxes if b.confidence == 0.0]
        assert all(b.label in detector.classes for b in regions)
        peak = max(b.openness for b in regions)
        located += any(b.openness == peak and iou(b.xyxy, truth[0].xyxy) >= 0.3 for b in regions)
    assert located >= 3  # the map's peak lies on the triangle
    assert result.scores.mean() > detector.score(plain).scores.mean()

    region = DetectedBox("square", 1, 1, 5, 5, confidence=0.0, openness=1.5)
    shown = flag_boxes([region], threshold=1.0)
    assert shown[0].label == UNKNOWN_LABEL
    assert "unlikeness to the training photos" in shown[0].reason
    assert flag_boxes([dataclasses.replace(region, openness=0.5)], threshold=1.0) == []

    path = tmp_path / "ssd.zip"
    detector.save(path)
    loaded = load_detector(path)
    assert loaded.region_scale == (median, high)
    images = [image for image, _ in triangles[:2]]
    np.testing.assert_allclose(loaded.score(images).scores, detector.score(images).scores)
