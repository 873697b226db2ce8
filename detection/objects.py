"""Objects in images: labelled and detected boxes, their validation, site rules, openness.

Everything that knows what a bounding box is, without torch or Django, so the web app (API,
labelling page, review queue), the CLI and the ``ssd_openset`` kind share one definition:

* :class:`LabelledBox` is what a person drew, :class:`DetectedBox` what a detector found;
  both in image pixels, ``x``/``y`` the top-left corner, ``w``/``h`` the size.
* :func:`validate_boxes` turns untrusted ``[{label, x, y, w, h}]`` (API, COCO files) into
  boxes or raises :class:`BoxError` naming the offending box.
* :class:`ClassRule` and :func:`rule_violations`: a site's ``forbidden`` classes and
  ``expected`` counts per image, checked on the labels a detector saw, with plain reasons.
* :func:`energy_score` and :func:`max_softmax_score`: how unlike every known class a row of
  class logits is (higher = more open), shared with ``classifier_openset``.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from detection.base import DetectorError

#: The label a caller gives a detected box whose openness is above the threshold.
UNKNOWN_LABEL = "unknown"
BOX_FIELDS = ("x", "y", "w", "h")


class BoxError(DetectorError, ValueError):
    """A box (or a file of boxes) is malformed; the message names which one and why."""


@dataclasses.dataclass(frozen=True)
class LabelledBox:
    """A box a person drew: class name and its rectangle in image pixels (x, y = top-left)."""

    label: str
    x: float
    y: float
    w: float
    h: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.x + self.w, self.y + self.h)


@dataclasses.dataclass(frozen=True)
class DetectedBox:
    """A box a detector found, in image pixels.

    ``label`` is the most likely known class, or :data:`UNKNOWN_LABEL` when the caller found
    the box's ``openness`` above its calibrated threshold; ``confidence`` is the detector's
    belief that the box holds that class; ``openness`` is higher the more unlike every known
    class the object looks; ``reason`` says in words why it was flagged (empty when not).
    """

    label: str
    x: float
    y: float
    w: float
    h: float
    confidence: float
    openness: float
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.x + self.w, self.y + self.h)


def _number(box: Mapping[str, Any], name: str, index: int) -> float:
    if name not in box:
        raise BoxError(f"box {index}: missing field {name!r}")
    value = box[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BoxError(f"box {index}: {name} must be a number, not {value!r}")
    if not math.isfinite(value):
        raise BoxError(f"box {index}: {name} must be a finite number, not {value!r}")
    return float(value)


def validate_boxes(
    boxes: Sequence[Mapping[str, Any] | LabelledBox],
    *,
    width: float,
    height: float,
    classes: Collection[str],
) -> list[LabelledBox]:
    """Boxes from untrusted input, checked against the image size and the site's classes.

    Each box needs a known ``label`` and numeric ``x, y, w, h`` with a positive size lying
    inside the ``width`` x ``height`` image (touching the border is fine). The first bad box
    raises :class:`BoxError` naming its index, so nothing half-valid is ever stored.
    """
    if not isinstance(boxes, Sequence) or isinstance(boxes, str | bytes):
        raise BoxError("boxes must be a list of {label, x, y, w, h} objects")
    known = set(classes)
    out: list[LabelledBox] = []
    for index, raw in enumerate(boxes):
        box = raw.to_dict() if isinstance(raw, LabelledBox) else raw
        if not isinstance(box, Mapping):
            raise BoxError(f"box {index}: must be an object with label, x, y, w, h")
        label = box.get("label")
        if not isinstance(label, str) or not label.strip():
            raise BoxError(f"box {index}: missing or empty field 'label'")
        label = label.strip()
        if label not in known:
            choices = ", ".join(sorted(known)) or "none defined"
            raise BoxError(f"box {index}: unknown class {label!r} (classes: {choices})")
        x, y, w, h = (_number(box, name, index) for name in BOX_FIELDS)
        if w <= 0 or h <= 0:
            raise BoxError(f"box {index}: width and height must be positive, got {w} x {h}")
        if x < 0 or y < 0 or x + w > width or y + h > height:
            raise BoxError(
                f"box {index}: ({x:g}, {y:g}, {w:g} x {h:g}) lies outside the "
                f"{width:g} x {height:g} image"
            )
        out.append(LabelledBox(label, x, y, w, h))
    return out


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) rectangles."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


# -- site rules -------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ClassRule:
    """What a site expects of one class per image: an exact count, or never to see it."""

    expected: int | None = None
    forbidden: bool = False

    def __post_init__(self) -> None:
        if self.expected is not None and (
            isinstance(self.expected, bool)
            or not isinstance(self.expected, int)
            or self.expected < 0
        ):
            raise BoxError("expected must be a whole number of 0 or more, or empty")
        if not isinstance(self.forbidden, bool):
            raise BoxError("forbidden must be true or false")


def rule_violations(labels_seen: Sequence[str], rules: Mapping[str, ClassRule]) -> list[str]:
    """Plain-language reasons why the labels seen in one image break the site's rules.

    ``labels_seen`` holds one label per detected object (repeats count). Classes are
    reported in name order so the same image always gets the same text.
    """
    counts = Counter(labels_seen)
    reasons: list[str] = []
    for name in sorted(rules):
        rule = rules[name]
        seen = counts.get(name, 0)
        if rule.forbidden and seen:
            reasons.append(f"forbidden class {name!r} seen ({seen})")
        elif rule.expected is not None and seen != rule.expected:
            reasons.append(f"expected {rule.expected} {name!r}, saw {seen}")
    return reasons


# -- openness of class logits ---------------------------------------------------------------
def _log_sum_exp(scaled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logsumexp per row, max per row), computed stably."""
    peak = scaled.max(axis=-1)
    return peak + np.log(np.exp(scaled - peak[..., None]).sum(axis=-1)), peak


