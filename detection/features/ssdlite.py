"""SSDlite on the MobileNetV2 backbone, from torchvision's own SSD parts.

torchvision builds SSDlite only on MobileNetV3 (``ssdlite320_mobilenet_v3_large``), and its
feature extractor reads V3-only block attributes. The MobileNetV2 paper's SSDlite cut is
two maps, the C4 expansion (block 14's 1x1 conv: 576 channels, stride 16) and the last
layer (1280 channels, stride 32), followed by four extra blocks; that cut is made here, and
everything else (``SSD``, ``SSDLiteHead``, ``DefaultBoxGenerator``, the extra blocks, the
matcher, hard-negative-mined losses) is torchvision's. Only the offline ImageNet
MobileNetV2 weights are needed: torchvision's COCO detector weights are never fetched.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.models.detection.ssd import SSD
from torchvision.models.detection.ssdlite import SSDLiteHead, _extra_block, _normal_init

from detection.features.backbone import IMAGENET_MEAN, IMAGENET_STD
from detection.weights import require_weights

#: MobileNetV2 block whose 1x1 expansion is SSDlite's first feature map.
C4_BLOCK = 14


class MobileNetV2SSDLiteExtractor(nn.Module):
    """Maps at stride 16 (576 ch) and 32 (1280 ch), then four extra stride-2 blocks."""

    def __init__(self, features: nn.Sequential, norm_layer: partial[nn.Module]) -> None:
        super().__init__()
        c4 = features[C4_BLOCK]
        self.features = nn.Sequential(
            nn.Sequential(*features[:C4_BLOCK], c4.conv[0]),
            nn.Sequential(c4.conv[1:], *features[C4_BLOCK + 1 :]),
        )
        self.extra = nn.ModuleList(
            [
                _extra_block(1280, 512, norm_layer),
                _extra_block(512, 256, norm_layer),
                _extra_block(256, 256, norm_layer),
                _extra_block(256, 128, norm_layer),
            ]
        )
        _normal_init(self.extra)

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        output = []
        for block in [*self.features, *self.extra]:
            x = block(x)
            output.append(x)
        return OrderedDict((str(i), v) for i, v in enumerate(output))

    def frozen_blocks(self, n_blocks: int) -> list[nn.Module]:
        """The first ``n_blocks`` MobileNetV2 blocks (at most those before the C4 cut)."""
        return list(self.features[0][: min(n_blocks, C4_BLOCK)])


def ssdlite_mobilenet_v2(n_classes: int, image_size: int, *, pretrained: bool) -> SSD:
    """SSDlite for ``n_classes`` known classes (+ background) at ``image_size`` px.

    ``pretrained`` loads the installed ImageNet backbone (a clear error when missing, never
    a download); without it every tensor is about to be overwritten by a saved state dict.
    Anchors start at 0.1 of the image (SSDlite: 0.2), because defects and parts are often
    small; ImageNet normalisation, as the backbone was trained.
    """
    weights = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1
    if pretrained:
        require_weights(Path(weights.url).name)
    mobilenet = torchvision.models.mobilenet_v2(weights=weights if pretrained else None)
    norm_layer = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)
    backbone = MobileNetV2SSDLiteExtractor(mobilenet.features, norm_layer)
    size = (image_size, image_size)
    anchors = DefaultBoxGenerator([[2, 3] for _ in range(6)], min_ratio=0.1, max_ratio=0.95)
    out_channels = det_utils.retrieve_out_channels(backbone, size)
    head = SSDLiteHead(out_channels, anchors.num_anchors_per_location(), n_classes + 1, norm_layer)
    return SSD(
        backbone,
        anchors,
        size,
        n_classes + 1,
        image_mean=list(IMAGENET_MEAN),
        image_std=list(IMAGENET_STD),
        head=head,
    )
