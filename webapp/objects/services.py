"""Writes on object classes and boxes: the class list, labelling, COCO in and out, and
what scoring and review make of detected objects.

Rules kept here:

* Class names are unique per site, ignoring case; ``unknown`` is reserved (it is what a
  detected object of no known class is called). A class that still has boxes cannot be
  deleted (409): relabel or delete its boxes first.
* ``PUT`` of an asset's boxes replaces them all or nothing: when any box is invalid the
  whole request is refused with every bad box named by its index, and the stored boxes
  stay as they were (the labelling page keeps what was drawn and marks the bad boxes).
* COCO import replaces the boxes of each image it matches (by file name, else by base name
  when that is unique on the site); names it cannot match, or whose size differs from the
  stored image's, are reported and skipped, never fatal. Missing categories become classes.
* A detected object is *unknown* when its openness is above the version's threshold
  (:func:`detection.objects.flag_boxes`); the site's rules count the known ones.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from detection.coco import load_coco, to_coco
from detection.objects import (
    UNKNOWN_LABEL,
    BoxError,
    DetectedBox,
    LabelledBox,
    flag_boxes,
    rule_violations,
    validate_boxes,
)
from webapp.assets.models import Asset
from webapp.common.errors import Conflict
from webapp.objects import selectors
from webapp.objects.models import Box, ObjectClass, colour_validator
from webapp.review.models import Flag, Score
from webapp.sites.models import Site

#: Colours given to new classes in turn (matplotlib's tab10: distinct, readable on photos).
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
MAX_BOXES_PER_IMAGE = 500


class BoxesRefused(ValidationError):
    """Some boxes of a request are invalid: ``errors`` maps each bad box's index to why."""

    def __init__(self, errors: Mapping[int, str], total: int) -> None:
        self.errors = dict(errors)
        self.total = total
        listed = "; ".join(self.errors.values())
        super().__init__(
            f"{len(self.errors)} of {total} boxes refused, nothing was saved: {listed}"
        )


# --- classes ---------------------------------------------------------------------------


def _clean_name(name: str) -> str:
    name = " ".join(str(name).split())
    if not name:
        raise ValidationError({"name": "a class needs a name."})
    if len(name) > 100:
        raise ValidationError({"name": "a class name has at most 100 characters."})
    if name.lower() == UNKNOWN_LABEL:
        raise ValidationError(
            {"name": f"'{UNKNOWN_LABEL}' is reserved for objects of no known class."}
        )
    return name


def _check_unique(site: Site, name: str, exclude_id: int | None = None) -> None:
    clash = ObjectClass.objects.filter(site=site, name__iexact=name).exclude(pk=exclude_id)
    if clash.exists():
        raise ValidationError({"name": f"this site already has a class named '{name}'."})


def _clean_colour(colour: str) -> str:
    try:
        colour_validator(colour)
    except ValidationError:
        raise ValidationError({"colour": "a colour is #rrggbb, e.g. #1f77b4."}) from None
    return colour.lower()


def next_colour(site: Site) -> str:
    """The palette colour the site's next class gets."""
    return PALETTE[ObjectClass.objects.filter(site=site).count() % len(PALETTE)]


@transaction.atomic
def create_class(
    *,
    site: Site,
    name: str,
    colour: str | None = None,
    expected: int | None = None,
    forbidden: bool = False,
) -> ObjectClass:
    name = _clean_name(name)
    Site.objects.select_for_update().filter(pk=site.pk).first()  # one creator at a time
    _check_unique(site, name)
    if expected is not None and forbidden:
        raise ValidationError({"expected": "a forbidden class cannot also have an expected count."})
    return ObjectClass.objects.create(
        site=site,
        name=name,
        colour=_clean_colour(colour) if colour else next_colour(site),
        expected=expected,
        forbidden=forbidden,
    )


_UNSET: Any = object()


@transaction.atomic
def update_class(
    *,
    object_class: ObjectClass,
    name: str = _UNSET,
    colour: str = _UNSET,
    expected: int | None = _UNSET,
    forbidden: bool = _UNSET,
) -> ObjectClass:
    """Change what is given; a rename applies to every box of the class at once."""
    if name is not _UNSET:
        name = _clean_name(name)
        _check_unique(object_class.site, name, exclude_id=object_class.pk)
        object_class.name = name
    if colour is not _UNSET:
        object_class.colour = _clean_colour(colour)
    if expected is not _UNSET:
        object_class.expected = expected
    if forbidden is not _UNSET:
        object_class.forbidden = forbidden
    if object_class.expected is not None and object_class.forbidden:
        raise ValidationError({"expected": "a forbidden class cannot also have an expected count."})
    object_class.save()
    return object_class


@transaction.atomic
def delete_class(*, object_class: ObjectClass) -> None:
    n_boxes = Box.objects.filter(object_class=object_class).count()
    if n_boxes:
        raise Conflict(
            f"Class '{object_class.name}' still has {n_boxes} box{'es' if n_boxes > 1 else ''}; "
            "relabel or delete them first."
        )
    object_class.delete()


