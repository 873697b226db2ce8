"""COCO object-detection files in and out, and COCO mAP through ``pycocotools``.

COCO ``annotations.json`` is what labelling tools (CVAT, Label Studio, Roboflow) exchange,
so sites import and export boxes in it. :func:`load_coco` reads one into plain
:class:`~detection.objects.LabelledBox` lists keyed by file name, with a
:class:`~detection.objects.BoxError` that says what is wrong with a malformed file;
:func:`to_coco` writes one. :func:`coco_map` is the standard COCO evaluation (mAP@0.5 and
mAP@[.5:.95]) by the reference implementation rather than a hand-written one.

Usage::

    data = load_coco("annotations.json")          # CocoSet
    data.boxes["crazing_1.jpg"]                   # [LabelledBox(...), ...]
    coco = to_coco([(name, w, h, boxes)], data.categories)
    coco_map(coco, {name: detected_boxes})        # {"map_50": .., "map_50_95": ..}
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from detection.objects import BoxError, DetectedBox, LabelledBox, validate_boxes

#: Tolerance (pixels) for boxes that overshoot the image border by rounding in other tools.
BORDER_SLACK = 1.0


@dataclasses.dataclass(frozen=True)
class CocoSet:
    """The boxes of a COCO file: class names (id order), boxes and (width, height) by file."""

    categories: list[str]
    boxes: dict[str, list[LabelledBox]]
    sizes: dict[str, tuple[int, int]]


def _read(source: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        return source
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BoxError(f"cannot read COCO file {path.name}: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BoxError(f"{path.name} is not JSON: {exc}") from exc
    if not isinstance(data, Mapping):
        raise BoxError(f"{path.name} is not a COCO file: expected a JSON object")
    return data


def _list_of_objects(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    if key not in data:
        raise BoxError(f"not a COCO detection file: no {key!r} list")
    items = data[key]
    if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
        raise BoxError(f"COCO {key!r} must be a list of objects")
    return items


def _field(item: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in item:
        raise BoxError(f"{where}: missing {key!r}")
    return item[key]


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def load_coco(source: str | Path | Mapping[str, Any]) -> CocoSet:
    """Read a COCO detection file (path or parsed dict) into boxes keyed by file name.

    Images without annotations get an empty list; crowd annotations are skipped. Boxes that
    overshoot the border by at most :data:`BORDER_SLACK` pixels are clipped (tools round);
    anything else invalid raises :class:`BoxError` naming the annotation.
    """
    data = _read(source)
    images = _list_of_objects(data, "images")
    annotations = _list_of_objects(data, "annotations")
    categories = _list_of_objects(data, "categories")

    names_by_id: dict[Any, str] = {}
    for index, category in enumerate(categories):
        where = f"category {index}"
        cid, name = _field(category, "id", where), _field(category, "name", where)
        if not isinstance(name, str) or not name.strip():
            raise BoxError(f"{where}: name must be a non-empty string")
        if cid in names_by_id:
            raise BoxError(f"{where}: duplicate category id {cid!r}")
        if name.strip() in names_by_id.values():
            raise BoxError(f"{where}: duplicate category name {name!r}")
        names_by_id[cid] = name.strip()
    class_names = list(names_by_id.values())  # file order, or id order when ids are numbers
    if all(isinstance(cid, int) for cid in names_by_id):
        class_names = [names_by_id[cid] for cid in sorted(names_by_id)]

    files: dict[Any, str] = {}
    sizes: dict[str, tuple[int, int]] = {}
    for index, image in enumerate(images):
        where = f"image {index}"
        iid, name = _field(image, "id", where), _field(image, "file_name", where)
        width, height = _field(image, "width", where), _field(image, "height", where)
        if not isinstance(name, str) or not name:
            raise BoxError(f"{where}: file_name must be a non-empty string")
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool) and v > 0
            for v in (width, height)
        ):
            raise BoxError(f"{where} ({name}): width and height must be positive numbers")
        if iid in files:
            raise BoxError(f"{where}: duplicate image id {iid!r}")
        if name in sizes:
            raise BoxError(f"{where}: duplicate file_name {name!r}")
        files[iid] = name
        sizes[name] = (int(width), int(height))

    raw: dict[str, list[dict[str, Any]]] = {name: [] for name in sizes}
    for index, annotation in enumerate(annotations):
        where = f"annotation {index}"
        iid = _field(annotation, "image_id", where)
        cid = _field(annotation, "category_id", where)
        bbox = _field(annotation, "bbox", where)
        if iid not in files:
            raise BoxError(f"{where}: unknown image_id {iid!r}")
        if cid not in names_by_id:
            raise BoxError(f"{where}: unknown category_id {cid!r}")
        if annotation.get("iscrowd"):
            continue
        if (
            not isinstance(bbox, list | tuple)
            or len(bbox) != 4
            or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                for v in bbox
            )
        ):
            raise BoxError(f"{where}: bbox must be 4 numbers [x, y, width, height], not {bbox!r}")
        name = files[iid]
        width, height = sizes[name]
        x, y, w, h = (float(v) for v in bbox)
        if x >= -BORDER_SLACK and x + w <= width + BORDER_SLACK:
            x2 = _clip(x + w, 0, width)
            x = _clip(x, 0, width)
            w = x2 - x
        if y >= -BORDER_SLACK and y + h <= height + BORDER_SLACK:
            y2 = _clip(y + h, 0, height)
            y = _clip(y, 0, height)
            h = y2 - y
        raw[name].append({"label": names_by_id[cid], "x": x, "y": y, "w": w, "h": h})

    boxes: dict[str, list[LabelledBox]] = {}
    for name, items in raw.items():
        width, height = sizes[name]
        try:
            boxes[name] = validate_boxes(items, width=width, height=height, classes=class_names)
        except BoxError as exc:
            raise BoxError(f"{name}: {exc}") from None
    return CocoSet(categories=class_names, boxes=boxes, sizes=sizes)


def to_coco(
    images: Sequence[tuple[str, int, int, Sequence[LabelledBox | DetectedBox]]],
    categories: Sequence[str],
) -> dict[str, Any]:
    """A COCO detection dict of ``(file_name, width, height, boxes)`` images.

    Category ids are 1.. in ``categories`` order; a box of another class raises
    :class:`BoxError` (export is only of classes the site defines).
    """
    ids = {name: index + 1 for index, name in enumerate(categories)}
    if len(ids) != len(categories):
        raise BoxError("duplicate category names")
    out_images: list[dict[str, Any]] = []
    out_annotations: list[dict[str, Any]] = []
    for image_id, (file_name, width, height, boxes) in enumerate(images, start=1):
        out_images.append(
            {"id": image_id, "file_name": file_name, "width": int(width), "height": int(height)}
        )
        for box in boxes:
            if box.label not in ids:
                raise BoxError(f"{file_name}: box of class {box.label!r} not in the categories")
            out_annotations.append(
                {
                    "id": len(out_annotations) + 1,
                    "image_id": image_id,
                    "category_id": ids[box.label],
                    "bbox": [box.x, box.y, box.w, box.h],
                    "area": box.w * box.h,
                    "iscrowd": 0,
                }
            )
    return {
        "images": out_images,
        "annotations": out_annotations,
        "categories": [{"id": ids[name], "name": name} for name in categories],
    }


def coco_map(
    ground_truth: Mapping[str, Any] | CocoSet,
    predictions: Mapping[str, Sequence[DetectedBox]],
) -> dict[str, float | None]:
    """COCO mAP@0.5 and mAP@[.5:.95] of ``predictions`` (by file name) on ``ground_truth``.

    ``ground_truth`` is a COCO dict (as :func:`to_coco` makes) or a :class:`CocoSet`; each
    prediction's ``confidence`` ranks it. Predicted boxes of a class not in the ground
    truth's categories (e.g. ``"unknown"``) are left out, as are files not in it. Classes
    without any ground-truth box do not count (COCO's rule); ``None`` when no class has one.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if isinstance(ground_truth, CocoSet):
        ground_truth = to_coco(
            [
                (name, *ground_truth.sizes[name], ground_truth.boxes.get(name, []))
                for name in ground_truth.sizes
            ],
            ground_truth.categories,
        )
    dataset = json.loads(json.dumps(ground_truth))  # pycocotools mutates what it is given
    dataset.setdefault("info", {})
    for annotation in dataset["annotations"]:
        annotation.setdefault("area", annotation["bbox"][2] * annotation["bbox"][3])
        annotation.setdefault("iscrowd", 0)
    if not dataset["annotations"]:
        return {"map_50": None, "map_50_95": None}
    image_ids = {image["file_name"]: image["id"] for image in dataset["images"]}
    category_ids = {category["name"]: category["id"] for category in dataset["categories"]}
    results = [
        {
            "image_id": image_ids[name],
            "category_id": category_ids[box.label],
            "bbox": [box.x, box.y, box.w, box.h],
            "score": float(box.confidence),
        }
        for name, boxes in predictions.items()
        if name in image_ids
        for box in boxes
        if box.label in category_ids
    ]
    if not results:
        return {"map_50": 0.0, "map_50_95": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        truth = COCO()
        truth.dataset = dataset
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(results), iouType="bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    map_50_95, map_50 = (float(v) for v in evaluation.stats[:2])
    return {
        "map_50": None if map_50 < 0 else map_50,
        "map_50_95": None if map_50_95 < 0 else map_50_95,
    }
