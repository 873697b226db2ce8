"""The WebM preview: frames in, a VP8 file that decodes to the same number of frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from detection.video_io import probe_video, read_clip
from detection.video_preview import PreviewError, PreviewWriter


def moving_square(index: int, size: tuple[int, int] = (96, 64)) -> np.ndarray:
    frame = np.full((size[1], size[0], 3), 40, np.uint8)
    cv2.rectangle(frame, (4 + 3 * index, 20), (20 + 3 * index, 36), (0, 200, 255), -1)
    return frame


def test_frames_of_any_size_become_a_vp8_webm_of_the_preview_size(tmp_path: Path) -> None:
    path = tmp_path / "preview.webm"
    with PreviewWriter(path, rate=7.5, size=(48, 32)) as writer:
        for index in range(12):
            writer.add(moving_square(index))
    info = probe_video(path)
    assert (info.width, info.height) == (48, 32)
    assert info.codec.upper() in {"VP80", "VP8"}
    frames = read_clip(path)
    assert len(frames) == 12
    # the square moved: the first and last frames differ where it was
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).max() > 100


def test_a_size_the_codec_cannot_take_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PreviewError, match="must be even"):
        PreviewWriter(tmp_path / "p.webm", rate=5, size=(47, 32))


def test_a_frame_that_cannot_be_encoded_fails_the_preview_not_silently(tmp_path: Path) -> None:
    writer = PreviewWriter(tmp_path / "p.webm", rate=5, size=(48, 32))
    writer.add(np.zeros((32, 48), np.float64))  # not a BGR image
    with pytest.raises(PreviewError, match="could not be written"):
        writer.close()
