"""Synthetic test videos written with OpenCV: a quiet scene, optionally with an event."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def scene_frames(
    n: int,
    *,
    size: tuple[int, int] = (64, 48),
    seed: int = 0,
    event: tuple[int, int] | None = None,
) -> list[np.ndarray]:
    """``n`` BGR frames of a slowly drifting grey texture (normal).

    ``event=(start, end)`` paints a bright square that moves fast across the frames
    ``start..end-1`` (the abnormal event).
    """
    width, height = size
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.integers(60, 120, (height, width), dtype=np.uint8), (5, 5), 0)
    frames = []
    for index in range(n):
        frame = np.roll(base, index // 4, axis=1)
        frame = (frame.astype(np.int16) + rng.integers(-3, 4, frame.shape)).clip(0, 255)
        frame = cv2.cvtColor(frame.astype(np.uint8), cv2.COLOR_GRAY2BGR)
        if event and event[0] <= index < event[1]:
            side = max(4, height // 4)
            x = (index - event[0]) * 5 % max(1, width - side)
            y = height // 3
            frame[y : y + side, x : x + side] = (40, 220, 250)
        frames.append(frame)
    return frames


def write_video(path: Path, frames: list[np.ndarray], *, fps: float = 10.0) -> Path:
    """Write ``frames`` as an mp4v (``.mp4``/``.avi``/``.mov``) or VP8 (``.webm``) file."""
    codec = "VP80" if path.suffix == ".webm" else "mp4v"
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {codec} here"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path
