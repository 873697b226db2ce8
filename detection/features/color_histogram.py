"""The HSV colour histogram of the seed tutorial: a cheap global description of an image.

A 3-D histogram over hue, saturation and value, normalised so that images of different sizes
compare. It ignores where colours are, which is exactly right for "this photo of a meadow has
an unusual colour mix" and exactly wrong for small local defects (see the deep kinds).
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

# OpenCV stores 8-bit hue as 0..179 and saturation/value as 0..255.
_RANGES = [0, 180, 0, 256, 0, 256]


def color_histogram(image: np.ndarray, bins: tuple[int, int, int] = (8, 8, 8)) -> np.ndarray:
    """Flattened HSV histogram of a BGR uint8 image, L2-normalised (``cv2.normalize``)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(bins), _RANGES)
    cv2.normalize(hist, hist)
    return hist.flatten().astype(np.float32)


def color_histograms(
    images: Iterable[np.ndarray], bins: tuple[int, int, int] = (8, 8, 8)
) -> np.ndarray:
    """One histogram row per image, as an (n, prod(bins)) float32 matrix."""
    rows = [color_histogram(image, bins) for image in images]
    if not rows:
        return np.zeros((0, int(np.prod(bins))), dtype=np.float32)
    return np.stack(rows)
