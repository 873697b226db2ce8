"""Synthetic test images: green (and red) textures are "normal", grey/blue scenes anomalies."""

from __future__ import annotations

import io
import zipfile

import cv2
import numpy as np


def green_texture(seed: int, size: int = 64) -> np.ndarray:
    """A leafy green texture (BGR), different for every seed."""
    rng = np.random.default_rng(seed)
    image = np.zeros((size, size, 3), np.uint8)
    image[..., 0] = rng.integers(10, 60, (size, size))
    image[..., 1] = rng.integers(110, 220, (size, size))
    image[..., 2] = rng.integers(10, 70, (size, size))
    return cv2.GaussianBlur(image, (3, 3), 0)


def red_texture(seed: int, size: int = 64) -> np.ndarray:
    """A red-flowered texture (BGR): a second known class beside :func:`green_texture`."""
    rng = np.random.default_rng(5_000 + seed)
    image = np.zeros((size, size, 3), np.uint8)
    image[..., 0] = rng.integers(20, 80, (size, size))
    image[..., 1] = rng.integers(10, 60, (size, size))
    image[..., 2] = rng.integers(140, 230, (size, size))
    return cv2.GaussianBlur(image, (3, 3), 0)


def grey_blue_scene(seed: int, size: int = 64) -> np.ndarray:
    """A grey/blue scene with a bright block: clearly not a green texture."""
    rng = np.random.default_rng(10_000 + seed)
    image = np.full((size, size, 3), (150, 120, 110), np.uint8)
    image = (image + rng.integers(0, 40, (size, size, 1))).clip(0, 255).astype(np.uint8)
    x, y = rng.integers(0, size // 2, 2)
    image[y : y + size // 3, x : x + size // 3] = (230, 200, 60)
    return image


def texture_with_defect(
    seed: int, size: int = 64, side: int = 16, colour: tuple[int, int, int] = (140, 140, 140)
) -> tuple[np.ndarray, tuple[slice, slice]]:
    """A :func:`green_texture` with a flat ``side`` x ``side`` square pasted at a seeded place.

    Returns the image and the square's (rows, cols) slices, for localisation checks.
    """
    image = green_texture(100 + seed, size).copy()
    rng = np.random.default_rng(20_000 + seed)
    y, x = (int(v) for v in rng.integers(2, size - side - 2, 2))
    region = (slice(y, y + side), slice(x, x + side))
    image[region] = colour
    return image, region


def png_bytes(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


def jpeg_bytes(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    return encoded.tobytes()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()
