"""Mid-level patch features of an ImageNet-pretrained torchvision CNN (PatchCore-style).

Why mid-level: early layers see only edges, the last ones are biased towards ImageNet
classes and too coarse to localise a defect; PatchCore concatenates two intermediate
stages. Each feature map is smoothed with a 3x3 average (a patch sees its neighbours),
upsampled to the finer map's grid and concatenated, giving one descriptor per grid cell.

Why keep the aspect ratio: photos of one site often come in many shapes (the magnetic-tile
crops range from 2.5:1 to 1:3). Squashing each into a square stretches the texture by a
different factor per photo, so a normal texture stops looking like its neighbours in the
memory bank. Resizing to a fixed pixel *area* keeps shapes and the cost per image constant.

Weights come only through torchvision's own weights API. Before it is called we check
that the exact file it will load is in the checkpoint cache (:func:`require_weights`), so a
missing file is our clear :class:`~detection.weights.WeightsMissingError` instead of a
download attempt; there is no fallback to random weights.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from urllib.parse import urlparse

import cv2
import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torchvision.models.feature_extraction import create_feature_extractor

from detection.base import DetectorError
from detection.weights import require_weights

#: Default feature layers per backbone (node names of torchvision's feature extraction).
#: mobilenet_v2: block 6 ends the stride-8 stage (32 ch), block 13 the stride-16 stage
#: (96 ch); together 128 dims on a 28x28 grid at 224 px.
DEFAULT_LAYERS: dict[str, tuple[str, ...]] = {
    "mobilenet_v2": ("features.6", "features.13"),
    "mobilenet_v3_large": ("features.6", "features.12"),
    "resnet18": ("layer2", "layer3"),
    "resnet34": ("layer2", "layer3"),
    "resnet50": ("layer2", "layer3"),
    "wide_resnet50_2": ("layer2", "layer3"),
    "efficientnet_b0": ("features.3", "features.5"),
}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Resized sides are multiples of this (the stride of the deepest default layer), so that
#: every layer's grid lines up with the finest one.
SIDE_MULTIPLE = 16


def resized_shape(shape: tuple[int, ...], image_size: int, keep_aspect: bool) -> tuple[int, int]:
    """(height, width) an image of ``shape`` is resized to before the backbone.

    ``keep_aspect``: about ``image_size``² pixels with the image's aspect ratio, sides
    rounded to multiples of :data:`SIDE_MULTIPLE` (at least two of them); else a square.
    """
    if not keep_aspect:
        return image_size, image_size
    height, width = shape[:2]
    scale = image_size / (height * width) ** 0.5
    return tuple(  # type: ignore[return-value]
        max(2, round(side * scale / SIDE_MULTIPLE)) * SIDE_MULTIPLE for side in (height, width)
    )


def classification_backbones() -> list[str]:
    """Names of torchvision's ImageNet classification models."""
    return sorted(torchvision.models.list_models(module=torchvision.models))


def resolve_weights(backbone: str, weights: str) -> torchvision.models.WeightsEnum:
    """The torchvision weights enum member for ``backbone`` (``"DEFAULT"`` allowed)."""
    if backbone not in classification_backbones():
        raise DetectorError(f"unknown torchvision backbone {backbone!r}")
    enum = torchvision.models.get_model_weights(backbone)
    try:
        return enum[weights] if weights != "DEFAULT" else enum.DEFAULT
    except KeyError:
        raise DetectorError(
            f"{backbone} has no weights {weights!r}; available: "
            f"{', '.join(member.name for member in enum)}"
        ) from None


def weights_filename(weights: torchvision.models.WeightsEnum) -> str:
    """The cache file name torchvision gives the download (last part of its URL)."""
    return os.path.basename(urlparse(weights.url).path)


class PatchFeatureExtractor:
    """Images (HxWx3 uint8 BGR) -> one (C, h, w) patch-descriptor map each, on ``device``."""

    def __init__(
        self,
        backbone: str = "mobilenet_v2",
        *,
        weights: str = "IMAGENET1K_V1",
        layers: Sequence[str] | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        enum_member = resolve_weights(backbone, weights)
        require_weights(weights_filename(enum_member))  # clear error, never a download
        if layers is None:
            if backbone not in DEFAULT_LAYERS:
                raise DetectorError(
                    f"no default feature layers for {backbone!r}; pass layers, e.g. "
                    '["layer2", "layer3"] for a ResNet'
                )
            layers = DEFAULT_LAYERS[backbone]
        self.layers = tuple(layers)
        self.device = torch.device(device)
        model = torchvision.models.get_model(backbone, weights=enum_member)
        try:
            self.model = create_feature_extractor(model, return_nodes=list(self.layers))
        except (ValueError, KeyError, RuntimeError) as exc:
            message = f"cannot take layers {list(self.layers)} of {backbone}: {exc}"
            raise DetectorError(message) from exc
        self.model.eval().to(self.device)
        self.mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)

    def preprocess(self, images: Sequence[np.ndarray], shape: tuple[int, int]) -> torch.Tensor:
        """Resize to ``shape`` (no crop: a defect may sit at the border), BGR -> RGB,
        ImageNet normalisation."""
        height, width = shape
        resized = [
            cv2.resize(image, (width, height), interpolation=_interpolation(image, shape))
            for image in images
        ]
        batch = np.stack([image[..., ::-1] for image in resized])
        tensor = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        return (tensor - self.mean) / self.std

    @torch.inference_mode()
    def __call__(
        self, images: Sequence[np.ndarray], image_size: int = 224, keep_aspect: bool = True
    ) -> list[torch.Tensor]:
        """Patch maps in input order; images resized to the same shape share one batch."""
        groups: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(images):
            shape = resized_shape(image.shape, image_size, keep_aspect)
            groups.setdefault(shape, []).append(index)
        result: list[torch.Tensor | None] = [None] * len(images)
        for shape, indices in groups.items():
            maps = self._patch_maps(self.preprocess([images[i] for i in indices], shape))
            for index, patch_map in zip(indices, maps, strict=True):
                result[index] = patch_map
        return result  # type: ignore[return-value]

    def _patch_maps(self, batch: torch.Tensor) -> torch.Tensor:
        outputs = self.model(batch)
        maps = [outputs[name] for name in self.layers]
        grid = maps[0].shape[-2:]
        pooled = []
        for feature_map in maps:
            feature_map = F.avg_pool2d(feature_map, kernel_size=3, stride=1, padding=1)
            if feature_map.shape[-2:] != grid:
                feature_map = F.interpolate(
                    feature_map, size=grid, mode="bilinear", align_corners=False
                )
            pooled.append(feature_map)
        return torch.cat(pooled, dim=1)


def _interpolation(image: np.ndarray, shape: tuple[int, int]) -> int:
    """Area averaging when shrinking (no aliasing), bilinear when enlarging."""
    return (
        cv2.INTER_AREA
        if shape[0] * shape[1] < image.shape[0] * image.shape[1]
        else cv2.INTER_LINEAR
    )
