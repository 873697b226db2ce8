"""Pretrained CNN patch features + nearest-neighbour memory bank (PatchCore-style).

Fitting runs normal images through an ImageNet-pretrained torchvision backbone
(:mod:`detection.features.backbone`), keeps every mid-level patch descriptor, and shrinks
that memory bank by greedy k-center coreset selection (:mod:`detection.sampling`). Scoring
measures each patch's distance to its nearest bank entry: the image score is the largest
patch distance (one odd patch is enough to make an image abnormal), and the patch distances,
upsampled to the input's resolution and blurred, are the heatmap.

Only the memory bank is saved (a plain tensor file read with ``weights_only=True``); the
backbone is rebuilt from the installed torchvision weights named in the parameters, so an
artefact is small and never contains pickled objects.

torch is imported lazily so that listing kinds or using the histogram kind stays light.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from detection.base import (
    Detector,
    DetectorError,
    Params,
    ParamsError,
    ProgressCallback,
    ScoreResult,
    check_device_param,
    check_images,
    check_pretrained_params,
)
from detection.registry import register

if TYPE_CHECKING:
    import torch

    from detection.features.backbone import PatchFeatureExtractor

BANK_FILE = "memory_bank.pt"


@dataclasses.dataclass(frozen=True)
class DeepKnnParams(Params):
    #: Any torchvision classification model; default layers exist for common ones.
    backbone: str = "mobilenet_v2"
    #: torchvision weights name; IMAGENET1K_V1 is the file installed offline for MobileNetV2.
    weights: str = "IMAGENET1K_V1"
    #: Feature layers (torchvision node names); None = the backbone's default pair.
    layers: tuple[str, ...] | None = None
    #: Images are resized to this square size before the backbone.
    image_size: int = 224
    #: Share of all training patches kept in the memory bank by coreset selection.
    coreset_ratio: float = 0.1
    #: Upper bound on the memory bank (bounds scoring time on large training sets).
    max_bank_size: int = 4096
    #: Patch score = mean distance to this many nearest bank entries.
    n_neighbors: int = 1
    #: "auto" (CUDA when available), "cpu" or "cuda".
    device: str = "auto"
    batch_size: int = 16
    #: Gaussian blur of the heatmap, in pixels of the input image.
    blur_sigma: float = 4.0
    #: Gaussian blur of the patch-distance grid before its maximum becomes the image score,
    #: in patches: one odd patch counts less than a small cluster of them. 2 was chosen on a
    #: separate magnetic-tile split (seed 1: AUROC 0.939 -> 0.957); 0 = plain maximum.
    score_sigma: float = 2.0
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.layers, list):
            object.__setattr__(self, "layers", tuple(self.layers))

    def validate(self) -> None:
        check_pretrained_params(self.backbone, self.weights)
        if self.layers is not None and (
            not isinstance(self.layers, tuple)
            or not self.layers
            or not all(isinstance(name, str) and name for name in self.layers)
        ):
            raise ParamsError("layers must be a non-empty list of layer names, or null")
        if not isinstance(self.image_size, int) or not 32 <= self.image_size <= 1024:
            raise ParamsError("image_size must be an integer between 32 and 1024")
        if not isinstance(self.coreset_ratio, int | float) or not 0 < self.coreset_ratio <= 1:
            raise ParamsError("coreset_ratio must be in (0, 1]")
        if not isinstance(self.max_bank_size, int) or self.max_bank_size < 1:
            raise ParamsError("max_bank_size must be a positive integer")
        if not isinstance(self.n_neighbors, int) or not 1 <= self.n_neighbors <= 50:
            raise ParamsError("n_neighbors must be an integer between 1 and 50")
        check_device_param(self.device)
        if not isinstance(self.batch_size, int) or not 1 <= self.batch_size <= 512:
            raise ParamsError("batch_size must be an integer between 1 and 512")
        if not isinstance(self.blur_sigma, int | float) or self.blur_sigma < 0:
            raise ParamsError("blur_sigma must be a number >= 0")
        if not isinstance(self.score_sigma, int | float) or self.score_sigma < 0:
            raise ParamsError("score_sigma must be a number >= 0")
        if not isinstance(self.seed, int):
            raise ParamsError("seed must be an integer")


@register
class DeepKnnDetector(Detector):
    """Pretrained CNN patch features, coreset memory bank, nearest-neighbour distance; heatmap."""

    kind = "deep_knn"
    params_class = DeepKnnParams
    params: DeepKnnParams
    uses_gpu = True

    #: Floats in one (query chunk x bank) distance block: 16 MB keeps it in cache on CPUs.
    distance_block = 1 << 22

    def __init__(self, params: Params | dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.memory_bank: torch.Tensor | None = None  # (M, C) float32, on the CPU
        self._extractor: PatchFeatureExtractor | None = None
        self._bank_cache: tuple[torch.Tensor, torch.Tensor] | None = None

    # -- helpers ----------------------------------------------------------------------
    @property
    def extractor(self) -> PatchFeatureExtractor:
        """The backbone, built on first use (raises WeightsMissingError without weights)."""
        if self._extractor is None:
            from detection.device import pick_device
            from detection.features.backbone import PatchFeatureExtractor

            p = self.params
            self._extractor = PatchFeatureExtractor(
                p.backbone,
                weights=p.weights,
                layers=p.layers,
                image_size=p.image_size,
                device=pick_device(p.device),
            )
        return self._extractor

    def _batches(self, images: Sequence[np.ndarray]) -> Iterator[tuple[int, list[np.ndarray]]]:
        """Yield (start, images), reading a lazy sequence one item at a time."""
        size = self.params.batch_size
        for start in range(0, len(images), size):
            batch = [images[i] for i in range(start, min(start + size, len(images)))]
            check_images(batch)
            yield start, batch

    def patch_distances(self, features: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) patch features -> (B, h, w) distance to the nearest bank entries.

        ``|q - b|^2 = |q|^2 - 2 q.b + |b|^2`` as one matrix product per chunk of queries
        (faster than ``torch.cdist``, which also takes the root of every pair); only the
        minimum per query is rooted.
        """
        import torch

        b, c, h, w = features.shape
        queries = features.permute(0, 2, 3, 1).reshape(-1, c).float()
        bank, bank_sq = self._bank_on(queries.device)
        k = min(self.params.n_neighbors, bank.shape[0])
        rows = max(64, min(4096, self.distance_block // bank.shape[0]))
        out = torch.empty(queries.shape[0], device=queries.device)
        for start in range(0, queries.shape[0], rows):
            chunk = queries[start : start + rows]
            partial = torch.addmm(bank_sq, chunk, bank.T, alpha=-2)  # |b|^2 - 2 q.b
            if k == 1:
                nearest = partial.min(dim=1, keepdim=True).values
            else:
                nearest = partial.topk(k, dim=1, largest=False).values
            squared = (nearest + (chunk * chunk).sum(dim=1, keepdim=True)).clamp_(min=0)
            out[start : start + len(chunk)] = squared.sqrt_().mean(dim=1)
        return out.reshape(b, h, w)

    def _bank_on(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The bank and its squared norms on ``device``, moved there once."""
        assert self.memory_bank is not None
        if self._bank_cache is None or self._bank_cache[0].device != device:
            bank = self.memory_bank.to(device)
            self._bank_cache = (bank, (bank * bank).sum(dim=1))
        return self._bank_cache

    def image_score(self, patch_map: np.ndarray) -> float:
        """Maximum of the (lightly blurred) patch-distance grid."""
        import cv2

        grid = patch_map.astype(np.float32)
        if self.params.score_sigma > 0:
            grid = cv2.GaussianBlur(grid, (0, 0), sigmaX=float(self.params.score_sigma))
        return float(grid.max())

    def heatmap(self, patch_map: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Patch distances upsampled to the image's (H, W) and blurred, float32."""
        import cv2

        height, width = shape
        resized = cv2.resize(
            patch_map.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR
        )
        if self.params.blur_sigma > 0:
            resized = cv2.GaussianBlur(resized, (0, 0), sigmaX=float(self.params.blur_sigma))
        return resized.astype(np.float32, copy=False)

    # -- the interface ----------------------------------------------------------------
    def fit(
        self,
        images: Sequence[np.ndarray],
        *,
        labels: Sequence[str] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Self:
        import torch

        from detection.sampling import greedy_coreset

        total = len(images)
        if total < 1:
            raise DetectorError(f"{self.kind} needs at least 1 training image; got 0")
        extractor = self.extractor
        chunks = []
        for start, batch in self._batches(images):
            features = extractor(batch)
            chunks.append(features.permute(0, 2, 3, 1).reshape(-1, features.shape[1]))
            if progress:
                done = start + len(batch)
                progress(0.7 * done / total, f"features {done}/{total}")
        patches = torch.cat(chunks)
        del chunks
        p = self.params
        n_select = max(1, min(round(p.coreset_ratio * len(patches)), p.max_bank_size))

        def coreset_progress(fraction: float) -> None:
            if progress:
                progress(0.7 + 0.3 * fraction, f"coreset {n_select} of {len(patches)} patches")

        selected = greedy_coreset(patches, n_select, seed=p.seed, progress=coreset_progress)
        self.memory_bank = patches[selected].float().cpu().contiguous()
        self._bank_cache = None
        self.is_fitted = True
        if progress:
            progress(1.0, f"fitted: memory bank of {len(self.memory_bank)} patches")
        return self

    def score(self, images: Sequence[np.ndarray]) -> ScoreResult:
        self._require_fitted()
        scores = np.zeros(len(images), dtype=np.float64)
        heatmaps: list[np.ndarray] = []
        for start, batch in self._batches(images):
            features = self.extractor(batch)
            patch_maps = self.patch_distances(features).cpu().numpy()
            for offset, (image, patch_map) in enumerate(zip(batch, patch_maps, strict=True)):
                scores[start + offset] = self.image_score(patch_map)
                heatmaps.append(self.heatmap(patch_map, image.shape[:2]))
        return ScoreResult(scores=scores, heatmaps=heatmaps)

    def _dump(self, state_dir: Path) -> None:
        import torch

        assert self.memory_bank is not None
        torch.save({"memory_bank": self.memory_bank.cpu().contiguous()}, state_dir / BANK_FILE)

    def _restore(self, state_dir: Path) -> None:
        import torch

        state = torch.load(state_dir / BANK_FILE, map_location="cpu", weights_only=True)
        bank = state.get("memory_bank") if isinstance(state, dict) else None
        if not isinstance(bank, torch.Tensor) or bank.ndim != 2:
            raise DetectorError("deep_knn artefact has no valid memory bank")
        self.memory_bank = bank.float().contiguous()
        self._bank_cache = None
