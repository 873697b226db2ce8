"""Frames of a clip as small greyscale arrays, their motion, and cubes of consecutive frames.

Shared by the video kinds: :mod:`detection.detectors.video_autoencoder` reconstructs cubes
of ``T`` consecutive frames and gives each frame the mean error of the cubes that cover it;
:mod:`detection.detectors.motion_energy` uses the motion maps directly. Region statistics
(:class:`RegionNormaliser`) turn a per-pixel map into "how unusual is the worst region of
this frame compared with the same region in normal video".
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from detection.base import DetectorError, check_images


def frame_shape(first: np.ndarray, width: int, multiple: int = 8) -> tuple[int, int]:
    """(height, width) for frames ``width`` wide, the aspect of ``first`` kept.

    The height is rounded to a multiple of ``multiple`` (the encoder's downsampling) so
    that cubes pass through the network without cropping.
    """
    height, source_width = first.shape[:2]
    scaled = max(multiple, round(width * height / source_width / multiple) * multiple)
    return int(scaled), int(width)


def grey_frames(frames: Sequence[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """BGR uint8 frames -> (N, H, W) float32 greyscale in [0, 1] at ``shape`` (H, W)."""
    height, width = shape
    out = np.empty((len(frames), height, width), np.float32)
    for index in range(len(frames)):
        frame = frames[index]
        check_images([frame])
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        small = min(grey.shape) < min(shape)
        interpolation = cv2.INTER_LINEAR if small else cv2.INTER_AREA
        out[index] = cv2.resize(grey, (width, height), interpolation=interpolation) / 255.0
    return out


def motion_maps(grey: np.ndarray) -> np.ndarray:
    """|frame - previous frame| per pixel, (N, H, W); the first frame uses the next one.

    A single frame has no motion (zeros). Taking the next frame for the first keeps the
    first frame of every clip comparable with the others instead of scoring it zero.
    """
    if len(grey) < 2:
        return np.zeros_like(grey)
    diff = np.abs(np.diff(grey, axis=0))
    return np.concatenate([diff[:1], diff], axis=0)


def flow_speed(grey: np.ndarray) -> np.ndarray:
    """Dense optical-flow speed (pixels per frame) of each frame from the previous one.

    Farneback's method (OpenCV) on (N, H, W) greyscale in [0, 1]; the first frame uses the
    flow to the next, as :func:`motion_maps` does. Speed, unlike a frame difference, does not
    grow with an object's contrast against the background.
    """
    if len(grey) < 2:
        return np.zeros_like(grey)
    frames = (np.clip(grey, 0, 1) * 255).astype(np.uint8)
    speeds = np.empty(grey.shape, np.float32)
    for index in range(len(frames)):
        previous, current = (index - 1, index) if index else (0, 1)
        flow = cv2.calcOpticalFlowFarneback(
            frames[previous], frames[current], None, 0.5, 3, 9, 3, 5, 1.1, 0
        )
        speeds[index] = np.sqrt((flow**2).sum(axis=-1))
    return speeds


def fine_flow_speed(
    frames: Sequence[np.ndarray], shape: tuple[int, int], flow_width: int, blur_sigma: float
) -> np.ndarray:
    """Flow speed measured on frames ``flow_width`` wide, area-resized to ``shape`` (H, W).

    A small network input (96 px) is too coarse for Farneback's flow to tell a bike from a
    walker; measuring on finer, slightly blurred frames and then averaging down keeps both
    the speed and the small input. Speeds are in pixels per frame at ``shape``.
    """
    height, width = shape
    fine_shape = frame_shape(frames[0], max(flow_width, width), 1)
    grey = grey_frames(frames, fine_shape)
    if blur_sigma > 0:
        grey = np.stack([cv2.GaussianBlur(g, (0, 0), float(blur_sigma)) for g in grey])
    speed = flow_speed(grey)
    if fine_shape == shape:
        return speed
    factor = width / fine_shape[1]
    out = np.empty((len(speed), height, width), np.float32)
    for index, values in enumerate(speed):
        out[index] = cv2.resize(values, (width, height), interpolation=cv2.INTER_AREA) * factor
    return out


def cube_starts(n_frames: int, length: int, stride: int) -> list[int]:
    """First frames of the cubes covering ``n_frames``: every ``stride``, and one ending last.

    The last cube always ends on the last frame, so every frame is covered at least once;
    a clip shorter than ``length`` gets one cube (padded by :func:`make_cubes`).
    """
    if length < 1 or stride < 1:
        raise DetectorError("cube length and stride must be at least 1")
    if n_frames <= 0:
        return []
    last = max(0, n_frames - length)
    starts = list(range(0, last + 1, stride))
    if starts[-1] != last:
        starts.append(last)
    return starts


def make_cubes(frames: np.ndarray, starts: Sequence[int], length: int) -> np.ndarray:
    """(N, C, H, W) frames -> (K, C, T, H, W) cubes starting at ``starts``.

    Frames past the end of a short clip repeat its last frame (a still scene), so a clip of
    any length can be scored.
    """
    n = len(frames)
    if n == 0:
        raise DetectorError("a clip needs at least one frame")
    index = np.minimum(np.asarray(starts)[:, None] + np.arange(length)[None, :], n - 1)
    return np.ascontiguousarray(frames[index].transpose(0, 2, 1, 3, 4))


def cover_frames(values: np.ndarray, starts: Sequence[int], n_frames: int) -> np.ndarray:
    """Per-cube, per-step values (K, T, ...) -> per-frame means (N, ...) over covering cubes.

    Padded steps of a short clip (past ``n_frames``) are ignored.
    """
    length = values.shape[1]
    total = np.zeros((n_frames, *values.shape[2:]), np.float64)
    count = np.zeros(n_frames, np.int64)
    for cube, start in enumerate(starts):
        stop = min(start + length, n_frames)
        total[start:stop] += values[cube, : stop - start]
        count[start:stop] += 1
    if (count == 0).any():
        raise DetectorError("some frames are covered by no cube")
    return (total / count.reshape(-1, *([1] * (total.ndim - 1)))).astype(np.float32)


def region_grid(shape: tuple[int, int], cell: int) -> tuple[int, int]:
    """(rows, cols) of regions about ``cell`` pixels square over a (H, W) map, at least 1x1."""
    height, width = shape
    return max(1, round(height / cell)), max(1, round(width / cell))


def region_means(maps: np.ndarray, cell: int) -> np.ndarray:
    """(N, H, W) -> (N, rows, cols) mean of regions about ``cell`` pixels square.

    The regions tile the map exactly (each ``H / rows`` by ``W / cols`` pixels, area
    averaged), so no region is a thin leftover strip along an edge whose mean of a few
    pixels would be noisier than the others'.
    """
    rows, cols = region_grid(maps.shape[1:], cell)
    out = np.empty((len(maps), rows, cols), np.float32)
    for index, values in enumerate(maps):
        out[index] = cv2.resize(
            np.asarray(values, np.float32), (cols, rows), interpolation=cv2.INTER_AREA
        )
    return out


def smooth_in_time(scores: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over ``window`` frames (edges repeat); 1 = unchanged.

    An event lasts many frames while the noise of one frame's score does not, so a short
    average lifts the separation between them; it is done per clip, never across clips.
    """
    scores = np.asarray(scores, np.float64)
    if window <= 1 or scores.size == 0:
        return scores
    left, right = (window - 1) // 2, window // 2
    padded = np.pad(scores, (left, right), mode="edge")
    return np.convolve(padded, np.ones(window) / window, mode="valid")


class RegionNormaliser:
    """Each region's value divided by what that region reaches in normal video.

    A walkway's busy middle moves and reconstructs worse than its empty corners; dividing
    by the region's own high quantile on normal frames makes "unusual for this place"
    comparable everywhere. ``floor_share`` of the median region's quantile is added to the
    divisor, so a region that never moved in training (quantile near 0) does not turn
    noise into a huge score.
    """

    def __init__(self, quantile: float = 0.99, floor_share: float = 1.0) -> None:
        self.quantile = quantile
        self.floor_share = floor_share
        self.scale: np.ndarray | None = None

    def fit(self, regions: np.ndarray) -> RegionNormaliser:
        """``regions``: (N, rows, cols) values of normal frames."""
        level = np.quantile(regions.astype(np.float64), self.quantile, axis=0)
        floor = self.floor_share * float(np.median(level))
        self.scale = (level + max(floor, 1e-8)).astype(np.float32)
        return self

    def __call__(self, regions: np.ndarray) -> np.ndarray:
        assert self.scale is not None, "fit the normaliser first"
        if regions.shape[1:] != self.scale.shape:
            raise DetectorError(
                f"region grid {regions.shape[1:]} does not match the fitted {self.scale.shape}"
            )
        return regions / self.scale
