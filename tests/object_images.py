"""Small labelled object images for the object tests: squares and circles are the known
classes, triangles the unknown one, on noisy grey backgrounds."""

from __future__ import annotations

import cv2
import numpy as np

from detection.objects import LabelledBox

SIZE = 64


def shape_image(
    rng: np.random.Generator, shapes: list[str], size: int = SIZE
) -> tuple[np.ndarray, list[LabelledBox]]:
    """A BGR image holding one filled shape per name, and a labelled box around each."""
    image = rng.normal(110, 12, (size, size, 3)).clip(0, 255).astype(np.uint8)
    boxes: list[LabelledBox] = []
    for name in shapes:
        for _ in range(50):  # a place that overlaps no earlier shape
            side = int(rng.integers(size // 5, size // 3))
            x, y = (int(v) for v in rng.integers(2, size - side - 2, size=2))
            if all(
                x + side < b.x or b.x + b.w < x or y + side < b.y or b.y + b.h < y for b in boxes
            ):
                break
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        if name == "square":
            cv2.rectangle(image, (x, y), (x + side - 1, y + side - 1), colour, -1)
        elif name == "circle":
            r = side // 2
            cv2.circle(image, (x + r, y + r), r, colour, -1)
        else:  # triangle
            points = np.array([[x, y + side - 1], [x + side - 1, y + side - 1], [x + side // 2, y]])
            cv2.fillPoly(image, [points.astype(np.int32)], colour)
        boxes.append(LabelledBox(name, float(x), float(y), float(side), float(side)))
    return image, boxes


def known_set(n: int, seed: int = 0) -> tuple[list[np.ndarray], list[list[LabelledBox]]]:
    """Images with one or two known shapes each."""
    rng = np.random.default_rng(seed)
    images, boxes = [], []
    for i in range(n):
        shapes = [["square"], ["circle"], ["square", "circle"]][i % 3]
        image, image_boxes = shape_image(rng, shapes)
        images.append(image)
        boxes.append(image_boxes)
    return images, boxes
