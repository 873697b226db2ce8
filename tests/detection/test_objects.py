"""Boxes, site rules and the openness scores of class logits (``detection.objects``)."""

from __future__ import annotations

import numpy as np
import pytest

from detection.objects import (
    BoxError,
    ClassRule,
    LabelledBox,
    energy_score,
    iou,
    max_softmax_score,
    rule_violations,
    validate_boxes,
)

CLASSES = ("bottle", "person")


def check(boxes: list, width: int = 100, height: int = 80) -> list[LabelledBox]:
    return validate_boxes(boxes, width=width, height=height, classes=CLASSES)


def test_valid_boxes_become_labelled_boxes() -> None:
    boxes = check(
        [
            {"label": "bottle", "x": 0, "y": 0, "w": 100, "h": 80},
            LabelledBox("person", 1.5, 2, 3, 4),
        ]
    )
    assert boxes == [LabelledBox("bottle", 0, 0, 100, 80), LabelledBox("person", 1.5, 2, 3, 4)]
    assert boxes[1].xyxy == (1.5, 2, 4.5, 6)
    assert check([]) == []


@pytest.mark.parametrize(
    ("box", "message"),
    [
        (
            {"label": "bottle", "x": 90, "y": 0, "w": 20, "h": 10},
            "box 1: .* outside the 100 x 80 image",
        ),
        ({"label": "bottle", "x": -1, "y": 0, "w": 5, "h": 5}, "box 1: .* outside"),
        ({"label": "bottle", "x": 0, "y": 75, "w": 5, "h": 6}, "box 1: .* outside"),
        (
            {"label": "bottle", "x": 0, "y": 0, "w": 0, "h": 5},
            "box 1: width and height must be positive",
        ),
        (
            {"label": "bottle", "x": 0, "y": 0, "w": 5, "h": -2},
            "box 1: width and height must be positive",
        ),
        ({"label": "dog", "x": 0, "y": 0, "w": 5, "h": 5}, "box 1: unknown class 'dog'"),
        ({"x": 0, "y": 0, "w": 5, "h": 5}, "box 1: missing or empty field 'label'"),
        ({"label": "bottle", "y": 0, "w": 5, "h": 5}, "box 1: missing field 'x'"),
        ({"label": "bottle", "x": "3", "y": 0, "w": 5, "h": 5}, "box 1: x must be a number"),
        ({"label": "bottle", "x": True, "y": 0, "w": 5, "h": 5}, "box 1: x must be a number"),
        (
            {"label": "bottle", "x": float("nan"), "y": 0, "w": 5, "h": 5},
            "box 1: x must be a finite",
        ),
        ("bottle", "box 1: must be an object"),
    ],
)
def test_bad_boxes_are_refused_naming_the_box(box: object, message: str) -> None:
    good = {"label": "person", "x": 1, "y": 1, "w": 5, "h": 5}
    with pytest.raises(BoxError, match=message):
        check([good, box])


def test_boxes_must_be_a_list() -> None:
    with pytest.raises(BoxError, match="must be a list"):
        validate_boxes("boxes", width=10, height=10, classes=CLASSES)  # type: ignore[arg-type]


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (10, 10, 20, 20)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)


def test_forbidden_and_expected_count_rules() -> None:
    rules = {
        "bottle": ClassRule(expected=3),
        "person": ClassRule(forbidden=True),
        "cap": ClassRule(),
    }
    assert rule_violations(["bottle"] * 3, rules) == []
    assert rule_violations(["bottle", "bottle", "person"], rules) == [
        "expected 3 'bottle', saw 2",
        "forbidden class 'person' seen (1)",
    ]
    assert rule_violations([], {"bottle": ClassRule(expected=0)}) == []
    assert rule_violations(["bottle"] * 4, rules) == ["expected 3 'bottle', saw 4"]
    assert rule_violations(["unknown", "cap"], {}) == []


def test_rule_values_are_checked() -> None:
    with pytest.raises(BoxError, match="expected"):
        ClassRule(expected=-1)
    with pytest.raises(BoxError, match="expected"):
        ClassRule(expected=1.5)  # type: ignore[arg-type]
    with pytest.raises(BoxError, match="forbidden"):
        ClassRule(forbidden="yes")  # type: ignore[arg-type]


def test_openness_scores_on_toy_logits() -> None:
    logits = np.array([[10.0, 0.0, 0.0], [0.0, 0.0, 0.0], [-5.0, -5.0, -5.0]])
    energy = energy_score(logits)
    assert energy == pytest.approx([-(10 + np.log(1 + 2 * np.exp(-10))), -np.log(3), 5 - np.log(3)])
    assert energy[0] < energy[1] < energy[2]  # less evidence for any class = more open
    softmax = max_softmax_score(logits)
    assert softmax == pytest.approx([1 - 1 / (1 + 2 * np.exp(-10)), 2 / 3, 2 / 3])
    # max softmax ignores the scale of the evidence; energy does not
    assert softmax[1] == pytest.approx(softmax[2])
    assert energy_score([[2.0, 0.0]], temperature=2.0) == pytest.approx([-2 * np.log(np.e + 1)])
    assert max_softmax_score([[1000.0, 0.0]]) == pytest.approx([0.0])  # stable, no overflow
