"""The checks an uploaded video goes through, each cap on its own, with no database."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.vidfiles import (
    clip_bytes,
    corrupt_bytes,
    truncated_bytes,
    undecodable_avi_bytes,
    zero_frame_bytes,
)
from webapp.assets.video_validation import (
    InvalidVideo,
    VideoLimits,
    codec_in,
    container_of,
    validate_video,
)

ROOMY = VideoLimits(max_bytes=10**9, max_duration_s=3600, max_pixels=10**8, max_frames=10**6)


def check(tmp_path: Path, data: bytes, suffix: str = ".mp4", **limits: float) -> object:
    path = tmp_path / f"clip{suffix}"
    path.write_bytes(data)
    caps = VideoLimits(**{**ROOMY.__dict__, **limits})  # type: ignore[arg-type]
    return validate_video(path, size_bytes=len(data), limits=caps)


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".webm"])
def test_a_good_clip_passes_with_its_facts(tmp_path, suffix):
    info = check(tmp_path, clip_bytes(15, suffix=suffix, fps=5.0), suffix)
    assert (info.frame_count, info.fps, info.width, info.height) == (15, 5.0, 64, 48)
    assert info.duration_s == pytest.approx(3.0)


def test_each_cap_is_checked_and_named(tmp_path):
    clip = clip_bytes(30, fps=10.0)
    with pytest.raises(InvalidVideo, match="limit per video is"):
        check(tmp_path, clip, max_bytes=len(clip) - 1)
    check(tmp_path, clip, max_bytes=len(clip))
    with pytest.raises(InvalidVideo, match=r"64x48 = 3,072 pixels are too large"):
        check(tmp_path, clip, max_pixels=3071)
    check(tmp_path, clip, max_pixels=3072)
    with pytest.raises(InvalidVideo, match="30 frames; the limit is 29"):
        check(tmp_path, clip, max_frames=29)
    check(tmp_path, clip, max_frames=30)
    with pytest.raises(InvalidVideo, match=r"lasts 3\.0 s; the limit is 2\.9 s"):
        check(tmp_path, clip, max_duration_s=2.9)
    check(tmp_path, clip, max_duration_s=3.0)


def test_broken_files_each_get_their_reason(tmp_path):
    good = clip_bytes(20)
    with pytest.raises(InvalidVideo, match="empty file"):
        check(tmp_path, b"")
    with pytest.raises(InvalidVideo, match="corrupt, truncated or has no frames"):
        check(tmp_path, truncated_bytes(good))
    with pytest.raises(InvalidVideo, match="only 9 of the 20 frames"):
        check(tmp_path, truncated_bytes(clip_bytes(20, suffix=".webm")), ".webm")
    empty = zero_frame_bytes()
    if empty:
        with pytest.raises(InvalidVideo, match=r"no frames|empty file"):
            check(tmp_path, empty)
    with pytest.raises(InvalidVideo, match="the file is text"):
        check(tmp_path, b"hello\n" * 100)
    with pytest.raises(InvalidVideo, match="no known video container"):
        check(tmp_path, corrupt_bytes(), ".mkv")
    with pytest.raises(InvalidVideo, match="codec 'QQQQ', which cannot be decoded here"):
        check(tmp_path, undecodable_avi_bytes(), ".avi")


def test_container_and_codec_sniffing():
    assert container_of(clip_bytes(3)) == "MP4/MOV"
    assert container_of(clip_bytes(3, suffix=".avi")) == "AVI"
    webm = clip_bytes(3, suffix=".webm")
    assert container_of(webm) == "WebM/MKV" and codec_in(webm, "WebM/MKV") == "V_VP8"
    assert codec_in(clip_bytes(3, suffix=".avi"), "AVI").lower() in {"fmp4", "mp4v"}
    assert container_of(b"just text") is None
