"""Spatio-temporal autoencoder on short cubes of frames (Conv3D, ConvLSTM, Conv3D-transpose).

The seed design for surveillance video (Chong & Tay, "Abnormal event detection in videos
using spatiotemporal autoencoder", ISNN 2017): frames become small greyscale arrays, ``T``
consecutive ones form a cube, a Conv3D encoder squeezes it, a ConvLSTM carries the motion
through the bottleneck and a Conv3D-transpose decoder rebuilds the cube. Trained on normal
video only, it rebuilds what it saw often (people walking) and fails on what it never saw
(a bike, a cart): the reconstruction error is the anomaly score.

What makes it score well beyond the paper's recipe (each choice is general, not tuned to one
site; trials in ``benchmarks/README.md``):

* a *motion channel* beside the grey one: an abnormal object is often abnormal by its
  speed, which a single grey channel only shows weakly. By default it is the optical-flow
  speed, measured on frames ``flow_width`` (160) px wide and averaged down, because flow
  at the network's 96 px cannot tell a bike from a walker; ``motion="difference"`` uses
  ``|frame - previous frame|`` instead (faster to prepare, weaker);
* the error is pooled per *region* (``region`` pixels square) and divided by that region's
  99th-percentile error on the normal training frames (:class:`RegionNormaliser`); the
  frame's score is its worst region, because anomalies are small objects and a whole-frame
  mean would drown them among the walkers;
* each frame's error map is the mean over the cubes that cover it, and the per-frame curve
  is smoothed over ``smooth_frames`` frames (events last seconds, noise does not).

The heatmap of a frame is its normalised region map at the frame's resolution.

    detector = VideoAutoencoderDetector({"epochs": 10})
    detector.fit_clips([clip_a, clip_b])      # lists of BGR uint8 frames, in time order
    result = detector.score_clip(new_clip)    # result.scores: one per frame
    detector.save("walkway.zip")
    detector = VideoAutoencoderDetector.load("walkway.zip")

The artefact holds the ``state_dict`` and the normaliser as plain tensors (``torch.save``,
read back with ``weights_only=True``): no pickled objects. Training is seeded without
touching the global random state, and CUDA is used when present (both from
:class:`~detection.components.torch_kind.TorchKind`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self, get_args

import numpy as np
from pydantic import Field, model_validator

from detection.base import (
    DetectorError,
    Device,
    Params,
    ProgressCallback,
    ScoreResult,
    Seed,
)
from detection.components.frame_cubes import (
    RegionNormaliser,
    cover_frames,
    cube_starts,
    fine_flow_speed,
    frame_shape,
    grey_frames,
    make_cubes,
    motion_maps,
    region_means,
    smooth_in_time,
)
from detection.components.torch_kind import TorchKind, model_state, upsample_map
from detection.registry import register
from detection.temporal import TemporalDetector

if TYPE_CHECKING:
    import torch
    from torch import nn

MODEL_FILE = "model.pt"
NORMALISER_FILE = "normaliser.pt"
#: The encoder halves height and width three times; the frame side must divide by this.
SPATIAL_FACTOR = 8
#: Frame differences are mostly small; scaled so that a walker's motion spans the sigmoid
#: output's range about as much as the grey values do (then clipped to 1).
MOTION_GAIN = 4.0
#: Optical-flow speeds (pixels per frame at ``frame_width``) are divided by this.
FLOW_SCALE = 4.0
Motion = Literal["difference", "flow"]
ScoreOn = Literal["motion", "grey", "both"]
MOTIONS: tuple[str, ...] = get_args(Motion)
SCORE_ON: tuple[str, ...] = get_args(ScoreOn)


class VideoAutoencoderParams(Params):
    frame_width: int = Field(
        96,
        ge=16,
        le=1024,
        multiple_of=SPATIAL_FACTOR,
        description="Width in pixels the video frames are shrunk to (a multiple of 8); the "
        "height keeps the proportions.",
    )
    cube_length: int = Field(
        8,
        ge=2,
        le=64,
        description="How many frames in a row are looked at together (an even number).",
    )
    train_stride: int = Field(
        2,
        ge=1,
        le=64,
        description="Frames between the starts of two training clips (at most cube_length).",
    )
    score_stride: int = Field(
        4,
        ge=1,
        le=64,
        description="Frames between the starts of two checked clips (at most cube_length).",
    )
    motion_channel: bool = Field(
        True, description="Also learn how things move, not only what the frames look like."
    )
    motion: Motion = Field(
        "flow",
        description='How movement is measured: "flow" (speed of what moves, recommended) or '
        '"difference" (change from the previous frame; faster to prepare).',
    )
    flow_width: int = Field(
        160,
        description="Width in pixels the movement is measured at (16 to 2048, or 0 = at "
        "frame_width); too small cannot tell a bike from a walker.",
        json_schema_extra={"minimum": 0, "maximum": 2048},
    )
    flow_blur: float = Field(
        1.0,
        ge=0,
        le=20,
        description="Smoothing before movement is measured, in pixels: removes camera noise "
        "(0 to 20).",
    )
    score_on: ScoreOn = Field(
        "motion",
        description='What an unusual frame is judged on: "motion" (recommended), "grey" (what '
        'it looks like) or "both".',
    )
    width: int = Field(
        8, ge=2, le=256, description="Size of the network's first layer; larger is slower."
    )
    hidden_channels: int = Field(
        16,
        ge=1,
        le=512,
        description="How much the network may remember about a clip (1 to 512).",
    )
    epochs: int = Field(
        24,
        ge=1,
        le=10_000,
        description="How many times training goes through all the clips; with fewer than "
        "about 20 the model may not yet have learnt how people move.",
    )
    batch_size: int = Field(
        8, ge=1, le=1024, description="Clips per training step; lower it if memory runs out."
    )
    learning_rate: float = Field(
        1e-3,
        gt=0,
        le=1,
        description="How big each training step is (more than 0, at most 1); too high makes "
        "training unstable.",
    )
    region: int = Field(
        16,
        ge=1,
        le=1024,
        description="Side in pixels of the squares the frame is divided into when errors are "
        "added up.",
    )
    region_quantile: float = Field(
        0.99,
        ge=0.5,
        le=1,
        description="Each square is compared with this share of its normal values (0.5 to 1); "
        "0.99 = its error on the 1 % most unusual normal frames.",
    )
    smooth_frames: int = Field(
        9,
        ge=1,
        le=1000,
        description="Frame scores are averaged over this many neighbouring frames (1 = none).",
    )
    max_cubes_per_epoch: int = Field(
        0,
        ge=0,
        le=10_000_000,
        description="At most this many clips per training round, chosen at random (0 = all).",
    )
    device: Device = "auto"
    seed: Seed = 0

    @model_validator(mode="after")
    def _check_combinations(self) -> Self:
        if self.cube_length % 2:
            raise ValueError("cube_length must be even (the encoder halves time once)")
        if self.score_stride > self.cube_length or self.train_stride > self.cube_length:
            raise ValueError("strides must not exceed cube_length, or frames go uncovered")
        if self.flow_width != 0 and not 16 <= self.flow_width <= 2048:
            raise ValueError("flow_width must be an integer between 16 and 2048")
        if self.score_on != "grey" and not self.motion_channel:
            raise ValueError('score_on "motion" or "both" needs motion_channel true')
        return self

    @property
    def channels(self) -> int:
        return 2 if self.motion_channel else 1


def build_model(channels: int, width: int, hidden: int) -> nn.Module:
    """Conv3D encoder -> ConvLSTM bottleneck -> Conv3D-transpose decoder (sigmoid output).

    (B, C, T, H, W) -> same shape. The encoder halves H and W three times and T once; the
    ConvLSTM runs over the remaining T / 2 steps at 1/8 of the side. No batch norm: a cube's
    error must not depend on the other cubes of its batch.
    """
    from torch import nn

    from detection.components.conv_lstm import ConvLSTM

    class VideoAutoencoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            act = nn.LeakyReLU(0.2)
            self.encoder = nn.Sequential(
                nn.Conv3d(channels, width, 3, stride=(1, 2, 2), padding=1),
                act,
                nn.Conv3d(width, 2 * width, 3, stride=2, padding=1),
                act,
                nn.Conv3d(2 * width, 2 * width, 3, stride=(1, 2, 2), padding=1),
                act,
            )
            self.bottleneck = ConvLSTM(2 * width, hidden)
            self.decoder = nn.Sequential(
                nn.ConvTranspose3d(hidden, 2 * width, (3, 4, 4), (1, 2, 2), (1, 1, 1)),
                act,
                nn.ConvTranspose3d(2 * width, width, 4, 2, 1),
                act,
                nn.ConvTranspose3d(width, channels, (3, 4, 4), (1, 2, 2), (1, 1, 1)),
                nn.Sigmoid(),
            )

        def forward(self, cubes: torch.Tensor) -> torch.Tensor:
            encoded, _ = self.bottleneck(self.encoder(cubes))
            return self.decoder(encoded)

    return VideoAutoencoder()


@register
class VideoAutoencoderDetector(TorchKind, TemporalDetector):
    """Conv3D + ConvLSTM autoencoder on frame cubes; worst normalised region error per frame."""

    kind = "video_autoencoder"
    title = "Video: how scenes move"
    summary = (
        "Learns how normal scenes look and move over short stretches of video, and flags "
        "events that look or move unlike them."
    )
    params_class = VideoAutoencoderParams
    params: VideoAutoencoderParams
    uses_gpu = True

    #: Cubes per forward pass when scoring.
    score_batch = 16

    def __init__(self, params: Params | dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.model: nn.Module | None = None
        #: (height, width) frames are resized to, fixed by the first training frame.
        self.shape: tuple[int, int] | None = None
        self.normaliser: RegionNormaliser | None = None
        self.loss_history: list[float] = []

    # -- preparation ------------------------------------------------------------------
    def _frames(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """A clip -> (N, C, H, W) float32 in [0, 1]: grey, and scaled motion if asked."""
        assert self.shape is not None
        p = self.params
        grey = grey_frames(frames, self.shape)
        channels = [grey]
        if p.motion_channel and p.motion == "flow":
            speed = fine_flow_speed(frames, self.shape, p.flow_width, p.flow_blur)
            channels.append(np.minimum(speed / FLOW_SCALE, 1.0))
        elif p.motion_channel:
            channels.append(np.minimum(motion_maps(grey) * MOTION_GAIN, 1.0))
        return np.stack(channels, axis=1)

    # -- the interface ----------------------------------------------------------------
    def fit_clips(
        self, clips: Sequence[Sequence[np.ndarray]], *, progress: ProgressCallback | None = None
    ) -> Self:
        import torch

        p = self.params
        clips = [clip for clip in clips if len(clip)]
        if not clips:
            raise DetectorError(f"{self.kind} needs at least one training clip with frames")
        self.shape = frame_shape(clips[0][0], p.frame_width, SPATIAL_FACTOR)
        prepared = []
        for number, clip in enumerate(clips):
            prepared.append(self._frames(clip))
            if progress:
                progress(0.05 * (number + 1) / len(clips), f"frames of clip {number + 1}")
        # (clip, start) of every training cube; cubes are cut from the clips on the fly
        cubes = [
            (c, s)
            for c, frames in enumerate(prepared)
            for s in cube_starts(len(frames), p.cube_length, p.train_stride)
        ]
        device = self.device
        rng = np.random.default_rng(p.seed)
        per_epoch = len(cubes)
        if p.max_cubes_per_epoch:
            per_epoch = min(per_epoch, p.max_cubes_per_epoch)
        n_steps = math.ceil(per_epoch / p.batch_size)
        history: list[float] = []
        with self.seeded(deterministic=True):
            model = build_model(p.channels, p.width, p.hidden_channels).to(device)
            optimizer = torch.optim.Adam(model.parameters(), lr=p.learning_rate)
            model.train()
            for epoch in range(p.epochs):
                order = rng.permutation(len(cubes))[:per_epoch]
                loss_sum = 0.0
                for step in range(n_steps):
                    chosen = order[step * p.batch_size : (step + 1) * p.batch_size]
                    batch = np.concatenate(
                        [
                            make_cubes(prepared[cubes[i][0]], [cubes[i][1]], p.cube_length)
                            for i in chosen
                        ]
                    )
                    x = torch.from_numpy(batch).to(device)
                    loss = ((model(x) - x) ** 2).mean()
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    loss_sum += float(loss.detach()) * len(chosen)
                history.append(loss_sum / per_epoch)
                if progress:
                    progress(
                        0.05 + 0.8 * (epoch + 1) / p.epochs,
                        f"epoch {epoch + 1}/{p.epochs}: loss {history[-1]:.5f}",
                    )
        self.model = model.eval()
        self.loss_history = history
        # what each region's error reaches on normal frames, for the normalisation
        regions = np.concatenate([region_means(self._error_maps(f), p.region) for f in prepared])
        self.normaliser = RegionNormaliser(p.region_quantile).fit(regions)
        self.is_fitted = True
        if progress:
            progress(1.0, f"fitted on {len(cubes)} cubes of {len(clips)} clip(s)")
        return self

    def _error_maps(self, prepared: np.ndarray) -> np.ndarray:
        """(N, C, H, W) prepared frames -> (N, H, W) per-pixel squared error per frame."""
        import torch

        assert self.model is not None
        p = self.params
        starts = cube_starts(len(prepared), p.cube_length, p.score_stride)
        errors = []
        with torch.inference_mode():
            for first in range(0, len(starts), self.score_batch):
                batch = make_cubes(
                    prepared, starts[first : first + self.score_batch], p.cube_length
                )
                x = torch.from_numpy(batch).to(self.device)
                # (K, C, T, H, W) -> mean over the scored channels -> (K, T, H, W)
                error = (self.model(x) - x) ** 2
                if p.score_on != "both":
                    error = error[:, 1:] if p.score_on == "motion" else error[:, :1]
                errors.append(error.mean(dim=1).float().cpu().numpy())
        return cover_frames(np.concatenate(errors), starts, len(prepared))

    def score_clip(self, frames: Sequence[np.ndarray]) -> ScoreResult:
        self._require_fitted()
        assert self.model is not None and self.normaliser is not None
        if len(frames) == 0:
            return ScoreResult(scores=np.zeros(0), heatmaps=[])
        self.on_device(self.model)
        p = self.params
        regions = self.normaliser(region_means(self._error_maps(self._frames(frames)), p.region))
        scores = smooth_in_time(regions.reshape(len(regions), -1).max(axis=1), p.smooth_frames)
        heatmaps = [
            upsample_map(region_map, frames[i].shape) for i, region_map in enumerate(regions)
        ]
        return ScoreResult(scores=scores, heatmaps=heatmaps)

    # -- artefact ---------------------------------------------------------------------
    def _dump(self, state_dir: Path) -> None:
        import torch

        assert self.model is not None and self.normaliser is not None
        assert self.shape is not None and self.normaliser.scale is not None
        self.save_tensors(state_dir / MODEL_FILE, model_state(self.model))
        self.save_tensors(
            state_dir / NORMALISER_FILE,
            {
                "shape": torch.tensor(self.shape),
                "region_scale": torch.from_numpy(self.normaliser.scale),
            },
        )

    def _restore(self, state_dir: Path) -> None:
        p = self.params
        model = self.load_model_state(
            lambda: build_model(p.channels, p.width, p.hidden_channels), state_dir / MODEL_FILE
        )
        extra = self.load_tensors(state_dir / NORMALISER_FILE, required=("shape", "region_scale"))
        try:
            shape = tuple(int(v) for v in extra["shape"].tolist())
            scale = extra["region_scale"].numpy().astype(np.float32)
        except (TypeError, AttributeError) as exc:
            raise DetectorError(f"{self.kind} artefact is not valid: {exc}") from exc
        if len(shape) != 2:
            raise DetectorError(f"{self.kind} artefact has no valid frame shape")
        self.model = model
        self.shape = (shape[0], shape[1])
        self.normaliser = RegionNormaliser(p.region_quantile)
        self.normaliser.scale = scale
