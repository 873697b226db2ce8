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

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import cv2
import numpy as np

from detection.base import DetectorError, Params, ParamsError, ProgressCallback, ScoreResult
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
MOTIONS = ("difference", "flow")


@dataclasses.dataclass(frozen=True)
class MotionEnergyParams(Params):
    #: Frames are resized to this width (the height keeps the aspect) before anything else.
    frame_width: int = 160
    #: "flow" (Farneback optical-flow speed: what is fast, whatever its contrast) or
    #: "difference" (|frame - previous|: about 5x faster, weaker on Ped2).
    motion: str = "flow"
    #: Gaussian blur (pixels at ``frame_width``) before differencing: sensor noise out.
    blur_sigma: float = 1.0
    #: Motion is raised to this power before the region means: 2 (kinetic energy) lets a
    #: few fast pixels (a bike) outweigh many slow ones (a group of walkers); 1 = plain speed.
    power: int = 1
    #: Side of the square regions, in pixels at ``frame_width``.
    region: int = 24
    #: Each region is divided by this quantile of its motion in the normal clips.
    region_quantile: float = 0.99
    #: Centred moving average of the per-frame scores, in frames; 1 = none.
    smooth_frames: int = 9

    def validate(self) -> None:
        if not isinstance(self.frame_width, int) or not 16 <= self.frame_width <= 1024:
            raise ParamsError("frame_width must be an integer between 16 and 1024")
        if self.motion not in MOTIONS:
            raise ParamsError(f"motion must be one of {', '.join(MOTIONS)}")
        if not isinstance(self.blur_sigma, int | float) or not 0 <= self.blur_sigma <= 20:
            raise ParamsError("blur_sigma must be a number between 0 and 20")
        power = self.power
        if not isinstance(power, int) or isinstance(power, bool) or not 1 <= power <= 4:
            raise ParamsError("power must be an integer between 1 and 4")
        if not isinstance(self.region, int) or not 1 <= self.region <= 1024:
            raise ParamsError("region must be an integer between 1 and 1024")
        if (
            not isinstance(self.region_quantile, int | float)
            or not 0.5 <= self.region_quantile <= 1
        ):
            raise ParamsError("region_quantile must be between 0.5 and 1")
        if not isinstance(self.smooth_frames, int) or not 1 <= self.smooth_frames <= 1000:
            raise ParamsError("smooth_frames must be an integer between 1 and 1000")


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
