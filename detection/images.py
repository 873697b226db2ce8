"""Decoding images into the array form every detector takes (HxWx3 uint8 BGR)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from detection.base import DetectorError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


def decode_image(data: bytes) -> np.ndarray:
    """Decode encoded image bytes; grey and alpha images become 3-channel BGR."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR) if buffer.size else None
    if image is None:
        raise DetectorError("not a decodable image")
    return image


def read_image(path: str | Path) -> np.ndarray:
    return decode_image(Path(path).read_bytes())


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder``, sorted, skipping ``*_mask`` files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DetectorError(f"{folder} is not a folder")
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.stem.endswith("_mask")
    )
