"""Browser-friendly renditions of stored images: a display copy and a thumbnail.

Sites upload TIFF, BMP, 16-bit or 20-megapixel photos that Chromium cannot show or that
make a review queue crawl. Pages show a JPEG of at most :data:`DISPLAY_SIDE` pixels on the
long side (the original itself when it already is one a browser shows and not larger) and
lists a :data:`THUMB_SIDE` thumbnail. Each is made on first request from the stored
original and kept in storage beside it, so old assets get them too and uploads stay fast.
Boxes and heatmaps are drawn in the asset's own pixel coordinates (SVG viewBox), so a
downscaled display copy changes nothing for them.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from detection.images import decode_image
from webapp.assets.models import Asset

logger = logging.getLogger(__name__)

DISPLAY_SIDE = 2048
THUMB_SIDE = 256
#: Formats (as validation records them) every browser decodes.
BROWSER_FORMATS = frozenset({"jpeg", "png", "webp", "gif"})
JPEG_QUALITY = 88
SIZES = {"display": DISPLAY_SIDE, "thumbnail": THUMB_SIDE}


def rendition_name(asset: Asset, which: str) -> str:
    """Where the rendition lives in storage (by ids: known without a query, even mid-delete)."""
    return f"renditions/{asset.site_id}/{asset.pk}-{which}.jpg"


def etag(asset: Asset, which: str) -> str:
    """What the rendition is made from: the asset's bytes and how it is rendered."""
    return f'"{asset.checksum[:32]}-{which}-{SIZES[which]}-q{JPEG_QUALITY}"'


def serves_original(asset: Asset, which: str) -> bool:
    """The original is fine as it is: a browser format, no larger than asked for."""
    return (
        asset.image_format.lower() in BROWSER_FORMATS
        and max(asset.width, asset.height) <= SIZES[which]
    )


def render(data: bytes, side: int) -> bytes:
    """``data`` decoded (grey, alpha and 16-bit become 8-bit BGR), shrunk to ``side``, JPEG."""
    image = decode_image(data)
    height, width = image.shape[:2]
    scale = side / max(height, width)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # pragma: no cover - OpenCV encodes any 8-bit BGR array
        raise ValueError("could not encode the rendition")
    return np.asarray(encoded).tobytes()


def rendition(asset: Asset, which: str) -> str:
    """The storage name of ``which`` (display or thumbnail) for ``asset``, made if missing."""
    if which not in SIZES:
        raise ValueError(f"rendition must be one of {', '.join(SIZES)}")
    name = rendition_name(asset, which)
    if not default_storage.exists(name):
        with asset.file.open("rb") as handle:
            data = render(handle.read(), SIZES[which])
        saved = default_storage.save(name, ContentFile(data))
        if saved != name:  # made by a concurrent request meanwhile: keep one copy
            default_storage.delete(saved)
        logger.info("made the %s of asset %s", which, asset.pk)
    return name


def rendition_names(asset: Asset) -> list[str]:
    return [rendition_name(asset, which) for which in SIZES]


def delete_files(names: list[str]) -> None:
    """Remove renditions from storage (with their asset); missing ones are fine."""
    for name in names:
        if default_storage.exists(name):
            default_storage.delete(name)