def _as_logits(logits: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    array = np.asarray(logits, dtype=np.float64)
    if array.ndim < 1 or array.shape[-1] < 1:
        raise ValueError("logits need at least one class column")
    return array


def energy_score(
    logits: np.ndarray | Sequence[Sequence[float]], temperature: float = 1.0
) -> np.ndarray:
    """``-T * logsumexp(logits / T)`` per row: little total evidence for any class = high.

    Liu et al., "Energy-based out-of-distribution detection", NeurIPS 2020.
    """
    scaled = _as_logits(logits) / float(temperature)
    return -float(temperature) * _log_sum_exp(scaled)[0]


def max_softmax_score(
    logits: np.ndarray | Sequence[Sequence[float]], temperature: float = 1.0
) -> np.ndarray:
    """``1 - max softmax(logits / T)`` per row, in [0, 1): no class clearly wins = high.

    Hendrycks & Gimpel, "A baseline for detecting misclassified and out-of-distribution
    examples in neural networks", ICLR 2017.
    """
    log_sum_exp, peak = _log_sum_exp(_as_logits(logits) / float(temperature))
    return 1.0 - np.exp(peak - log_sum_exp)


def flag_boxes(
    boxes: Sequence[DetectedBox], *, threshold: float | None, min_confidence: float = 0.3
) -> list[DetectedBox]:
    """What a reviewer should see of a detector's boxes, given the calibrated threshold.

    A box whose openness is above ``threshold`` becomes :data:`UNKNOWN_LABEL` with a reason;
    other boxes are kept as their known class when the detector is at least
    ``min_confidence`` sure of it, and dropped otherwise (weak background candidates).
    Without a threshold (none calibrated yet) nothing is called unknown.
    """
    shown: list[DetectedBox] = []
    for box in boxes:
        if threshold is not None and box.openness > threshold:
            closest = (
                f"closest: {box.label!r} at {box.confidence:.0%}"
                if box.confidence > 0
                else f"found by unlikeness to the training photos, near a {box.label!r}"
            )
            reason = (
                f"unlike every known class (openness {box.openness:.3g} > {threshold:.3g}; "
                f"{closest})"
            )
            shown.append(dataclasses.replace(box, label=UNKNOWN_LABEL, reason=reason))
        elif box.confidence >= min_confidence:
            shown.append(box)
    return shown
