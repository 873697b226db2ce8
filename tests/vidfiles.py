"""Video files for upload tests: good clips and every kind of bad one, as bytes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

from tests.videos import scene_frames, write_video


def clip_bytes(
    n: int = 20,
    *,
    suffix: str = ".mp4",
    fps: float = 10.0,
    size: tuple[int, int] = (64, 48),
    seed: int = 0,
    event: tuple[int, int] | None = None,
) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_video(
            Path(tmp) / f"clip{suffix}", scene_frames(n, size=size, seed=seed, event=event), fps=fps
        )
        return path.read_bytes()


def zero_frame_bytes() -> bytes:
    """An mp4 whose writer was closed without a single frame."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "empty.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
        writer.release()
        return path.read_bytes() if path.exists() else b""


def undecodable_avi_bytes() -> bytes:
    """A well-formed AVI whose codec FourCC ('QQQQ') no decoder knows."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
        for frame in scene_frames(5):
            writer.write(frame)
        writer.release()
        return path.read_bytes().replace(b"MJPG", b"QQQQ")


def truncated_bytes(data: bytes) -> bytes:
    return data[: len(data) // 2]


def corrupt_bytes() -> bytes:
    return np.random.default_rng(3).integers(0, 256, 4000, dtype=np.uint8).tobytes()
