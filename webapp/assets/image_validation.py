"""Check that uploaded bytes are an image the scoring pipeline can actually use.

Two stages, cheapest first: Pillow reads only the header (format and dimensions) so
decompression bombs are refused before a single pixel is decoded; then OpenCV decodes
the whole image, because the detectors decode with OpenCV and anything stored must
decode there too (Pillow's header parse alone lets truncated files through).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import re
import warnings

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

logger = logging.getLogger(__name__)

# Pillow format name -> the lower-case name stored on assets. MPO is the multi-picture
# JPEG some cameras write; it is a plain JPEG to every decoder that matters here.
ACCEPTED_FORMATS = {
    "JPEG": "jpeg",
    "MPO": "jpeg",
    "PNG": "png",
    "BMP": "bmp",
    "TIFF": "tiff",
    "WEBP": "webp",
}
# The parsers Pillow may run on untrusted bytes (MPO comes out of the JPEG parser).
_PILLOW_PARSERS = ("JPEG", "PNG", "BMP", "TIFF", "WEBP")
_ACCEPTED_LABEL = "JPEG, PNG, BMP, TIFF, WebP"
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


class InvalidImage(Exception):
    """The file cannot be stored as an image; the message is shown to end users."""


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """What is stored on the asset: decoded size and lower-case format name."""

    width: int
    height: int
    format: str


def sha256_hex(data: bytes) -> str:
    """Content checksum, used to recognise the same image uploaded twice."""
    return hashlib.sha256(data).hexdigest()


def validate_image(data: bytes, *, filename: str, max_pixels: int, max_bytes: int) -> ImageInfo:
    """Return the image's size and format, or raise ``InvalidImage`` saying why not.

    The extension of ``filename`` is not trusted (the content decides); the name is only
    used for logging.
    """
    if not data:
        raise InvalidImage("empty file")
    if len(data) > max_bytes:
        raise InvalidImage(
            f"file too large ({_mib(len(data))}); the limit per image is {_mib(max_bytes)}"
        )

    pillow_format, width, height = _identify(data, filename, max_pixels)
    if width <= 0 or height <= 0:
        raise InvalidImage("corrupt or truncated image (it has no pixels)")
    if width * height > max_pixels:
        raise InvalidImage(_too_many_pixels(width * height, max_pixels, f"{width}x{height}"))

    try:
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        logger.info("OpenCV could not decode %r: %s", filename, exc)
        decoded = None
    if decoded is None or decoded.size == 0:
        raise InvalidImage("corrupt or truncated image")
    # OpenCV applies the EXIF orientation, so its shape is what reviewers and detectors
    # see (a portrait phone photo is stored landscape with a rotate tag).
    decoded_height, decoded_width = decoded.shape[:2]
    return ImageInfo(width=decoded_width, height=decoded_height, format=pillow_format)


def _identify(data: bytes, filename: str, max_pixels: int) -> tuple[str, int, int]:
    """Format and dimensions from the header only (Pillow's ``open`` decodes nothing)."""
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb limit is global and only warns below twice its value;
            # make it an error too, our per-request limit is checked right after.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Only the accepted formats' parsers ever see untrusted bytes.
            with Image.open(io.BytesIO(data), formats=_PILLOW_PARSERS) as image:
                width, height = image.size
                pillow_format = image.format or ""
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = _BOMB_PIXELS.search(str(exc))
        pixels = int(found.group(1)) if found else None
        raise InvalidImage(_too_many_pixels(pixels, max_pixels, None)) from exc
    except UnidentifiedImageError as exc:
        raise InvalidImage(_not_an_image(data)) from exc
    except Exception as exc:  # hostile headers raise all sorts: SyntaxError, struct.error...
        logger.info("Pillow could not read the header of %r: %s", filename, exc)
        raise InvalidImage("corrupt or truncated image") from exc
    if pillow_format not in ACCEPTED_FORMATS:
        raise InvalidImage(_unsupported(pillow_format or "unknown"))
    return ACCEPTED_FORMATS[pillow_format], width, height


def _not_an_image(data: bytes) -> str:
    """Name what was sent instead, so the user knows what went wrong."""
    head = data[:64]
    known = _sniff_other_image(head)
    if known:
        return _unsupported(known)
    if head.startswith(b"%PDF"):
        return "not an image (PDF document)"
    if _looks_like_text(data[:4096]):
        return "not an image (text/plain)"
    return "not an image (unknown format)"


def _sniff_other_image(head: bytes) -> str | None:
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand.startswith(b"avi"):
            return "AVIF"
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return "HEIC"
    if head.lstrip().lower().startswith((b"<svg", b"<?xml")) and b"<svg" in head.lower():
        return "SVG"
    return None


def _looks_like_text(sample: bytes) -> bool:
    if b"\0" in sample:
        return False
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        if exc.start < len(sample) - 3:
            return False
        text = sample[: exc.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable >= 0.95 * max(len(text), 1)


def _unsupported(name: str) -> str:
    return f"unsupported image format {name}; accepted formats are {_ACCEPTED_LABEL}"


def _too_many_pixels(pixels: int | None, limit: int, dims: str | None) -> str:
    if pixels is None:
        return f"image has too many pixels; the limit is {_pixels(limit)}"
    shown = f"{dims} = {_pixels(pixels)}" if dims else _pixels(pixels)
    return f"image has too many pixels: {shown}; the limit is {_pixels(limit)}"


def _pixels(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:,.{0 if count >= 10_000_000 else 1}f} MP"
    return f"{count:,} pixels"


def _mib(size: int) -> str:
    return f"{size / 1024**2:.1f} MiB"
