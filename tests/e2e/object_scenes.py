"""Labelled scenes for the object end-to-end test: red squares and blue circles are the
site's known classes, green triangles the unknown object, on a noisy grey ground."""

from __future__ import annotations

import cv2
import numpy as np

from detection.objects import LabelledBox

SIZE = 128
COLOURS = {"square": (40, 40, 220), "circle": (220, 90, 30), "triangle": (40, 200, 60)}  # BGR


def scene(seed: int, shapes: list[str], size: int = SIZE) -> tuple[np.ndarray, list[LabelledBox]]:
    """A BGR image with one filled shape per name (apart, 30-44 px), and a box around each."""
    rng = np.random.default_rng(seed)
    image = rng.normal(120, 10, (size, size, 3)).clip(0, 255).astype(np.uint8)
    boxes: list[LabelledBox] = []
    for name in shapes:
        for _ in range(100):  # somewhere it overlaps no earlier shape
            side = int(rng.integers(30, 45))
            x, y = (int(v) for v in rng.integers(4, size - side - 4, size=2))
            if all(
                x + side + 4 < b.x or b.x + b.w + 4 < x or y + side + 4 < b.y or b.y + b.h + 4 < y
                for b in boxes
            ):
                break
        jitter = rng.integers(-25, 26, size=3)
        colour = tuple(int(c) for c in np.clip(np.array(COLOURS[name]) + jitter, 0, 255))
        if name == "square":
            cv2.rectangle(image, (x, y), (x + side - 1, y + side - 1), colour, -1)
        elif name == "circle":
            cv2.circle(image, (x + side // 2, y + side // 2), side // 2, colour, -1)
        else:
            points = np.array([[x, y + side - 1], [x + side - 1, y + side - 1], [x + side // 2, y]])
            cv2.fillPoly(image, [points.astype(np.int32)], colour)
        boxes.append(LabelledBox(name, float(x), float(y), float(side), float(side)))
    return image, boxes


def known_scenes(count: int, start: int = 0) -> list[tuple[np.ndarray, list[LabelledBox]]]:
    """Scenes of known objects only: a square, a circle, or one of each, in turn."""
    kinds = [["square"], ["circle"], ["square", "circle"]]
    return [scene(start + i, kinds[i % 3]) for i in range(count)]
