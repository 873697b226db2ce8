"""Pretrained CNN patch features + nearest-neighbour memory bank (PatchCore-style).

Fitting runs normal images through an ImageNet-pretrained torchvision backbone
(:mod:`detection.features.backbone`), keeps every mid-level patch descriptor, and shrinks
that memory bank by greedy k-center coreset selection (:mod:`detection.sampling`). Scoring
measures each patch's distance to its nearest bank entry: the image score is the largest
patch distance (one odd patch is enough to make an image abnormal), and the patch distances,
upsampled to the input's resolution and blurred, are the heatmap.

Several image sizes give one memory bank each (multi-scale): a small size lets a patch see
a large part of the photo (uneven surfaces, long cracks), a large one resolves small
defects (blowholes). Each size's distances are divided by the 99th percentile of the
training patches' own distances to that bank, so the sizes add up on one footing.

Only the memory bank is saved (a plain tensor file read with ``weights_only=True``); the
backbone is rebuilt from the installed torchvision weights named in the parameters, so an
artefact is small and never contains pickled objects.

torch is imported lazily so that listing kinds or using the histogram kind stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, get_args

import numpy as np
from pydantic import Field, model_validator

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
from detection.components.torch_kind import TorchKind, checked_batches, upsample_map
from detection.registry import register

if TYPE_CHECKING:
    import torch

    from detection.features.backbone import PatchFeatureExtractor
    from detection.objects import LabelledBox

BANK_FILE = "memory_bank.pt"
#: Training patches whose distance to the bank sets a size's normaliser (a random sample).
NORMALISER_SAMPLE = 20_000


Invariance = Literal["hflip", "vflip", "rotate90", "lighting"]
INVARIANCES: tuple[str, ...] = get_args(Invariance)
ImageSide = Annotated[int, Field(ge=32, le=1024)]


class DeepKnnParams(Params):
    backbone: Backbone = "mobilenet_v2"
    weights: Weights = "IMAGENET1K_V1"
    layers: BackboneLayers = None
    image_size: Annotated[
        ImageSide | Annotated[tuple[ImageSide, ...], Field(min_length=1, max_length=4)],
        with_message(
            "image_size must be an integer between 32 and 1024, or a list of 1 to 4 of them"
        ),
    ] = Field(
        (128, 288),
        description="Size in pixels the photos are shrunk to before they are compared (32 to "
        "1024). Several sizes (up to 4) look at both fine detail and larger areas. Larger "
        "finds smaller defects but is slower.",
    )
    keep_aspect: bool = Field(
        True,
        description="Keep each photo's proportions instead of squashing it into a square.",
    )
    coreset_ratio: float = Field(
        0.1,
        gt=0,
        le=1,
        description="Share of all pieces of the training photos that are remembered (more "
        "than 0, at most 1). Smaller is faster; larger remembers more of what is normal.",
    )
    max_bank_size: int = Field(
        4096,
        ge=1,
        description="Most pieces of normal photos remembered at all; keeps checking new photos "
        "fast when there are many training photos.",
    )
    n_neighbors: int = Field(
        1,
        ge=1,
        le=50,
        description="How many of the most similar remembered pieces each piece of a new photo "
        "is compared with.",
    )
    device: Device = "auto"
    batch_size: int = Field(
        16, ge=1, le=512, description="Photos processed together; lower it if memory runs out."
    )
    blur_sigma: float = Field(
        4.0,
        ge=0,
        description="Smoothing of the heat map that shows where a photo looks abnormal, in "
        "pixels (0 = none).",
    )
    score_sigma: float = Field(
        2.0,
        ge=0,
        description="Smoothing before a photo's score is taken, in pieces: a single odd piece "
        "then counts less than a small cluster of them (0 = none).",
    )
    invariances: Annotated[
        tuple[Invariance, ...],
        with_message(f"invariances must be distinct names among {', '.join(INVARIANCES)}"),
    ] = Field(
        (),
        description='Changes in the photos that are not anomalies: "hflip" / "vflip" '
        '(mirrored), "rotate90" (turned a quarter), "lighting" (darker or brighter). The '
        "model then also learns the training photos changed that way.",
    )
    seed: Seed = 0

    @model_validator(mode="after")
    def _distinct_invariances(self) -> Self:
        if len(set(self.invariances)) != len(self.invariances):
            raise ValueError(f"invariances must be distinct names among {', '.join(INVARIANCES)}")
        return self

    @property
    def image_sizes(self) -> tuple[int, ...]:
        size = self.image_size
        return size if isinstance(size, tuple) else (size,)


#: Copies each invariance adds to the memory bank, per training image.
_COPIES = {"hflip": 1, "vflip": 1, "rotate90": 3, "lighting": 2}


def variant_count(invariances: Sequence[str]) -> int:
    """How many images :func:`variants` makes of one (the image itself included)."""
    return 1 + sum(_COPIES[name] for name in invariances)


def variants(image: np.ndarray, invariances: Sequence[str]) -> list[np.ndarray]:
    """``image`` first, then one copy per change it must be calm under."""
    import cv2

    out = [image]
    for name in invariances:
        if name == "hflip":
            out.append(cv2.flip(image, 1))
        elif name == "vflip":
            out.append(cv2.flip(image, 0))
        elif name == "rotate90":
            out.extend(np.ascontiguousarray(np.rot90(image, k)) for k in (1, 2, 3))
        elif name == "lighting":
            for gamma in (0.7, 1.4):  # darker and brighter exposures of the same scene
                table = ((np.arange(256) / 255.0) ** gamma * 255).astype(np.uint8)
                out.append(cv2.LUT(image, table))
    return out


@register
class DeepKnnDetector(TorchKind, Detector):
    """Pretrained CNN patch features, coreset memory bank, nearest-neighbour distance; heatmap."""

    kind = "deep_knn"
    title = "Visual likeness"
    summary = (
        "Compares every small region of a photo with the normal photos through a pretrained "
        "image network; finds small defects and shows where they are."
    )
    params_class = DeepKnnParams
    crossfit = True
    params: DeepKnnParams
    uses_gpu = True

    #: Floats in one (query chunk x bank) distance block: 16 MB keeps it in cache on CPUs.
    distance_block = 1 << 22
    #: Training patches pooled per size before the coreset, at most (about 0.5 GB of 128-dim
    #: descriptors; the sizes' pools are held together): beyond it each image gives a random
    #: share, so fitting thousands of photos stays within a worker's memory (the benchmark's
    #: 267 tiles give 0.35 M at 288 px).
    max_pool_patches = 1_000_000
    #: Bytes of patch maps :meth:`fit_out_of_fold` may hold (all images, every size).
    crossfit_memory = 3 << 30

    def __init__(self, params: Params | dict[str, Any] | None = None) -> None:
        super().__init__(params)
        #: One (M, C) float32 bank per image size, on the CPU.
        self.memory_banks: list[torch.Tensor] = []
        #: Per image size: the 99th percentile of training patch distances to its bank.
        self.normalisers: list[float] = []
        self._extractor: PatchFeatureExtractor | None = None
        self._bank_cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    # -- helpers ----------------------------------------------------------------------
    @property
    def extractor(self) -> PatchFeatureExtractor:
        """The backbone, built on first use (raises WeightsMissingError without weights)."""
        if self._extractor is None:
            self._extractor = self.build_extractor()
        return self._extractor

    def features(self, images: Sequence[np.ndarray], image_size: int) -> list[torch.Tensor]:
        """One (C, h, w) patch map per image at ``image_size``."""
        return self.extractor(images, image_size, self.params.keep_aspect)

    def _batches(self, images: Sequence[np.ndarray]) -> Iterator[tuple[int, list[np.ndarray]]]:
        return checked_batches(images, self.params.batch_size)

    def nearest_distances(self, queries: torch.Tensor, scale: int) -> torch.Tensor:
        """(N, C) patch descriptors -> (N,) distance to the nearest entries of bank ``scale``.

        ``|q - b|^2 = |q|^2 - 2 q.b + |b|^2`` as one matrix product per chunk of queries
        (faster than ``torch.cdist``, which also takes the root of every pair); only the
        nearest per query are rooted.
        """
        import torch

        queries = queries.float()
        bank, bank_sq = self._bank_on(scale, queries.device)
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
        return out

    def patch_distances(self, maps: list[torch.Tensor], scale: int) -> list[np.ndarray]:
        """(C, h, w) patch maps -> (h, w) normalised distance grids, all in one search."""
        import torch

        queries = torch.cat([m.flatten(1).T for m in maps])
        distances = (self.nearest_distances(queries, scale) / self.normalisers[scale]).cpu()
        sizes = [m.shape[1] * m.shape[2] for m in maps]
        return [
            part.reshape(m.shape[1:]).numpy()
            for part, m in zip(distances.split(sizes), maps, strict=True)
        ]

    def _bank_on(self, scale: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Bank ``scale`` and its squared norms on ``device``, moved there once."""
        cached = self._bank_cache.get(scale)
        if cached is None or cached[0].device != device:
            bank = self.memory_banks[scale].to(device)
            cached = self._bank_cache[scale] = (bank, (bank * bank).sum(dim=1))
        return cached

    def image_score(self, patch_map: np.ndarray) -> float:
        """Maximum of the (lightly blurred) patch-distance grid."""
        import cv2

        grid = patch_map.astype(np.float32)
        if self.params.score_sigma > 0:
            grid = cv2.GaussianBlur(grid, (0, 0), sigmaX=float(self.params.score_sigma))
        return float(grid.max())

    def heatmap(self, patch_maps: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
        """The sizes' patch distances upsampled to the image's (H, W), averaged, blurred."""
        import cv2

        total = np.zeros(shape[:2], np.float32)
        for patch_map in patch_maps:
            total += upsample_map(patch_map, shape)
        total /= len(patch_maps)
        if self.params.blur_sigma > 0:
            total = cv2.GaussianBlur(total, (0, 0), sigmaX=float(self.params.blur_sigma))
        return total.astype(np.float32, copy=False)

    def _rows(self, patch_map: torch.Tensor, per_image: int, generator: Any) -> torch.Tensor:
        """A patch map's descriptors as rows: a random ``per_image`` of them at most."""
        import torch

        rows = patch_map.flatten(1).T
        if len(rows) > per_image:
            keep = torch.randperm(len(rows), generator=generator)
            rows = rows[keep[:per_image].to(rows.device)]
        return rows

    def _build_banks(
        self,
        pools: list[list[torch.Tensor]],
        progress: ProgressCallback,
        chunk_owner: Sequence[int] | None = None,
    ) -> list[np.ndarray]:
        """One memory bank per image size from its pooled rows (emptied as each is used).

        Given the image each pooled chunk came from (``chunk_owner``), returns per size the
        image each bank entry came from.
        """
        import torch

        sizes = self.params.image_sizes
        self.memory_banks, self.normalisers, self._bank_cache = [], [], {}
        owners = []
        for scale, image_size in enumerate(sizes):
            counts = [len(rows) for rows in pools[scale]]
            patches = torch.cat(pools[scale])
            pools[scale] = []  # free the pool as soon as its bank is chosen
            span = (scale / len(sizes), (scale + 1) / len(sizes))
            report = scaled_progress(progress, *span, f"{image_size} px: ")
            selected = self._add_bank(patches, report)
            if chunk_owner is not None:
                kept = selected.cpu().numpy()
                owners.append(np.repeat(np.asarray(chunk_owner), counts)[kept])
        self.is_fitted = True
        return owners

    def _score_maps(
        self, per_size: list[list[torch.Tensor]], shapes: Sequence[tuple[int, int]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Scores and heatmaps of images given as their patch maps at every size."""
        grids = [self.patch_distances(maps, scale) for scale, maps in enumerate(per_size)]
        scores = np.zeros(len(shapes), dtype=np.float64)
        heatmaps = []
        for offset, shape in enumerate(shapes):
            maps = [by_size[offset] for by_size in grids]
            scores[offset] = sum(self.image_score(grid) for grid in maps)
            heatmaps.append(self.heatmap(maps, shape))
        return scores, heatmaps

    # -- the interface ----------------------------------------------------------------
    def fit(
        self,
        images: Sequence[np.ndarray],
        *,
        labels: Sequence[str] | None = None,
        boxes: Sequence[Sequence[LabelledBox]] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Self:
        from detection.device import seeded_generator

        total = len(images)
        if total < 1:
            raise DetectorError(f"{self.kind} needs at least 1 training image; got 0")
        self.extractor  # noqa: B018 - fail on missing weights before any work
        sizes = self.params.image_sizes
        # Each batch is read (decoded) once and run through the backbone at every size.
        copies = variant_count(self.params.invariances)
        per_image = -(-self.max_pool_patches // (total * copies))  # ceiling
        generators = [seeded_generator(self.params.seed) for _ in sizes]
        pools: list[list[torch.Tensor]] = [[] for _ in sizes]
        for start, batch in self._batches(images):
            expanded = [v for image in batch for v in variants(image, self.params.invariances)]
            for scale, image_size in enumerate(sizes):
                for patch_map in self.features(expanded, image_size):
                    pools[scale].append(self._rows(patch_map, per_image, generators[scale]))
            if progress:
                done = start + len(batch)
                progress(0.5 * done / total, f"features {done}/{total}")
        self._build_banks(pools, scaled_progress(progress, 0.5, 1.0))
        if progress:
            banks = " + ".join(str(len(bank)) for bank in self.memory_banks)
            progress(1.0, f"fitted: memory bank of {banks} patches")
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

        Refitting per fold would run every image through the backbone and the coreset
        selection k + 1 times (the coreset dominates). Instead the banks are built once on
        all images, remembering which image each bank entry came from, and each fold is
        scored against the banks without its own images' entries: no image is ever scored
        against its own patches. (The coreset and the per-size normalisers were chosen with
        those images present, so the scores are close to a refit's, not equal: within a few
        per cent in the tests.) Returns None, having
        done nothing, when the patch maps would exceed :attr:`crossfit_memory` or a fold
        would leave a bank empty: the caller then refits per fold. ``on_heatmap`` receives
        each heatmap (e.g. to shrink it) and its result is kept.
        """
        import torch

        from detection.device import seeded_generator

        total = len(images)
        sizes = self.params.image_sizes
        maps: list[list[torch.Tensor]] = [[] for _ in sizes]
        shapes: list[tuple[int, int]] = []
        copies = variant_count(self.params.invariances)
        for start, batch in self._batches(images):
            shapes.extend(image.shape[:2] for image in batch)
            # variants of one image follow each other: image i's are i * copies + 0..copies-1
            expanded = [v for image in batch for v in variants(image, self.params.invariances)]
            for scale, image_size in enumerate(sizes):
                maps[scale].extend(m.cpu() for m in self.features(expanded, image_size))
            if start == 0:
                bytes_each = copies * sum(m[-1].numel() * m[-1].element_size() for m in maps)
                if bytes_each * total > self.crossfit_memory:
                    return None
            if progress:
                progress(0.5 * len(shapes) / total, f"features {len(shapes)}/{total}")
        # the pools exactly as fit() makes them, so the final banks are fit()'s
        per_image = -(-self.max_pool_patches // (total * copies))
        generators = [seeded_generator(self.params.seed) for _ in sizes]
        pools = [
            [self._rows(patch_map, per_image, generators[scale]) for patch_map in maps[scale]]
            for scale in range(len(sizes))
        ]
        chunk_owner = [i for i in range(total) for _ in range(copies)]
        owners = self._build_banks(pools, scaled_progress(progress, 0.5, 0.9), chunk_owner)
        full = self.memory_banks
        keeps = [[~np.isin(owner, list(held)) for owner in owners] for held in folds]
        if any(not keep.any() for fold in keeps for keep in fold):
            return None
        scores = np.zeros(total, dtype=np.float64)
        heatmaps: list[np.ndarray | None] | None = [None] * total if on_heatmap else None
        try:
            for number, (held, keep) in enumerate(zip(folds, keeps, strict=True)):
                self.memory_banks = [
                    bank[torch.from_numpy(k)] for bank, k in zip(full, keep, strict=True)
                ]
                self._bank_cache = {}
                for chunk in range(0, len(held), self.params.batch_size):
                    ids = list(held[chunk : chunk + self.params.batch_size])
                    fold_scores, fold_maps = self._score_maps(
                        [[maps[scale][i * copies] for i in ids] for scale in range(len(sizes))],
                        [shapes[i] for i in ids],
                    )
                    scores[ids] = fold_scores
                    if heatmaps is not None and on_heatmap is not None:
                        for i, heatmap in zip(ids, fold_maps, strict=True):
                            heatmaps[i] = on_heatmap(heatmap)
                if progress:
                    progress(0.9 + 0.1 * (number + 1) / len(folds), f"fold {number + 1} scored")
        finally:
            self.memory_banks, self._bank_cache = full, {}
        if progress:
            banks = " + ".join(str(len(bank)) for bank in self.memory_banks)
            progress(1.0, f"fitted: memory bank of {banks} patches")
        return scores, heatmaps  # type: ignore[return-value]

    def _add_bank(self, patches: torch.Tensor, progress: ProgressCallback) -> Any:
        """One size's memory bank (coreset of its training patches) and its normaliser.

        Returns the indices of the patches kept.
        """
        import torch

        from detection.device import seeded_generator
        from detection.sampling import greedy_coreset

        p = self.params
        n_select = max(1, min(round(p.coreset_ratio * len(patches)), p.max_bank_size))

        def coreset_progress(fraction: float) -> None:
            progress(0.9 * fraction, f"coreset {n_select} of {len(patches)} patches")

        selected = greedy_coreset(patches, n_select, seed=p.seed, progress=coreset_progress)
        scale = len(self.memory_banks)
        self.memory_banks.append(patches[selected].float().cpu().contiguous())
        sample = torch.randperm(len(patches), generator=seeded_generator(p.seed))
        sample = sample[:NORMALISER_SAMPLE].to(patches.device)
        distances = self.nearest_distances(patches[sample], scale)
        quantile = float(torch.quantile(distances, 0.99))
        # a bank holding every patch has zero distances; then distances stay as they are
        self.normalisers.append(quantile if quantile > 1e-6 else 1.0)
        return selected

    def score(self, images: Sequence[np.ndarray]) -> ScoreResult:
        self._require_fitted()
        scores, heatmaps = np.zeros(0, dtype=np.float64), []
        parts = []
        for _, batch in self._batches(images):
            per_size = [self.features(batch, size) for size in self.params.image_sizes]
            batch_scores, batch_maps = self._score_maps(per_size, [i.shape[:2] for i in batch])
            parts.append(batch_scores)
            heatmaps.extend(batch_maps)
        if parts:
            scores = np.concatenate(parts)
        return ScoreResult(scores=scores, heatmaps=heatmaps)

    def _dump(self, state_dir: Path) -> None:
        import torch

        state = {
            "memory_banks": self.memory_banks,
            "normalisers": torch.tensor(self.normalisers, dtype=torch.float64),
        }
        self.save_tensors(state_dir / BANK_FILE, state)

    def _restore(self, state_dir: Path) -> None:
        import torch

        state = self.load_tensors(state_dir / BANK_FILE)
        if "memory_banks" not in state:
            raise DetectorError(
                "this deep_knn model was saved by an older version (one square image size); "
                "train a new version"
            )
        banks, normalisers = state["memory_banks"], state.get("normalisers")
        if (
            not isinstance(banks, list)
            or len(banks) != len(self.params.image_sizes)
            or not all(isinstance(b, torch.Tensor) and b.ndim == 2 for b in banks)
            or not isinstance(normalisers, torch.Tensor)
            or normalisers.shape != (len(banks),)
        ):
            raise DetectorError("deep_knn artefact has no valid memory banks")
        self.memory_banks = [bank.float().contiguous() for bank in banks]
        self.normalisers = [float(value) for value in normalisers]
        self._bank_cache = {}
