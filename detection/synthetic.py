"""Synthetic anomalies made from normal images, to compare detectors before any is confirmed.

A new site has normal photos and no confirmed anomaly, yet a kind must be chosen. Local
defects are the common case (a scratch, a stain, a foreign object), so each synthetic image
is a normal one with one region changed in one of three ways: a patch cut from another
normal image and pasted elsewhere (CutPaste, Li et al. 2021), the region's colours shifted,
or its texture smeared. They rank detectors, they are not a measure of recall on real data.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

CHANGES = ("cutpaste", "colour", "smear")


def _region(rng: np.random.Generator, height: int, width: int) -> tuple[int, int, int, int]:
    """(y, x, h, w) of a rectangle covering 2-8 % of the image, aspect 1:2 to 2:1."""
    area = rng.uniform(0.02, 0.08) * height * width
    aspect = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
    h = int(np.clip(np.sqrt(area / aspect), 2, height - 1))
    w = int(np.clip(np.sqrt(area * aspect), 2, width - 1))
    return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w


def synthetic_anomaly(
    image: np.ndarray, donor: np.ndarray, change: str, rng: np.random.Generator
) -> np.ndarray:
    """``image`` (BGR uint8) with one region changed by ``change`` (one of :data:`CHANGES`)."""
    if change not in CHANGES:
        raise ValueError(f"change must be one of {', '.join(CHANGES)}")
    out = image.copy()
    height, width = image.shape[:2]
    y, x, h, w = _region(rng, height, width)
    if change == "cutpaste":
        source = cv2.resize(donor, (width, height), interpolation=cv2.INTER_AREA)
        sy, sx = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
        patch = source[sy : sy + h, sx : sx + w]
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        out[y : y + h, x : x + w] = patch
    elif change == "colour":
        hsv = cv2.cvtColor(out[y : y + h, x : x + w], cv2.COLOR_BGR2HSV).astype(np.int16)
        hsv[..., 0] = (hsv[..., 0] + int(rng.integers(30, 150))) % 180
        hsv[..., 2] = np.clip(hsv[..., 2] * rng.uniform(0.5, 1.5), 0, 255)
        hsv[..., 1] = np.clip(hsv[..., 1] + 60, 0, 255)
        out[y : y + h, x : x + w] = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)
    else:  # smear: texture gone, as a stain or a scuff would leave it
        region = out[y : y + h, x : x + w]
        kernel = max(3, (min(h, w) // 3) | 1)
        out[y : y + h, x : x + w] = cv2.GaussianBlur(region, (kernel, kernel), 0)
        out[y : y + h, x : x + w] = np.clip(
            out[y : y + h, x : x + w].astype(np.int16) + int(rng.integers(-50, 50)), 0, 255
        ).astype(np.uint8)
    return out


def synthetic_anomalies(
    images: Sequence[np.ndarray], per_image: int = 2, seed: int = 0
) -> list[np.ndarray]:
    """``per_image`` synthetic anomalies of each image, the changes taken in turn."""
    rng = np.random.default_rng(seed)
    made = []
    for index in range(len(images)):
        image = images[index]
        for number in range(per_image):
            donor = images[int(rng.integers(0, len(images)))] if len(images) > 1 else image
            change = CHANGES[(index * per_image + number) % len(CHANGES)]
            made.append(synthetic_anomaly(image, donor, change, rng))
    return made
