"""Convolutional autoencoder on a grid of patches (the MVTec AD grid-patch idea).

Every image is resized to ``image_size`` (square), optionally turned grayscale, and cut into
a ``grid`` x ``grid`` grid of patches. A small convolutional autoencoder (stride-2 conv
encoder to a narrow spatial bottleneck, transposed-conv decoder, sigmoid output) learns to
reconstruct the patches of normal images only; what it never saw, it reconstructs badly.

* Per-patch error: the mean of a per-pixel error map, ``mse`` (squared error), ``ssim``
  (``(1 - SSIM) / 2`` with a gaussian window, kinder to slight misalignment of fine texture)
  or their sum ``mse+ssim``. The training loss is the same quantity, so the model is
  optimised for exactly what scores it.
* Image score: the worst patch. A defect is local, and averaging it with dozens of clean
  patches would hide it.
* Heatmap: the per-pixel error map, stitched back from the patches, blurred and resized to
  the input image's resolution (float32).

``preprocess="colour_difference"`` subtracts a per-site reference image (the per-pixel
median of the training images at ``image_size``) before the autoencoder sees them: for a
fixed camera the scene's layout is then removed and only deviations from it remain (the
seed project's "colour difference to reference" enhancement). The reference is stored in
the artefact beside the ``state_dict``; both are plain tensors written with ``torch.save``
and read with ``weights_only=True``, so no pickled objects are ever loaded.

Training is seeded (weight init, shuffling, augmentation) inside ``torch.random.fork_rng`` so
the global RNG is left alone; on CUDA, cuDNN is asked for deterministic algorithms.

torch is imported lazily so that listing kinds or using the histogram kind stays light.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, get_args

import numpy as np
from pydantic import BeforeValidator, Field, model_validator

from detection.base import (
    Detector,
    DetectorError,
    Device,
    Params,
    ProgressCallback,
    ScoreResult,
    Seed,
    check_images,
    with_message,
)
from detection.registry import register

if TYPE_CHECKING:
    import torch
    from torch import nn

    from detection.objects import LabelledBox

MODEL_FILE = "model.pt"
REFERENCE_FILE = "reference.pt"
Loss = Literal["mse", "ssim", "mse+ssim"]
Preprocessing = Literal["none", "colour_difference"]
LOSSES: tuple[str, ...] = get_args(Loss)
PREPROCESSING: tuple[str, ...] = get_args(Preprocessing)
#: The encoder halves the patch side this many times.
DOWNSAMPLINGS = 3


def _not_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("channels must be 1 (grayscale) or 3 (colour)")
    return value


class PatchAutoencoderParams(Params):
    image_size: int = Field(
        256,
        ge=16,
        le=1024,
        description="Size in pixels of the square the photos are shrunk to before they are "
        "cut into pieces; must be a multiple of 8 x grid.",
    )
    grid: int = Field(
        8,
        ge=1,
        le=64,
        description="Pieces per side the photo is cut into (1 to 64); each piece is checked "
        "on its own, so smaller pieces find smaller defects.",
    )
    channels: Annotated[
        Literal[1, 3],
        BeforeValidator(_not_bool),
        with_message("channels must be 1 (grayscale) or 3 (colour)"),
    ] = Field(3, description="3 = look at colour, 1 = look at grey levels only.")
    preprocess: Preprocessing = Field(
        "none",
        description='"colour_difference" first subtracts the typical (median) training photo, '
        'so only what differs from it is learnt; "none" uses the photos as they are.',
    )
    width: int = Field(
        32,
        ge=4,
        le=256,
        description="Size of the network's first layer (4 to 256); larger learns more detail "
        "but is slower.",
    )
    latent_channels: int = Field(
        16,
        ge=1,
        le=1024,
        description="How much the network may remember about each piece (1 to 1024). Too "
        "much and it reproduces defects too, so they no longer stand out.",
    )
    loss: Loss = Field(
        "mse",
        description='How the rebuilt piece is compared with the original: "mse" (pixel '
        'differences), "ssim" (differences in local structure) or both.',
    )
    ssim_window: int = Field(
        11,
        ge=3,
        description="ssim only: side in pixels of the window structure is compared over (odd, "
        "at least 3).",
    )
    ssim_sigma: float = Field(
        1.5, gt=0, description="ssim only: how strongly the window favours its centre (> 0)."
    )
    epochs: int = Field(
        30, ge=1, le=10_000, description="How many times training goes through all the pieces."
    )
    batch_size: int = Field(
        64, ge=1, le=4096, description="Pieces per training step; lower it if memory runs out."
    )
    learning_rate: float = Field(
        1e-3,
        gt=0,
        le=1,
        description="How big each training step is (more than 0, at most 1); too high makes "
        "training unstable.",
    )
    augment: bool = Field(
        False, description="While training, also show mirrored copies of the pieces."
    )
    blur_sigma: float = Field(
        2.0,
        ge=0,
        description="Smoothing of the heat map that shows where a photo looks abnormal, in "
        "pixels (0 = none).",
    )
    device: Device = "auto"
    seed: Seed = 0

    @model_validator(mode="after")
    def _check_shapes(self) -> Self:
        if self.ssim_window % 2 == 0:
            raise ValueError("ssim_window must be an odd integer of at least 3")
        step = self.grid * 2**DOWNSAMPLINGS
        if self.image_size % step:
            raise ValueError(
                f"image_size must be a multiple of 8 x grid = {step} so that each patch side "
                f"is a multiple of 8; got image_size {self.image_size} with grid {self.grid}"
            )
        return self

    @property
    def patch_size(self) -> int:
        return self.image_size // self.grid


def build_autoencoder(channels: int, width: int, latent_channels: int) -> nn.Module:
    """Stride-2 conv encoder to a 1x1-conv bottleneck at 1/8 of the side, mirrored decoder.

    No batch norm: the statistics of one site's patches would differ between training and
    scoring batches, and a per-patch score must not depend on its batch neighbours.
    """
    from torch import nn

    widths = [width * 2**i for i in range(DOWNSAMPLINGS)]
    encoder: list[nn.Module] = []
    previous = channels
    for out in widths:
        encoder += [nn.Conv2d(previous, out, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
        previous = out
    encoder.append(nn.Conv2d(previous, latent_channels, 1))
    decoder: list[nn.Module] = [nn.Conv2d(latent_channels, previous, 1), nn.LeakyReLU(0.2)]
    for out in [*reversed(widths[:-1]), None]:
        last = out is None
        target = channels if last else out
        decoder.append(nn.ConvTranspose2d(previous, target, 4, stride=2, padding=1))
        decoder.append(nn.Sigmoid() if last else nn.LeakyReLU(0.2))
        previous = target
    return nn.Sequential(nn.Sequential(*encoder), nn.Sequential(*decoder))


def gaussian_window(size: int, sigma: float) -> torch.Tensor:
    """Normalised (size, size) gaussian kernel."""
    import torch

    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim_map(x: torch.Tensor, y: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Per-pixel SSIM of (B, C, H, W) images in [0, 1], averaged over channels -> (B, H, W).

    Local statistics under a gaussian window (Wang et al. 2004, constants for data range 1);
    borders are reflect-padded so every pixel gets a full window.
    """
    import torch.nn.functional as F

    channels = x.shape[1]
    kernel = window.to(x.device, x.dtype).expand(channels, 1, *window.shape)
    pad = window.shape[-1] // 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(t, (pad,) * 4, mode="reflect"), kernel, groups=channels)

    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    ssim = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return ssim.mean(dim=1)


