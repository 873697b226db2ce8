"""Motion energy per region against normal video: the no-training baseline for video.

Most abnormal events on a fixed camera are abnormal by how things move: a bike or a cart
crosses a walkway faster than the people on it, a machine stops or speeds up. This kind
measures motion per frame (dense optical-flow speed of the blurred greyscale image, or its
absolute difference to the previous frame with ``motion="difference"``), averages it over square
regions, and divides each region by what it reaches in the normal clips (its 99th
percentile). The frame's score is its worst region, smoothed over a few frames. Fitting
only collects those per-region statistics: seconds, no GPU, nothing to tune.

It is the reference the deep ``video_autoencoder`` has to beat (a plain motion score is a
strong baseline on pedestrian walkways; see ``benchmarks/README.md``).

    detector = MotionEnergyDetector({"region": 24})
    detector.fit_clips([normal_clip])         # lists of BGR uint8 frames, in time order
    scores = detector.score_clip(new_clip).scores
    detector.save("walkway.zip")
    detector = MotionEnergyDetector.load("walkway.zip")

The artefact holds the per-region scales and the frame size as JSON (no pickles).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Self, get_args

import cv2
import numpy as np
from pydantic import Field

from detection.base import (
    DetectorError,
    Params,
    ProgressCallback,
    ScoreResult,
)
from detection.components.frame_cubes import (
    RegionNormaliser,
    flow_speed,
    frame_shape,
    grey_frames,
    motion_maps,
    region_means,
    smooth_in_time,
)
from detection.registry import register
from detection.temporal import TemporalDetector

STATE_FILE = "motion.json"
Motion = Literal["difference", "flow"]
MOTIONS: tuple[str, ...] = get_args(Motion)


class MotionEnergyParams(Params):
    frame_width: int = Field(
        160,
        ge=16,
        le=1024,
        description="Width in pixels the video frames are shrunk to first (16 to 1024); the "
        "height keeps the proportions.",
    )
    motion: Motion = Field(
        "flow",
        description='How movement is measured: "flow" (speed of what moves, whatever its '
        'contrast; recommended) or "difference" (change from the previous frame; about 5x '
        "faster, less accurate).",
    )
    blur_sigma: float = Field(
        1.0,
        ge=0,
        le=20,
        description="Smoothing before movement is measured, in pixels: removes camera noise "
        "(0 to 20).",
    )
    power: int = Field(
        1,
        ge=1,
        le=4,
        description="2 lets a few fast-moving things (a bike) outweigh many slow ones (a group "
        "of walkers); 1 = plain speed (1 to 4).",
    )
    region: int = Field(
        24,
        ge=1,
        le=1024,
        description="Side in pixels of the squares the frame is divided into.",
    )
    region_quantile: float = Field(
        0.99,
        ge=0.5,
        le=1,
        description="Each square is compared with this share of its movement in the normal "
        "clips (0.5 to 1); 0.99 = its movement in the 1 % busiest normal frames.",
    )
    smooth_frames: int = Field(
        9,
        ge=1,
        le=1000,
        description="Frame scores are averaged over this many neighbouring frames (1 = none).",
    )


@register
class MotionEnergyDetector(TemporalDetector):
    """Worst region's motion relative to normal video (frame difference or flow); no training."""

    kind = "motion_energy"
    title = "Video: fast motion (no training)"
    summary = (
        "Flags stretches of video where something moves faster than anything in the normal clips."
    )
    params_class = MotionEnergyParams
    params: MotionEnergyParams

    def __init__(self, params: Params | dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.shape: tuple[int, int] | None = None
        self.normaliser: RegionNormaliser | None = None

    def _regions(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """A clip -> (N, rows, cols) mean motion per region."""
        assert self.shape is not None
        p = self.params
        grey = grey_frames(frames, self.shape)
        if p.blur_sigma > 0:
            grey = np.stack([cv2.GaussianBlur(g, (0, 0), float(p.blur_sigma)) for g in grey])
        motion = motion_maps(grey) if p.motion == "difference" else flow_speed(grey)
        return region_means(motion**p.power if p.power != 1 else motion, p.region)

    def fit_clips(
        self, clips: Sequence[Sequence[np.ndarray]], *, progress: ProgressCallback | None = None
    ) -> Self:
        clips = [clip for clip in clips if len(clip)]
        if not clips:
            raise DetectorError(f"{self.kind} needs at least one training clip with frames")
        self.shape = frame_shape(clips[0][0], self.params.frame_width, 1)
        regions = []
        for number, clip in enumerate(clips):
            regions.append(self._regions(clip))
            if progress:
                progress((number + 1) / len(clips), f"motion of clip {number + 1}/{len(clips)}")
        self.normaliser = RegionNormaliser(self.params.region_quantile).fit(np.concatenate(regions))
        self.is_fitted = True
        return self

    def score_clip(self, frames: Sequence[np.ndarray]) -> ScoreResult:
        self._require_fitted()
        assert self.normaliser is not None
        if len(frames) == 0:
            return ScoreResult(scores=np.zeros(0), heatmaps=[])
        regions = self.normaliser(self._regions(frames))
        worst = regions.reshape(len(regions), -1).max(axis=1)
        heatmaps = []
        for index, region_map in enumerate(regions):
            height, width = frames[index].shape[:2]
            heatmaps.append(cv2.resize(region_map, (width, height), interpolation=cv2.INTER_LINEAR))
        return ScoreResult(
            scores=smooth_in_time(worst, self.params.smooth_frames), heatmaps=heatmaps
        )

    def _dump(self, state_dir: Path) -> None:
        assert self.normaliser is not None and self.normaliser.scale is not None
        state = {"shape": list(self.shape or ()), "region_scale": self.normaliser.scale.tolist()}
        (state_dir / STATE_FILE).write_text(json.dumps(state))

    def _restore(self, state_dir: Path) -> None:
        try:
            state = json.loads((state_dir / STATE_FILE).read_text())
            height, width = (int(v) for v in state["shape"])
            scale = np.asarray(state["region_scale"], dtype=np.float32)
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise DetectorError(f"{self.kind} artefact is not valid: {exc}") from exc
        if scale.ndim != 2:
            raise DetectorError(f"{self.kind} artefact has no valid region scales")
        self.shape = (height, width)
        self.normaliser = RegionNormaliser(self.params.region_quantile)
        self.normaliser.scale = scale