# --- boxes -----------------------------------------------------------------------------


def _validate_each(raw: Any, *, asset: Asset, classes: Sequence[str]) -> list[LabelledBox]:
    """Every box checked on its own, so that all the bad ones are named, not just the first."""
    if not isinstance(raw, list):
        raise ValidationError({"boxes": "send a list of {label, x, y, w, h} objects."})
    if len(raw) > MAX_BOXES_PER_IMAGE:
        raise ValidationError(
            {"boxes": f"at most {MAX_BOXES_PER_IMAGE} boxes per image, not {len(raw)}."}
        )
    good: list[LabelledBox] = []
    errors: dict[int, str] = {}
    for index, box in enumerate(raw):
        try:
            good.extend(
                validate_boxes([box], width=asset.width, height=asset.height, classes=classes)
            )
        except BoxError as exc:
            # validate_boxes names the box by its place in the list it was given (0 here)
            errors[index] = f"box {index}: {str(exc).removeprefix('box 0: ')}"
    if errors:
        raise BoxesRefused(errors, total=len(raw))
    return good


def _class_ids(site: Site) -> dict[str, int]:
    return dict(ObjectClass.objects.filter(site=site).values_list("name", "id"))


def _replace_boxes(
    asset: Asset, boxes: Iterable[LabelledBox], ids: Mapping[str, int], user: Any
) -> None:
    Box.objects.filter(asset=asset).delete()
    Box.objects.bulk_create(
        Box(
            asset=asset,
            object_class_id=ids[box.label],
            x=box.x,
            y=box.y,
            w=box.w,
            h=box.h,
            created_by=user,
        )
        for box in boxes
    )


@transaction.atomic
def set_boxes(*, asset: Asset, boxes: Any, user: AbstractBaseUser | None) -> list[Box]:
    """Replace all the boxes of ``asset``; all or nothing (see the module's rules)."""
    ids = _class_ids(asset.site)
    valid = _validate_each(boxes, asset=asset, classes=list(ids))
    _replace_boxes(asset, valid, ids, user)
    return selectors.boxes_of(asset)


# --- COCO ------------------------------------------------------------------------------


@dataclasses.dataclass
class CocoImport:
    #: [{file_name, asset, boxes}] for each image of the file given boxes on the site
    matched: list[dict[str, Any]]
    #: file names of the file that match no image of the site
    unmatched: list[str]
    #: [{file_name, error}] for names that match but cannot be used (size, ambiguity)
    skipped: list[dict[str, str]]
    #: classes created for categories the site did not have
    created_classes: list[str]