@register
class PatchAutoencoderDetector(Detector):
    """Conv autoencoder on a grid of patches; the worst patch's reconstruction error; heatmap."""

    kind = "patch_autoencoder"
    title = "Redrawing"
    summary = (
        "Learns to redraw normal photos piece by piece; the pieces it cannot redraw are "
        "unusual, and it shows where."
    )
    params_class = PatchAutoencoderParams
    params: PatchAutoencoderParams
    uses_gpu = True

    #: Images prepared and scored together (their patches go through the model as one batch).
    score_batch_images = 16

    def __init__(self, params: Params | dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.model: nn.Module | None = None
        #: (S, S, C) float32 in [0, 1]: the median training image, for colour_difference.
        self.reference: np.ndarray | None = None
        #: Mean training loss per epoch, from the last :meth:`fit`.
        self.loss_history: list[float] = []
        self._device: torch.device | None = None
        self._window: torch.Tensor | None = None

    # -- helpers ----------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        """The torch device of the parameters' choice, resolved on first use."""
        if self._device is None:
            from detection.device import pick_device

            self._device = pick_device(self.params.device)
        return self._device

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        """One BGR image -> (S, S, C) uint8 at ``image_size``, grayscale if asked."""
        import cv2

        check_images([image])
        size = self.params.image_size
        interpolation = cv2.INTER_AREA if min(image.shape[:2]) >= size else cv2.INTER_LINEAR
        resized = cv2.resize(image, (size, size), interpolation=interpolation)
        if self.params.channels == 1:
            resized = cv2.cvtColor(resized, cv2.COLOR_BGR2GRAY)[..., None]
        return resized

    def _model_input(self, prepared: np.ndarray) -> np.ndarray:
        """(N, S, S, C) uint8 -> float32 in [0, 1], minus the reference when asked.

        A difference lies in [-1, 1]; it is mapped to [0, 1] (0.5 = same as the reference)
        so that the sigmoid decoder can reproduce it.
        """
        values = prepared.astype(np.float32) / 255.0
        if self.params.preprocess == "colour_difference":
            assert self.reference is not None
            values = (values - self.reference) * 0.5 + 0.5
        return values

    def _to_patches(self, values: np.ndarray) -> torch.Tensor:
        """(N, S, S, C) -> (N * grid * grid, C, P, P), patches in row-major order per image."""
        import torch

        n, _, _, c = values.shape
        g, p = self.params.grid, self.params.patch_size
        patches = values.reshape(n, g, p, g, p, c).transpose(0, 1, 3, 5, 2, 4)
        return torch.from_numpy(np.ascontiguousarray(patches.reshape(n * g * g, c, p, p)))

    def _from_patches(self, maps: np.ndarray) -> np.ndarray:
        """(N * grid * grid, P, P) per-pixel maps -> (N, S, S) whole-image maps."""
        g, p = self.params.grid, self.params.patch_size
        n = maps.shape[0] // (g * g)
        return maps.reshape(n, g, g, p, p).transpose(0, 1, 3, 2, 4).reshape(n, g * p, g * p)

    def _ssim_window(self) -> torch.Tensor:
        if self._window is None:
            size = min(self.params.ssim_window, self.params.patch_size)
            size -= 1 - size % 2  # odd, at most the patch side
            self._window = gaussian_window(max(size, 1), float(self.params.ssim_sigma))
        return self._window

    def error_map(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-pixel error of reconstructions ``y`` of patches ``x`` -> (B, P, P)."""
        loss = self.params.loss
        error = ((x - y) ** 2).mean(dim=1) if "mse" in loss else None
        if "ssim" in loss:
            dissimilarity = (1 - ssim_map(x, y, self._ssim_window())) / 2
            error = dissimilarity if error is None else error + dissimilarity
        assert error is not None
        return error

    def _image_batches(self, total: int) -> Iterator[list[int]]:
        size = self.score_batch_images
        for start in range(0, total, size):
            yield list(range(start, min(start + size, total)))

    # -- the interface ----------------------------------------------------------------
    def fit(
        self,
        images: Sequence[np.ndarray],
        *,
        labels: Sequence[str] | None = None,
        boxes: Sequence[Sequence[LabelledBox]] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Self:
        import torch

        total = len(images)
        if total < 2:
            raise DetectorError(f"{self.kind} needs at least 2 training images; got {total}")
        p = self.params
        prepared = np.empty((total, p.image_size, p.image_size, p.channels), np.uint8)
        for index in range(total):
            prepared[index] = self._prepare(images[index])
            if progress and (index % 25 == 0 or index == total - 1):
                progress(0.1 * (index + 1) / total, f"images {index + 1}/{total}")
        self.reference = None
        if p.preprocess == "colour_difference":
            self.reference = (np.median(prepared, axis=0) / 255.0).astype(np.float32)
        patches = self._to_patches(self._model_input(prepared)).to(self.device)
        del prepared

        device = self.device
        devices = [device] if device.type == "cuda" else []
        rng = np.random.default_rng(p.seed)
        n_patches = len(patches)
        n_steps = math.ceil(n_patches / p.batch_size)
        history: list[float] = []
        with (
            torch.random.fork_rng(devices=devices),
            torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True),
        ):
            torch.manual_seed(p.seed)
            model = build_autoencoder(p.channels, p.width, p.latent_channels).to(device)
            optimizer = torch.optim.Adam(model.parameters(), lr=p.learning_rate)
            model.train()
            for epoch in range(p.epochs):
                order = torch.from_numpy(rng.permutation(n_patches)).to(device)
                loss_sum = 0.0
                for step in range(n_steps):
                    batch = patches[order[step * p.batch_size : (step + 1) * p.batch_size]]
                    if p.augment:
                        batch = self._augmented(batch, rng)
                    loss = self.error_map(batch, model(batch)).mean()
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    loss_sum += float(loss.detach()) * len(batch)
                history.append(loss_sum / n_patches)
                if progress:
                    progress(
                        0.1 + 0.9 * (epoch + 1) / p.epochs,
                        f"epoch {epoch + 1}/{p.epochs}: {p.loss} loss {history[-1]:.5f}",
                    )
        self.model = model.eval()
        self.loss_history = history
        self.is_fitted = True
        if progress:
            progress(1.0, f"fitted on {n_patches} patches of {total} images")
        return self

    @staticmethod
    def _augmented(batch: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Flip a random half of the patches left-right and another random half upside down."""
        import torch

        batch = batch.clone()
        for dim in (3, 2):
            chosen = torch.from_numpy(np.flatnonzero(rng.random(len(batch)) < 0.5))
            chosen = chosen.to(batch.device)
            batch[chosen] = batch[chosen].flip(dim)
        return batch

    def score(self, images: Sequence[np.ndarray]) -> ScoreResult:
        import cv2
        import torch

        self._require_fitted()
        assert self.model is not None
        if next(self.model.parameters()).device != self.device:
            self.model.to(self.device)
        p = self.params
        cells = p.grid * p.grid
        scores = np.zeros(len(images), dtype=np.float64)
        heatmaps: list[np.ndarray] = []
        for indices in self._image_batches(len(images)):
            shapes, rows = [], []
            for i in indices:  # each image read once, then only its prepared copy is kept
                image = images[i]
                shapes.append(image.shape[:2])
                rows.append(self._prepare(image))
            prepared = np.stack(rows)
            patches = self._to_patches(self._model_input(prepared)).to(self.device)
            with torch.inference_mode():
                errors = self.error_map(patches, self.model(patches)).float().cpu().numpy()
            patch_errors = errors.reshape(len(indices), cells, -1).mean(axis=2, dtype=np.float64)
            scores[indices[0] : indices[-1] + 1] = patch_errors.max(axis=1)
            for full, (height, width) in zip(self._from_patches(errors), shapes, strict=True):
                full = np.ascontiguousarray(full, dtype=np.float32)
                if p.blur_sigma > 0:
                    full = cv2.GaussianBlur(full, (0, 0), sigmaX=float(p.blur_sigma))
                heatmap = cv2.resize(full, (width, height), interpolation=cv2.INTER_LINEAR)
                heatmaps.append(heatmap.astype(np.float32, copy=False))
        return ScoreResult(scores=scores, heatmaps=heatmaps)

    def _dump(self, state_dir: Path) -> None:
        import torch

        assert self.model is not None
        state = {name: tensor.detach().cpu() for name, tensor in self.model.state_dict().items()}
        torch.save(state, state_dir / MODEL_FILE)
        if self.reference is not None:
            torch.save({"reference": torch.from_numpy(self.reference)}, state_dir / REFERENCE_FILE)

    def _restore(self, state_dir: Path) -> None:
        import torch

        p = self.params
        state = torch.load(state_dir / MODEL_FILE, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise DetectorError(f"{self.kind} artefact has no valid model state")
        model = build_autoencoder(p.channels, p.width, p.latent_channels)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise DetectorError(
                f"{self.kind} artefact does not match its parameters: {exc}"
            ) from exc
        self.model = model.eval()
        self.reference = None
        if p.preprocess == "colour_difference":
            path = state_dir / REFERENCE_FILE
            saved = torch.load(path, map_location="cpu", weights_only=True) if path.exists() else {}
            reference = saved.get("reference") if isinstance(saved, dict) else None
            expected = (p.image_size, p.image_size, p.channels)
            if reference is None or tuple(reference.shape) != expected:
                raise DetectorError(f"{self.kind} artefact has no valid reference image")
            self.reference = reference.numpy().astype(np.float32)
