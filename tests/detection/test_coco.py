"""COCO import/export round trip, malformed files and pycocotools mAP (``detection.coco``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detection.coco import CocoSet, coco_map, load_coco, to_coco
from detection.objects import BoxError, DetectedBox, LabelledBox

CATEGORIES = ["square", "circle"]
IMAGES = [
    ("a.jpg", 64, 48, [LabelledBox("square", 1, 2, 10, 12), LabelledBox("circle", 30, 20, 8.5, 8)]),
    ("b.png", 100, 100, [LabelledBox("circle", 0, 0, 100, 100)]),
    ("empty.jpg", 32, 32, []),
]


def detected(box: LabelledBox, confidence: float = 0.9, dx: float = 0.0) -> DetectedBox:
    return DetectedBox(box.label, box.x + dx, box.y, box.w, box.h, confidence, 0.0)


def test_round_trip_through_a_file(tmp_path: Path) -> None:
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(to_coco(IMAGES, CATEGORIES)))
    loaded = load_coco(path)
    assert loaded == CocoSet(
        categories=CATEGORIES,
        boxes={name: boxes for name, _, _, boxes in IMAGES},
        sizes={name: (w, h) for name, w, h, _ in IMAGES},
    )
    again = to_coco([(n, *loaded.sizes[n], loaded.boxes[n]) for n in loaded.sizes], CATEGORIES)
    assert again == to_coco(IMAGES, CATEGORIES)


def test_categories_follow_ids_and_crowd_and_rounding_are_handled() -> None:
    data = {
        "images": [{"id": 7, "file_name": "x.jpg", "width": 50, "height": 40}],
        "categories": [{"id": 3, "name": "b"}, {"id": 1, "name": "a"}],
        "annotations": [
            {"image_id": 7, "category_id": 1, "bbox": [-0.5, 0, 50.5, 40]},
            {"image_id": 7, "category_id": 3, "bbox": [0, 0, 5, 5], "iscrowd": 1},
        ],
    }
    loaded = load_coco(data)
    assert loaded.categories == ["a", "b"]
    assert loaded.boxes == {"x.jpg": [LabelledBox("a", 0, 0, 50, 40)]}


def base() -> dict:
    return to_coco(IMAGES, CATEGORIES)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("images"), "no 'images' list"),
        (lambda d: d.pop("annotations"), "no 'annotations' list"),
        (lambda d: d.update(categories="x"), "'categories' must be a list"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), "annotation 0: bbox must be 4"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2, "3", 4]), "annotation 0: bbox must be 4"),
        (
            lambda d: d["annotations"][1].update(category_id=99),
            "annotation 1: unknown category_id 99",
        ),
        (lambda d: d["annotations"][1].update(image_id=99), "annotation 1: unknown image_id 99"),
        (lambda d: d["annotations"][1].pop("bbox"), "annotation 1: missing 'bbox'"),
        (lambda d: d["annotations"][0].update(bbox=[60, 0, 10, 10]), "a.jpg: box 0: .* outside"),
        (
            lambda d: d["annotations"][0].update(bbox=[0, 0, 0, 10]),
            "a.jpg: box 0: width and height",
        ),
        (lambda d: d["images"][1].update(file_name="a.jpg"), "duplicate file_name 'a.jpg'"),
        (lambda d: d["images"][0].pop("width"), "image 0: missing 'width'"),
        (lambda d: d["categories"].append({"id": 9, "name": "square"}), "duplicate category name"),
    ],
)
def test_malformed_files_raise_clear_errors(change, message: str) -> None:
    data = base()
    change(data)
    with pytest.raises(BoxError, match=message):
        load_coco(data)


def test_unreadable_and_non_json_files(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(BoxError, match=r"bad\.json is not JSON"):
        load_coco(path)
    path.write_text("[1, 2]")
    with pytest.raises(BoxError, match="expected a JSON object"):
        load_coco(path)
    with pytest.raises(BoxError, match="cannot read"):
        load_coco(tmp_path / "missing.json")


def test_export_refuses_unknown_classes() -> None:
    with pytest.raises(BoxError, match="'triangle' not in the categories"):
        to_coco([("a.jpg", 10, 10, [LabelledBox("triangle", 0, 0, 5, 5)])], CATEGORIES)


def test_coco_map_on_hand_made_predictions() -> None:
    truth = base()
    perfect = {name: [detected(b) for b in boxes] for name, _, _, boxes in IMAGES}
    assert coco_map(truth, perfect) == {"map_50": 1.0, "map_50_95": 1.0}
    assert coco_map(load_coco(truth), perfect) == {"map_50": 1.0, "map_50_95": 1.0}
    # unknown-class boxes and files outside the ground truth are left out
    extra = {**perfect, "a.jpg": [*perfect["a.jpg"], detected(LabelledBox("unknown", 0, 0, 5, 5))]}
    extra["other.jpg"] = perfect["b.png"]
    assert coco_map(truth, extra) == {"map_50": 1.0, "map_50_95": 1.0}
    # the small square shifted by 4 of its 10 pixels: IoU 6/14 < 0.5, a miss at every IoU
    shifted = {**perfect, "a.jpg": [detected(IMAGES[0][3][0], dx=4), perfect["a.jpg"][1]]}
    result = coco_map(truth, shifted)
    assert result["map_50"] == pytest.approx(0.5, abs=0.01)  # square AP 0, circle AP 1
    assert coco_map(truth, {}) == {"map_50": 0.0, "map_50_95": 0.0}
    assert coco_map(to_coco([("e.jpg", 9, 9, [])], CATEGORIES), perfect) == {
        "map_50": None,
        "map_50_95": None,
    }