def parse_coco_bytes(data: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ValidationError({"file": "the annotations file is not UTF-8 text."}) from None
    except json.JSONDecodeError as exc:
        raise ValidationError({"file": f"the annotations file is not JSON: {exc}"}) from None
    if not isinstance(parsed, dict):
        raise ValidationError({"file": "not a COCO file: expected a JSON object."})
    return parsed


def _match_assets(site: Site, names: Iterable[str]) -> tuple[dict[str, Asset], list[str], list]:
    assets = list(Asset.objects.filter(site=site).order_by("id"))
    by_name: dict[str, list[Asset]] = {}
    by_base: dict[str, list[Asset]] = {}
    for asset in assets:
        by_name.setdefault(asset.filename, []).append(asset)
        by_base.setdefault(PurePosixPath(asset.filename).name, []).append(asset)
    matched: dict[str, Asset] = {}
    unmatched: list[str] = []
    skipped: list[dict[str, str]] = []
    taken: dict[int, str] = {}
    for name in names:
        candidates = by_name.get(name) or by_base.get(PurePosixPath(name).name, [])
        if not candidates:
            unmatched.append(name)
            continue
        if len(candidates) > 1:
            skipped.append(
                {
                    "file_name": name,
                    "error": f"{len(candidates)} images of this site are named "
                    f"{PurePosixPath(name).name}; give the full path as uploaded",
                }
            )
            continue
        asset = candidates[0]
        if asset.pk in taken:
            skipped.append(
                {"file_name": name, "error": f"matches the same image as {taken[asset.pk]}"}
            )
            continue
        taken[asset.pk] = name
        matched[name] = asset
    return matched, unmatched, skipped


@transaction.atomic
def import_coco(
    *, site: Site, coco: Mapping[str, Any], user: AbstractBaseUser | None
) -> CocoImport:
    """Give the site's images the boxes of a COCO detection file (see the module's rules)."""
    try:
        data = load_coco(coco)
    except BoxError as exc:
        raise ValidationError({"file": f"not a usable COCO file: {exc}"}) from None
    matched, unmatched, skipped = _match_assets(site, data.sizes)
    existing = {name.lower(): name for name in _class_ids(site)}
    created: list[str] = []
    for category in data.categories:
        if category.lower() not in existing:
            create_class(site=site, name=category)
            existing[category.lower()] = category
            created.append(category)
    ids = {name.lower(): pk for name, pk in _class_ids(site).items()}
    rows: list[dict[str, Any]] = []
    for name, asset in matched.items():
        width, height = data.sizes[name]
        if (width, height) != (asset.width, asset.height):
            skipped.append(
                {
                    "file_name": name,
                    "error": f"the file says {width}x{height} but the image is "
                    f"{asset.width}x{asset.height}",
                }
            )
            continue
        boxes = data.boxes.get(name, [])
        Box.objects.filter(asset=asset).delete()
        Box.objects.bulk_create(
            Box(
                asset=asset,
                object_class_id=ids[box.label.lower()],
                x=box.x,
                y=box.y,
                w=box.w,
                h=box.h,
                created_by=user,
            )
            for box in boxes
        )
        rows.append({"file_name": name, "asset": asset.pk, "boxes": len(boxes)})
    return CocoImport(matched=rows, unmatched=unmatched, skipped=skipped, created_classes=created)


def export_coco(*, site: Site) -> dict[str, Any]:
    """Every image of the site with its boxes, as a COCO detection dict (class order = ids)."""
    assets = list(Asset.objects.filter(site=site).order_by("id"))
    boxes = selectors.labelled_boxes(assets)
    images = [
        (asset.filename, asset.width, asset.height, asset_boxes)
        for asset, asset_boxes in zip(assets, boxes, strict=True)
    ]
    return to_coco(images, selectors.class_names(site))


# --- detected objects: scoring and review ------------------------------------------------


def describe_detections(
    *,
    site: Site,
    threshold: float | None,
    boxes: Sequence[Sequence[DetectedBox]],
    min_confidence: float = 0.3,
) -> list[dict[str, Any]]:
    """What each image's detected objects mean for the site, stored on its score.

    ``{"boxes": [{label, nearest_class, x, y, w, h, confidence, openness, unknown,
    reason}], "reasons": [...]}`` per image. :func:`detection.objects.flag_boxes` decides
    what is shown: a candidate whose openness is above ``threshold`` is ``unknown``, one
    the detector is at least ``min_confidence`` sure of is that known class, weak ones are
    dropped. ``reasons`` are the site's rules broken by the known objects (a forbidden class
    seen, a count other than expected); they flag the image whatever its score.
    """
    rules = selectors.class_rules(site)
    forbidden = {name for name, rule in rules.items() if rule.forbidden}
    details = []
    for image_boxes in boxes:
        described = []
        for candidate in image_boxes:
            shown = flag_boxes([candidate], threshold=threshold, min_confidence=min_confidence)
            if not shown:
                continue
            box = shown[0]
            unknown = box.label == UNKNOWN_LABEL
            reason = box.reason
            if not unknown and box.label in forbidden and not reason:
                reason = f"forbidden class {box.label!r}"
            described.append(
                {
                    "label": box.label,
                    "nearest_class": candidate.label,
                    "x": float(box.x),
                    "y": float(box.y),
                    "w": float(box.w),
                    "h": float(box.h),
                    "confidence": float(box.confidence),
                    "openness": float(box.openness),
                    "unknown": unknown,
                    "reason": reason,
                }
            )
        seen = [b["label"] for b in described if not b["unknown"]]
        details.append({"boxes": described, "reasons": rule_violations(seen, rules)})
    return details


@transaction.atomic
def name_detected_object(
    *,
    flag: Flag,
    box_index: int,
    label: str,
    user: AbstractBaseUser | None,
    may_create_class: bool,
) -> Box:
    """A reviewer says what a detected object is: it becomes a labelled box of the asset.

    The next version trains on it when the asset is normal (a rejected flag), so an unknown
    object today is a known class tomorrow. A name that is not a class yet is created only
    when ``may_create_class`` (site admins); others pick one of the site's classes.
    """
    score = Score.objects.select_for_update().select_related("asset").get(pk=flag.score_id)
    detected = (score.details or {}).get("boxes") or []
    if not 0 <= box_index < len(detected):
        raise ValidationError({"box": f"this flag has no box {box_index}."})
    name = _clean_name(label)
    site = flag.site
    object_class = ObjectClass.objects.filter(site=site, name__iexact=name).first()
    if object_class is None:
        if not may_create_class:
            choices = ", ".join(selectors.class_names(site)) or "none yet"
            raise ValidationError(
                {
                    "label": f"'{name}' is not a class of this site (classes: {choices}); "
                    "only an admin can add a class."
                }
            )
        object_class = create_class(site=site, name=name)
    asset = score.asset
    raw = detected[box_index]
    x0, y0 = max(0.0, float(raw["x"])), max(0.0, float(raw["y"]))
    x1 = min(float(asset.width), float(raw["x"]) + float(raw["w"]))
    y1 = min(float(asset.height), float(raw["y"]) + float(raw["h"]))
    if x1 <= x0 or y1 <= y0:
        raise ValidationError({"box": f"box {box_index} lies outside the image."})
    box = Box.objects.create(
        asset=asset, object_class=object_class, x=x0, y=y0, w=x1 - x0, h=y1 - y0, created_by=user
    )
    detected[box_index] = {**raw, "named_as": object_class.name}
    score.details = {**score.details, "boxes": detected}
    score.save(update_fields=["details"])
    return box
