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


#: Share of a mask's pixels that must be pure black or white (edges may be anti-aliased).
MASK_BINARY_SHARE = 0.98


def looks_like_mask(data: bytes) -> bool:
    """Whether encoded image bytes are a defect mask: grey, (almost) only black and white.

    Data sets lay masks out as ``NAME.png`` beside the photo ``NAME.jpg`` (magnetic-tile);
    a photo is practically never pure black and white, a mask always is.
    """
    if not data:
        return False
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        return False
    if image.ndim == 3:
        channels = image[..., :3]
        if not (
            np.array_equal(channels[..., 0], channels[..., 1])
            and np.array_equal(channels[..., 1], channels[..., 2])
        ):
            return False
        image = channels[..., 0]
    if image.dtype != np.uint8:
        return False
    binary = np.count_nonzero((image == 0) | (image == 255))
    return binary >= MASK_BINARY_SHARE * image.size


def sibling_masks(paths: list[Path]) -> set[Path]:
    """The ``NAME.png`` files of ``paths`` that are masks of a ``NAME.<other>`` beside them."""
    by_key: dict[Path, list[Path]] = {}
    for path in paths:
        by_key.setdefault(path.with_suffix(""), []).append(path)
    return {
        path
        for group in by_key.values()
        if len(group) > 1
        for path in group
        if path.suffix.lower() == ".png" and looks_like_mask(path.read_bytes())
    }


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder``, sorted, without masks.

    Masks are ``NAME_mask.*`` files, and ``NAME.png`` files that are black and white beside
    a photo ``NAME.jpg`` (or another image of the same name).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DetectorError(f"{folder} is not a folder")
    found = sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.stem.endswith("_mask")
    )
    masks = sibling_masks(found)
    return [p for p in found if p not in masks]


def mask_beside(photo: Path) -> Path | None:
    """The mask file of ``photo``, if one lies beside it (``NAME_mask.png`` or ``NAME.png``)."""
    named = photo.with_name(f"{photo.stem}_mask.png")
    if named.is_file():
        return named
    sibling = photo.with_suffix(".png")
    if sibling != photo and sibling.is_file() and looks_like_mask(sibling.read_bytes()):
        return sibling
    return None
