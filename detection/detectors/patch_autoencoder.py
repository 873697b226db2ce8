"""Autoencoder of pretrained patch features (DFR-style): what it cannot rebuild is abnormal.

Every photo goes once through a frozen ImageNet backbone (:mod:`detection.features.
backbone`, the same mid-level MobileNetV2 patch maps as ``deep_knn``); a small convolutional
autoencoder then learns to rebuild the feature maps of normal photos through a narrow
bottleneck. A patch unlike any normal one is rebuilt badly, and feature space makes
"unlike" mean a different texture, part or object rather than a few shifted pixels (the
pixel-space version of this kind ranked forests above coasts and was at chance on tiles).
Shi, Yang and Qi, "Unsupervised anomaly segmentation via deep feature reconstruction"
(Neurocomputing 2021); anomalib keeps the same split of frozen extractor and small model.

* Training streams mini-batches of random crops of the cached feature maps (float16, on
  the CPU; at the default 224 px about 0.2 MB per photo), so memory does not grow with the
  model's input and the backbone runs once per photo, not once per epoch.
* Error per position: squared error over the (per-channel standardised) features, divided
  by what is normal *for that position* (mean and spread of the training photos' errors on
  a fixed grid): borders and busy parts of a scene are always rebuilt less well, and would
  otherwise look abnormal in every photo.
* Image score (``image_score="combined"``): the worst position plus the mean over the
  photo, each in units of its spread over the training photos, so both a small defect and
  a photo that is wrong as a whole (a coast at a forest site) stand out. Heatmap: the
  normalised error map upsampled to the photo's resolution and blurred.

Usage::

    detector = create_detector("patch_autoencoder", {"image_size": 224})
    detector.fit(normal_images)
    result = detector.score(new_images)  # result.scores, result.heatmaps
    detector.save("model.zip")
    detector = load_detector("model.zip")

The artefact holds the autoencoder's weights and the normalisation statistics as plain
tensors (``torch.save``, read with ``weights_only=True``); the backbone is rebuilt from the
installed torchvision weights. Artefacts of the former pixel-space design cannot be read:
loading one raises a :class:`~detection.base.DetectorError` asking for a new version.
Training is seeded without touching the global random state, and devices, tensor files and
map upsampling are those of every torch kind (:mod:`detection.components.torch_kind`);
torch is imported lazily so that listing kinds or using the histogram kind stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

import numpy as np
from pydantic import Field

from detection.base import (
    Backbone,
    BackboneLayers,
    Detector,
    DetectorError,
    Device,
    Params,
    ProgressCallback,
    ScoreResult,
    Seed,
    Weights,
    scaled_progress,
    with_message,
)
from detection.components.torch_kind import (
    TorchKind,
    checked_batches,
    model_state,
    upsample_map,
)
from detection.registry import register

if TYPE_CHECKING:
    import torch
    from torch import nn

    from detection.features.backbone import PatchFeatureExtractor
    from detection.objects import LabelledBox

STATE_FILE = "feature_autoencoder.pt"
#: Parameters only the former pixel-patch design had: an artefact naming them is old.
_PIXEL_DESIGN_PARAMS = frozenset({"grid", "channels", "preprocess", "loss", "ssim_window"})
_PIXEL_DESIGN_MESSAGE = (
    "this patch_autoencoder model was saved by an older version (an autoencoder of pixel "
    "patches) that can no longer be read; train a new version"
)
#: Side of the grid the per-position error statistics live on (each photo's error map is
#: resized to it); 28 is the feature grid of a square photo at the default 224 px.
STATS_GRID = 28
ImageScore = Literal["combined", "worst", "mean"]


class PatchAutoencoderParams(Params):
    backbone: Backbone = "mobilenet_v2"
    weights: Weights = "IMAGENET1K_V1"
    layers: BackboneLayers = None
    image_size: int = Field(
        224,
        ge=32,
        le=1024,
        description="Size in pixels the photos are shrunk to before they are described (32 "
        "to 1024); larger finds smaller defects but is slower.",
    )
    keep_aspect: bool = Field(
        True,
        description="Keep each photo's proportions instead of squashing it into a square.",
    )
    hidden_channels: int = Field(
        64,
        ge=4,
        le=1024,
        description="Size of the network's outer layers (4 to 1024); larger learns more "
        "detail but is slower.",
    )
    latent_channels: int = Field(
        16,
        ge=1,
        le=1024,
        description="How much the network may remember about each region (1 to 1024). Too "
        "much and it rebuilds defects too, so they no longer stand out.",
    )
    kernel_size: Annotated[
        Literal[1, 3],
        with_message("kernel_size must be 1 or 3"),
    ] = Field(
        3,
        description="3 = each region is rebuilt with its neighbours in view (better, about "
        "three times slower to train); 1 = each region on its own.",
    )
    steps: int = Field(
        600,
        ge=1,
        le=100_000,
        description="Training steps; training time grows with them, not with the number of photos.",
    )
    batch_size: int = Field(
        16,
        ge=1,
        le=1024,
        description="Pieces of photos per training step; lower it if memory runs out.",
    )
    crop_size: int = Field(
        12,
        ge=2,
        le=128,
        description="Side of each training piece, in regions of the description grid (one "
        "region is 8 pixels of the shrunk photo).",
    )
    learning_rate: float = Field(
        2e-3,
        gt=0,
        le=1,
        description="How big each training step is (more than 0, at most 1); too high makes "
        "training unstable.",
    )
    image_score: ImageScore = Field(
        "combined",
        description='How a photo\'s score comes from its regions: "worst" (the most unusual '
        'region: small defects), "mean" (the photo as a whole: wrong scenes or objects), or '
        '"combined", both added up.',
    )
    blur_sigma: float = Field(
        4.0,
        ge=0,
        description="Smoothing of the heat map that shows where a photo looks abnormal, in "
        "pixels (0 = none).",
    )
    device: Device = "auto"
    seed: Seed = 0


def build_feature_autoencoder(
    channels: int, hidden: int, latent: int, kernel_size: int
) -> nn.Module:
    """Conv encoder to a 1x1 bottleneck of ``latent`` channels and back, at full resolution.

    No downsampling: the feature grid is already coarse (1/8 of the photo), and a defect
    must stay in its own position. No batch norm: a position's error must not depend on
    what else is in its batch.
    """
    from torch import nn

    pad = kernel_size // 2
    return nn.Sequential(
        nn.Conv2d(channels, hidden, kernel_size, padding=pad),
        nn.LeakyReLU(0.2),
        nn.Conv2d(hidden, latent, 1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(latent, hidden, 1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(hidden, channels, kernel_size, padding=pad),
    )


@register
class PatchAutoencoderDetector(TorchKind, Detector):
    """Autoencoder of pretrained patch features; per-position normalised error; heatmap."""

    kind = "patch_autoencoder"
    title = "Redrawing"
    summary = (
        "Learns to redraw what a pretrained image network sees in normal photos; the parts "
        "it cannot redraw are unusual, and it shows where."
    )
    params_class = PatchAutoencoderParams
    params: PatchAutoencoderParams
    uses_gpu = True
    #: Every training photo calibrates, out of fold: the backbone runs once for all folds
    #: (:meth:`fit_out_of_fold`), so k + 1 fits cost k + 1 sets of training steps.
    crossfit = True

    #: Photos run through the backbone together.
    image_batch = 16
    #: Bytes of float16 feature maps kept for training at most; beyond it a random share of
    #: the photos trains (the steps see a few thousand crops, not every photo, anyway).
    max_cache_bytes = 1 << 30

    def __init__(self, params: Params | dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.model: nn.Module | None = None
        #: Normalisation state as tensors on the CPU (see :meth:`_fit_statistics`).
        self.stats: dict[str, torch.Tensor] = {}
        #: Mean training loss per tenth of the steps, from the last :meth:`fit`.
        self.loss_history: list[float] = []
        self._extractor: PatchFeatureExtractor | None = None

    # -- helpers ----------------------------------------------------------------------
    @property
    def extractor(self) -> PatchFeatureExtractor:
        """The backbone, built on first use (raises WeightsMissingError without weights)."""
        if self._extractor is None:
            self._extractor = self.build_extractor()
        return self._extractor

    def _batches(self, images: Sequence[np.ndarray]) -> Iterator[tuple[int, list[np.ndarray]]]:
        return checked_batches(images, self.image_batch)

    def _standardised(self, feature_map: torch.Tensor) -> torch.Tensor:
        """(C, h, w) features -> float32 on the model's device, per-channel standardised."""
        mean, std = self.stats["channel_mean"], self.stats["channel_std"]
        x = feature_map.to(self.device).float()
        return (x - mean.to(self.device)) / std.to(self.device)

    def error_map(self, feature_map: torch.Tensor) -> torch.Tensor:
        """(C, h, w) features -> (h, w) squared reconstruction error, on the CPU."""
        import torch

        assert self.model is not None
        x = self._standardised(feature_map)[None]
        with torch.inference_mode():
            return ((self.model(x) - x) ** 2).mean(dim=1)[0].float().cpu()

    def normalised_map(self, error: torch.Tensor) -> torch.Tensor:
        """(h, w) error -> the error in units of the normal spread at each position."""
        import torch
        import torch.nn.functional as F

        grids = torch.stack([self.stats["position_mean"], self.stats["position_std"]])
        mean, std = F.interpolate(grids[None], size=tuple(error.shape), mode="bilinear")[0]
        return (error - mean) / std

    def image_score(self, z: torch.Tensor) -> float:
        """One photo's score from its normalised error map (see ``image_score``)."""
        worst, mean = float(z.max()), float(z.mean())
        how = self.params.image_score
        if how == "worst":
            return worst
        if how == "mean":
            return mean
        s = self.stats["score_scale"].tolist()  # [worst mean, worst std, mean mean, mean std]
        return (worst - s[0]) / s[1] + (mean - s[2]) / s[3]

    def heatmap(self, z: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """The normalised error grid upsampled to the photo's (H, W) and blurred."""
        import cv2

        full = upsample_map(z, shape)
        if self.params.blur_sigma > 0:
            full = cv2.GaussianBlur(full, (0, 0), sigmaX=float(self.params.blur_sigma))
        return full.astype(np.float32, copy=False)

    # -- fitting ----------------------------------------------------------------------
    def _feature_cache(
        self, images: Sequence[np.ndarray], progress: ProgressCallback
    ) -> tuple[list[torch.Tensor], list[tuple[int, int]]]:
        """The training photos' feature maps, float16 on the CPU (a random share if huge),
        and every photo's (height, width)."""
        p = self.params
        total = len(images)
        keep: set[int] | None = None
        cache: list[torch.Tensor] = []
        shapes: list[tuple[int, int]] = []
        for start, batch in self._batches(images):
            shapes.extend((image.shape[0], image.shape[1]) for image in batch)
            maps = self.extractor(batch, p.image_size, p.keep_aspect)
            for offset, feature_map in enumerate(maps):
                if keep is None or start + offset in keep:
                    cache.append(feature_map.half().cpu())
            if keep is None:
                per_map = cache[0].numel() * cache[0].element_size()
                if per_map * total > self.max_cache_bytes:
                    rng = np.random.default_rng(p.seed)
                    n_keep = max(2, self.max_cache_bytes // per_map)
                    keep = set(rng.choice(total, n_keep, replace=False).tolist())
                    cache = [m for i, m in enumerate(cache) if i in keep]
            progress((start + len(batch)) / total, f"features {start + len(batch)}/{total}")
        return cache, shapes

    def _crops(
        self, cache: Sequence[torch.Tensor], side: int, rng: np.random.Generator
    ) -> torch.Tensor:
        """A training batch: ``batch_size`` random (C, side, side) crops of cached maps."""
        import torch

        crops = []
        for index in rng.integers(len(cache), size=self.params.batch_size):
            feature_map = cache[int(index)]
            y = int(rng.integers(feature_map.shape[1] - side + 1))
            x = int(rng.integers(feature_map.shape[2] - side + 1))
            crops.append(feature_map[:, y : y + side, x : x + side])
        return torch.stack(crops)

    def _fit_statistics(self, cache: Sequence[torch.Tensor]) -> None:
        """Per-position and per-photo error statistics of the training photos.

        The spread at a position is floored by half the spread over all positions, so a
        position that happened to be rebuilt equally well in every training photo does not
        turn a tiny difference into a huge score.
        """
        import torch
        import torch.nn.functional as F

        errors = [self.error_map(m) for m in cache]
        every = torch.cat([e.flatten() for e in errors])
        on_grid = torch.stack(
            [
                F.interpolate(
                    e[None, None], size=(STATS_GRID, STATS_GRID), mode="bilinear"
                ).reshape(STATS_GRID, STATS_GRID)
                for e in errors
            ]
        )
        floor = 0.5 * float(every.std()) + 1e-6
        self.stats["position_mean"] = on_grid.mean(dim=0)
        self.stats["position_std"] = on_grid.std(dim=0, correction=0) + floor
        z = [self.normalised_map(e) for e in errors]
        worst = torch.tensor([float(m.max()) for m in z], dtype=torch.float64)
        mean = torch.tensor([float(m.mean()) for m in z], dtype=torch.float64)
        spread = [float(t.std(correction=0)) + 1e-6 for t in (worst, mean)]
        self.stats["score_scale"] = torch.tensor(
            [float(worst.mean()), spread[0], float(mean.mean()), spread[1]], dtype=torch.float64
        )

    def _train(self, cache: Sequence[torch.Tensor], progress: ProgressCallback | None) -> None:
        """Fit the normalisation, the autoencoder and the error statistics to ``cache``."""
        import torch

        p = self.params
        every = torch.cat([m.flatten(1).float() for m in cache], dim=1)
        self.stats = {
            "channel_mean": every.mean(dim=1)[:, None, None],
            "channel_std": every.std(dim=1)[:, None, None] + 1e-3,
        }
        del every
        side = min(p.crop_size, *(min(m.shape[1:]) for m in cache))
        device = self.device
        rng = np.random.default_rng(p.seed)
        history: list[float] = []
        report_every = max(1, p.steps // 10)
        with self.seeded(deterministic=True):
            channels = cache[0].shape[0]
            model = build_feature_autoencoder(
                channels, p.hidden_channels, p.latent_channels, p.kernel_size
            ).to(device)
            optimizer = torch.optim.Adam(model.parameters(), lr=p.learning_rate)
            model.train()
            mean = self.stats["channel_mean"].to(device)
            std = self.stats["channel_std"].to(device)
            loss_sum = 0.0
            for step in range(p.steps):
                batch = (self._crops(cache, side, rng).to(device).float() - mean) / std
                loss = ((model(batch) - batch) ** 2).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += float(loss.detach())
                if (step + 1) % report_every == 0 or step + 1 == p.steps:
                    done = (step % report_every) + 1
                    history.append(loss_sum / done)
                    loss_sum = 0.0
                    if progress:
                        progress(
                            (step + 1) / p.steps,
                            f"step {step + 1}/{p.steps}: loss {history[-1]:.4f}",
                        )
        self.model = model.eval()
        self.loss_history = history
        self._fit_statistics(cache)

    def fit(
        self,
        images: Sequence[np.ndarray],
        *,
        labels: Sequence[str] | None = None,
        boxes: Sequence[Sequence[LabelledBox]] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Self:
        total = len(images)
        if total < 2:
            raise DetectorError(f"{self.kind} needs at least 2 training images; got {total}")
        cache, _ = self._feature_cache(images, scaled_progress(progress, 0.0, 0.3))
        self._train(cache, scaled_progress(progress, 0.3, 0.95))
        self.is_fitted = True
        if progress:
            progress(1.0, f"fitted on the features of {len(cache)} of {total} images")
        return self

    def fit_out_of_fold(
        self,
        images: Sequence[np.ndarray],
        folds: Sequence[Sequence[int]],
        *,
        on_heatmap: Callable[[np.ndarray], np.ndarray] | None = None,
        progress: ProgressCallback | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray] | None] | None:
        """Fit on all ``images`` as :meth:`fit` does, and score each fold out of fold.

        The backbone pass is most of a fit's cost on a CPU and gives a photo the same
        features in every fold, so it runs once; each fold then trains its own autoencoder
        and error statistics on the other photos' features (the steps cost the same at any
        number of photos) and scores its photos with them. The final model is :meth:`fit`'s.
        Returns None when the features of every photo would not fit in
        :attr:`max_cache_bytes` (judged from the first photo, before the backbone pass) or
        a fold would leave fewer than 2 photos to train on: the caller then refits per
        fold. Held-out photos are scored from the float16 features the models train on, so
        their scores differ from a refit's (which scores float32 features) by about 0.2 %.
        ``on_heatmap`` receives each heatmap (e.g. to shrink it) and its result is kept.
        """
        total = len(images)
        every = set(range(total))
        subsets = [sorted(every - set(fold)) for fold in folds]
        if total < 2 or any(len(subset) < 2 for subset in subsets):
            return None
        p = self.params
        first = next(checked_batches(images, 1))[1]
        probe = self.extractor(first, p.image_size, p.keep_aspect)
        if probe[0].numel() * 2 * total > self.max_cache_bytes:  # float16, as cached
            return None  # checked before the backbone pass, the dominant cost
        cache, shapes = self._feature_cache(images, scaled_progress(progress, 0.0, 0.15))
        if len(cache) < total:  # photos of other sizes than the first: larger maps
            return None
        scores = np.zeros(total, dtype=np.float64)
        heatmaps: list[np.ndarray | None] | None = [None] * total if on_heatmap else None
        share = 0.8 / (len(folds) + 1)
        for number, (fold, subset) in enumerate(zip(folds, subsets, strict=True)):
            start = 0.15 + number * share
            self._train(
                [cache[i] for i in subset],
                scaled_progress(progress, start, start + share, f"fold {number + 1}: "),
            )
            for index in fold:
                z = self.normalised_map(self.error_map(cache[index]))
                scores[index] = self.image_score(z)
                if heatmaps is not None and on_heatmap is not None:
                    heatmaps[index] = on_heatmap(self.heatmap(z.numpy(), shapes[index]))
        self._train(cache, scaled_progress(progress, 0.95 - share, 0.95))
        self.is_fitted = True
        if progress:
            progress(1.0, f"fitted on the features of {total} images, {len(folds)} folds")
        return scores, heatmaps  # type: ignore[return-value]

    # -- scoring ----------------------------------------------------------------------
    def score(self, images: Sequence[np.ndarray]) -> ScoreResult:
        self._require_fitted()
        assert self.model is not None
        self.on_device(self.model)
        p = self.params
        scores = np.zeros(len(images), dtype=np.float64)
        heatmaps: list[np.ndarray] = []
        for start, batch in self._batches(images):
            maps = self.extractor(batch, p.image_size, p.keep_aspect)
            for offset, (image, feature_map) in enumerate(zip(batch, maps, strict=True)):
                z = self.normalised_map(self.error_map(feature_map))
                scores[start + offset] = self.image_score(z)
                heatmaps.append(self.heatmap(z.numpy(), image.shape[:2]))
        return ScoreResult(scores=scores, heatmaps=heatmaps)

    # -- the artefact -----------------------------------------------------------------
    @classmethod
    def upgrade_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Parameters of the former pixel design cannot be read: say so plainly."""
        if _PIXEL_DESIGN_PARAMS & set(params):
            raise DetectorError(_PIXEL_DESIGN_MESSAGE)
        return params

    def _dump(self, state_dir: Path) -> None:
        assert self.model is not None
        self.save_tensors(
            state_dir / STATE_FILE, {"model": model_state(self.model), "stats": self.stats}
        )

    def _restore(self, state_dir: Path) -> None:
        import torch

        p = self.params
        if not (state_dir / STATE_FILE).exists():
            raise DetectorError(_PIXEL_DESIGN_MESSAGE)
        state = self.load_tensors(state_dir / STATE_FILE, required=("model", "stats"))
        names = ("channel_mean", "channel_std", "position_mean", "position_std", "score_scale")
        if (
            not isinstance(state.get("model"), dict)
            or not isinstance(state.get("stats"), dict)
            or not all(isinstance(state["stats"].get(n), torch.Tensor) for n in names)
        ):
            raise DetectorError(f"{self.kind} artefact has no valid model state")
        stats = {n: state["stats"][n] for n in names}
        channels = stats["channel_mean"].shape[0]
        self.model = self.load_model_state(
            lambda: build_feature_autoencoder(
                channels, p.hidden_channels, p.latent_channels, p.kernel_size
            ),
            state["model"],
        )
        self.stats = stats
