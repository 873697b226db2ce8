"""Synthetic anomalies in normal video: a validation set that uses no test labels.

UCSD Ped2 has no labelled validation split, and choosing parameters on its test clips makes
the reported figures optimistic. Instead, whole *training* clips are held out and a
synthetic event is pasted into each: a piece of the clip's own moving content (the patch
around the strongest frame difference at the event's start, so it looks like something
that belongs in the scene) that then crosses the frame in a straight line at ``speed``
pixels per frame, faster than anything in the normal video. Its frames are labelled 1.

It models one kind of anomaly only (something moving too fast, as bikes and carts on a
walkway): a choice made on it favours motion cues, which is said wherever it is used.

    clip, labels = paste_moving_patch(frames, np.random.default_rng(0))
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def _moving_patch(frames: Sequence[np.ndarray], index: int, size: tuple[int, int]) -> np.ndarray:
    """The (h, w) patch of frame ``index`` centred on its strongest difference to a neighbour."""
    height, width = size
    other = frames[min(index + 2, len(frames) - 1)] if index + 2 < len(frames) else frames[0]
    grey = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY).astype(np.float32) for f in (frames[index], other)]
    energy = cv2.blur(np.abs(grey[0] - grey[1]), (width, height))
    y, x = np.unravel_index(int(np.argmax(energy)), energy.shape)
    top = int(np.clip(y - height // 2, 0, frames[index].shape[0] - height))
    left = int(np.clip(x - width // 2, 0, frames[index].shape[1] - width))
    return frames[index][top : top + height, left : left + width].copy()


def paste_moving_patch(
    frames: Sequence[np.ndarray],
    rng: np.random.Generator,
    *,
    length: tuple[int, int] = (25, 50),
    speed: tuple[float, float] = (0.006, 0.010),
    size: tuple[float, float] = (0.05, 0.12),
) -> tuple[list[np.ndarray], np.ndarray]:
    """A copy of ``frames`` with one fast patch pasted in, and the frame labels (1 = patch).

    ``length``: frames the event lasts (at most the clip's length minus 10, so some normal
    frames remain); ``speed``: pixels per frame as a share of the frame width; ``size``:
    patch width as a share of the frame width (height twice the width, like a standing
    person). Each is drawn uniformly from its range. The patch enters from the left or the
    right edge at a random height and crosses at that speed.
    """
    n = len(frames)
    frame_h, frame_w = frames[0].shape[:2]
    if n < 20:
        raise ValueError("a clip needs at least 20 frames for a synthetic event")
    duration = int(rng.integers(length[0], min(length[1], n - 10) + 1))
    start = int(rng.integers(0, n - duration + 1))
    patch_w = max(4, round(frame_w * rng.uniform(*size)))
    patch_h = min(frame_h - 2, 2 * patch_w)
    step = frame_w * rng.uniform(*speed)
    direction = 1 if rng.random() < 0.5 else -1
    top = int(rng.integers(0, frame_h - patch_h + 1))
    left0 = -patch_w / 2 if direction > 0 else frame_w - patch_w / 2
    patch = _moving_patch(frames, start, (patch_h, patch_w))
    out = [np.array(f, copy=True) for f in frames]
    labels = np.zeros(n, np.int64)
    for offset in range(duration):
        left = round(left0 + direction * step * offset)
        a, b = max(0, left), min(frame_w, left + patch_w)
        if b <= a:
            continue
        out[start + offset][top : top + patch_h, a:b] = patch[:, a - left : b - left]
        labels[start + offset] = 1
    return out, labels
