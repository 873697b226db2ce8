"""Check that an uploaded file is a video the frame extraction can actually use, cheaply.

The upload answers at once, so nothing here decodes the whole video: the container is
probed (frame count, rate, size, codec, first frame decoded), the caps are checked, and
the last frame is read by seeking, which catches a truncated file without reading what
lies between. When OpenCV cannot even open a file, its header is read here to say what
it is (a renamed text file, a container whose codec this build cannot decode, a damaged
or empty container), because "cannot be opened" alone does not tell a user what to fix.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import cv2

from detection.video_io import VideoError, VideoInfo, probe_video

logger = logging.getLogger(__name__)

#: Codecs OpenCV's FFmpeg build decodes on these machines (checked), for the error text.
DECODABLE = "MPEG-4 (mp4v), H.264, VP8, VP9, MJPEG"
#: Announced frame counts of some containers are estimates (from the duration); a file
#: whose last frame cannot be read is still accepted when nearly all frames decode.
_COUNT_TOLERANCE = 0.95


class InvalidVideo(Exception):
    """The file cannot be stored as a video; the message is shown to end users."""


@dataclasses.dataclass(frozen=True)
class VideoLimits:
    max_bytes: int
    max_duration_s: float
    max_pixels: int
    max_frames: int


def validate_video(path: str | Path, *, size_bytes: int, limits: VideoLimits) -> VideoInfo:
    """What the video holds, or ``InvalidVideo`` saying why it cannot be used."""
    if size_bytes == 0:
        raise InvalidVideo("empty file")
    if size_bytes > limits.max_bytes:
        raise InvalidVideo(
            f"file too large ({_mib(size_bytes)}); the limit per video is {_mib(limits.max_bytes)}"
        )
    try:
        info = probe_video(path)
    except VideoError as exc:
        raise InvalidVideo(_why_unreadable(Path(path), str(exc))) from None
    pixels = info.width * info.height
    if pixels > limits.max_pixels:
        raise InvalidVideo(
            f"frames of {info.width}x{info.height} = {pixels:,} pixels are too large; the limit "
            f"is {limits.max_pixels:,} pixels per frame"
        )
    if info.frame_count > limits.max_frames:
        raise InvalidVideo(
            f"the video has {info.frame_count:,} frames; the limit is {limits.max_frames:,}"
        )
    if info.duration_s > limits.max_duration_s:
        raise InvalidVideo(
            f"the video lasts {_duration(info.duration_s)}; the limit is "
            f"{_duration(limits.max_duration_s)}"
        )
    return _check_complete(Path(path), info)


def _check_complete(path: Path, info: VideoInfo) -> VideoInfo:
    """Read the last frame by seeking; if that fails, count what really decodes."""
    if info.frame_count <= 1:
        return info
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, info.frame_count - 1)
        ok, _ = capture.read()
        if ok:
            return info
        capture.release()
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        decoded = 0
        while capture.grab():
            decoded += 1
    finally:
        capture.release()
    if decoded < _COUNT_TOLERANCE * info.frame_count:
        raise InvalidVideo(
            f"the video is truncated or damaged: only {decoded} of the {info.frame_count} "
            "frames it announces can be decoded"
        )
    return dataclasses.replace(info, frame_count=decoded, duration_s=decoded / info.fps)


def _why_unreadable(path: Path, opencv_message: str) -> str:
    with path.open("rb") as handle:
        head = handle.read(64 * 1024)
    container = container_of(head)
    if container is None:
        if _looks_like_text(head[:4096]):
            return "not a video (the file is text; was it renamed?)"
        return "not a video (no known video container: corrupt, or another kind of file)"
    codec = codec_in(head, container)
    if codec is not None and not _decodable(codec):
        return (
            f"the {container} file uses codec '{codec}', which cannot be decoded here; "
            f"supported: {DECODABLE}"
        )
    if "no frame" in opencv_message:
        return f"{opencv_message} ({container} container)"
    return f"the {container} file is corrupt, truncated or has no frames: it cannot be opened"


def container_of(head: bytes) -> str | None:
    if head[4:8] == b"ftyp":
        return "MP4/MOV"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "MOV"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "AVI"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "WebM/MKV"
    return None


_MKV_CODEC = re.compile(rb"\x86[\x80-\xff](V_[A-Z0-9/._]+)")


def codec_in(head: bytes, container: str) -> str | None:
    """The video codec the container header names, when it is in the first bytes."""
    if container == "AVI":
        at = head.find(b"strh")  # stream header: size (4 bytes), "vids", codec FourCC
        if at >= 0 and head[at + 8 : at + 12] == b"vids":
            return head[at + 12 : at + 16].decode("latin-1").strip("\x00 ") or None
        return None
    if container == "WebM/MKV":
        found = _MKV_CODEC.search(head)
        return found.group(1).decode("latin-1") if found else None
    at = head.find(b"stsd")  # MP4: sample description, 8 bytes of header then the format
    if at >= 0 and len(head) >= at + 20:
        return head[at + 16 : at + 20].decode("latin-1").strip("\x00 ") or None
    return None


_DECODABLE_CODES = {
    "mp4v", "fmp4", "xvid", "divx", "dx50", "avc1", "h264", "x264", "mjpg",
    "v_vp8", "v_vp9", "vp80", "vp90", "v_mpeg4/iso/avc", "hvc1", "hev1",
}  # fmt: skip


def _decodable(codec: str) -> bool:
    return codec.lower() in _DECODABLE_CODES


def _looks_like_text(sample: bytes) -> bool:
    if not sample or b"\0" in sample:
        return False
    try:
        text = sample.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 3:
            return False
        text = sample[: exc.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable >= 0.95 * max(len(text), 1)


def _mib(size: int) -> str:
    return f"{size / 1024**2:.1f} MiB"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{seconds:.1f} s"
