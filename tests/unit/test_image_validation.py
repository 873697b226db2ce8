"""Image validation: what passes must decode with OpenCV, bombs are refused undecoded."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.images import green_texture, grey_blue_scene, jpeg_bytes, png_bytes
from webapp.assets.image_validation import ImageInfo, InvalidImage, sha256_hex, validate_image

LIMITS = {"max_pixels": 40_000_000, "max_bytes": 50 * 1024**2}


def validate(data: bytes, filename: str = "upload.bin", **limits: int) -> ImageInfo:
    return validate_image(data, filename=filename, **{**LIMITS, **limits})


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed tiny PNG whose IHDR claims ``width`` x ``height`` (a bomb header)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def pillow_bytes(image: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails the test if the full OpenCV decode is reached."""

    def refuse(*args: object) -> None:
        raise AssertionError("the image was decoded before its size was checked")

    monkeypatch.setattr(cv2, "imdecode", refuse)


def test_sha256_hex():
    assert sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert len(sha256_hex(png_bytes(green_texture(1)))) == 64


def test_valid_png_and_jpeg_report_size_and_format():
    assert validate(png_bytes(green_texture(1, size=64)), "leaf.png") == ImageInfo(64, 64, "png")
    wide = cv2.resize(grey_blue_scene(2), (120, 48))
    assert validate(jpeg_bytes(wide), "scene.jpg") == ImageInfo(120, 48, "jpeg")


@pytest.mark.parametrize(("fmt", "expected"), [("BMP", "bmp"), ("TIFF", "tiff"), ("WEBP", "webp")])
def test_other_accepted_formats(fmt: str, expected: str):
    info = validate(pillow_bytes(green_texture(3, size=40), fmt))
    assert info == ImageInfo(40, 40, expected)


def test_content_decides_not_the_extension():
    assert validate(png_bytes(green_texture(4)), "misnamed.jpg").format == "png"


def test_empty_file():
    with pytest.raises(InvalidImage, match=r"^empty file$"):
        validate(b"")


def test_file_over_byte_limit():
    with pytest.raises(InvalidImage, match="file too large"):
        validate(png_bytes(green_texture(5)), max_bytes=100)


def test_text_file_is_not_an_image():
    with pytest.raises(InvalidImage, match=r"not an image \(text/plain\)"):
        validate(b"just some text, not an image\n", "notes.png")


def test_unknown_binary_is_not_an_image():
    with pytest.raises(InvalidImage, match=r"not an image \(unknown format\)"):
        validate(bytes(range(256)) * 4)


def test_gif_is_an_unsupported_format():
    with pytest.raises(InvalidImage, match="unsupported image format GIF"):
        validate(pillow_bytes(green_texture(6), "GIF"), "anim.gif")


def test_truncated_jpeg_is_corrupt():
    data = jpeg_bytes(green_texture(99, size=128))
    for cut in (200, len(data) // 2):
        with pytest.raises(InvalidImage, match="corrupt or truncated image"):
            validate(data[:cut], "broken.jpg")


def test_truncated_png_is_corrupt():
    data = png_bytes(green_texture(7, size=128))
    with pytest.raises(InvalidImage, match="corrupt or truncated image"):
        validate(data[: len(data) - 40], "broken.png")


def test_pixel_cap_is_checked_before_decoding(no_decoding):
    with pytest.raises(InvalidImage) as refused:
        validate(png_claiming(5000, 5000), "huge.png", max_pixels=1_000_000)
    assert str(refused.value) == (
        "image has too many pixels: 5000x5000 = 25 MP; the limit is 1.0 MP"
    )


def test_decompression_bomb_header_is_refused_before_decoding(no_decoding):
    with pytest.raises(InvalidImage) as refused:
        validate(png_claiming(20_000, 20_000), "bomb.png")
    assert "too many pixels" in str(refused.value)
    assert "400 MP" in str(refused.value) and "40 MP" in str(refused.value)


def test_real_large_png_over_the_cap():
    solid = np.full((1200, 1000, 3), (40, 160, 40), np.uint8)
    with pytest.raises(InvalidImage, match=r"1000x1200 = 1\.2 MP; the limit is 4,096 pixels"):
        validate(png_bytes(solid), max_pixels=64 * 64)


def test_bomb_header_within_limits_still_fails_to_decode():
    with pytest.raises(InvalidImage, match="corrupt or truncated image"):
        validate(png_claiming(500, 500), "liar.png")
