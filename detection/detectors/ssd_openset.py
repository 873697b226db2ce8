"""Open-set object detection: an SSDlite detector of the site's known classes, and how unlike
every known class each object it finds looks.

A site labels boxes of the object classes it knows (defect types, plants, parts). An SSDlite
detector (torchvision's ``SSD`` with ``SSDLiteHead``, anchors and losses) on the ImageNet
MobileNetV2 backbone the product ships is fine-tuned on them. Each image then yields
candidate objects: the anchors most likely *not background* after non-maximum suppression,
kept even when no known class is confident, because an object of a class never seen is
exactly what a closed-set detector does not fire on. Each candidate gets an *openness*,
higher = more unlike every known class:

* ``energy``: ``-logsumexp`` of its known-class logits (Liu et al., NeurIPS 2020);
* ``max_softmax``: 1 - the largest softmax over the known classes (Hendrycks & Gimpel 2017);
* ``feature_knn``: cosine distance from its pooled box feature to the nearest boxes of the
  training set, known objects *and* background (Sun et al., "Out-of-distribution detection
  with deep nearest neighbors", ICML 2022). Background boxes are in the bank because every
  image has background: a weak proposal on plain background must not look unknown.
* ``combined`` (default): the mean of the three, each scaled by how it spreads over the
  training set's own known objects (0 = the median known object, 1 = its 95th percentile).

With ``unknown_regions``, a patch-distance map against the training photos (``deep_knn``'s
memory of their known objects *and* background) adds candidates of its own: boxes around
the parts of the map that stand out (:mod:`detection.components.open_regions`), scored by
their peak on the map's calibrated scale (0 = a training photo's median peak out of fold,
1 = its 95th percentile, the scale ``combined`` has for known objects). They carry no
class confidence, so they are shown only when open. A closed-set detector seldom fires on
an object it was never taught; the map is what *locates* it.

Image score = the worst openness among the object-like candidates (at least
``min_objectness`` likely not background; weak guesses on plain background would otherwise
decide every image's score). When nothing in an image is object-like, its single most
object-like candidate stands for it instead of an arbitrary constant: on a site whose images
all hold known objects, a best guess with weak class evidence is what an unknown object
looks like to a closed-set detector, so it ranks high. (A site whose normal images are often
empty gets high held-out scores that way, hence a high threshold; ``openness:
"feature_knn"``, whose bank holds background boxes, should suit it better; not measured.)

Usage::

    detector = create_detector("ssd_openset", {"epochs": 30})
    detector.fit(images, boxes=[[LabelledBox("crazing", 10, 20, 50, 40)], ...])
    result = detector.score(new_images)     # result.scores, result.boxes (image pixels)
    shown = flag_boxes(result.boxes[0], threshold=calibrated)  # "unknown" where open
    detector.save("model.zip")

The artefact holds the fine-tuned ``state_dict`` and the box-feature bank (``torch.save``,
read with ``weights_only=True``) and the class list with the score scales in JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self, get_args

import numpy as np
from pydantic import Field

from detection.base import (
    Detector,
    DetectorError,
    Device,
    Params,
    ProgressCallback,
    ScoreResult,
    Seed,
    check_images,
)
from detection.components.torch_kind import TorchKind, model_state
from detection.objects import DetectedBox, LabelledBox, energy_score, iou, max_softmax_score
from detection.registry import register

if TYPE_CHECKING:
    import torch
    from torch import nn

MODEL_FILE = "model.pt"
BANK_FILE = "bank.pt"
META_FILE = "classes.json"
REGIONS_DIR = "regions"
#: Folds for the out-of-fold peaks that put the region map on its calibrated scale.
REGION_FOLDS = 5
Openness = Literal["energy", "max_softmax", "feature_knn", "combined"]
OPENNESS_METHODS: tuple[str, ...] = get_args(Openness)
SCORE_NAMES = ("energy", "max_softmax", "feature_knn")
#: Smallest spread used to scale each score for ``combined``: a barely trained model can
#: give all its training objects the same score, and dividing by ~0 would blow that up.
MIN_SPREAD = {"energy": 0.1, "max_softmax": 0.01, "feature_knn": 0.01}
#: Background boxes drawn per labelled box (and at least this many per image) for the bank.
BACKGROUND_PER_BOX = 2


class SsdOpensetParams(Params):
    image_size: int = Field(
        320,
        ge=64,
        le=1024,
        multiple_of=32,
        description="Size in pixels of the square the photos are shrunk to (64 to 1024, a "
        "multiple of 32).",
    )
    epochs: int = Field(
        30, ge=1, le=1000, description="How many times training goes through all the photos."
    )
    batch_size: int = Field(
        8,
        ge=1,
        le=256,
        description="Photos per training step; small batches give more steps from few photos.",
    )
    learning_rate: float = Field(
        3e-3,
        gt=0,
        le=1,
        description="How big each training step is (more than 0, at most 1); too high makes "
        "training unstable.",
    )
    frozen_blocks: int = Field(
        7,
        ge=0,
        le=19,
        description="How many of the network's 19 early layers stay as they are (0 to 19); "
        "more is faster, they rarely need retraining.",
    )
    augment: bool = Field(
        True,
        description="While training, also show cropped, zoomed-out, mirrored and "
        "brighter/darker copies of the photos.",
    )
    vertical_flip: bool = Field(
        False,
        description="Also show upside-down copies: good for views from above (fields, steel "
        "strips), not for street scenes.",
    )
    openness: Openness = Field(
        "combined",
        description='How an unknown object is recognised: "combined" (recommended) or one '
        "of the single scores it combines.",
    )
    score_threshold: float = Field(
        0.3,
        gt=0,
        le=1,
        description="How sure the model must be (more than 0, at most 1) to report a box as "
        "a known object.",
    )
    candidates: int = Field(
        10,
        ge=1,
        le=200,
        description="How many likely objects per photo are checked for being unknown.",
    )
    min_objectness: float = Field(
        0.4,
        ge=0,
        le=1,
        description="Likely objects less sure than this (0 to 1) of not being background are "
        "not checked; the most object-like one always is.",
    )
    nms_iou: float = Field(
        0.5,
        gt=0,
        le=1,
        description="How much two boxes may overlap (more than 0, at most 1) before the weaker "
        "one is dropped.",
    )
    k: int = Field(
        1,
        ge=1,
        le=50,
        description="feature_knn only: how many of the most similar known objects are compared.",
    )
    unknown_regions: bool = Field(
        False,
        description="Also look for unknown objects where a photo looks unlike every training "
        "photo, piece by piece (as the visual-likeness kind compares them), and not only "
        "where the detector sees an object. Finds objects the detector overlooks; slower.",
    )
    device: Device = "auto"
    seed: Seed = 0


# -- augmentation -----------------------------------------------------------------------------
def _augment(
    image: np.ndarray,
    boxes: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    vertical_flip: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random zoom-out or crop (scale jitter), flips and photometric jitter; boxes follow.

    Suited to small sets: every epoch sees each labelled object at another scale, place and
    brightness. A cropped box keeps its part inside the crop and is dropped below 40 % of
    its area, so the detector is never taught that a sliver is a whole object.
    """
    height, width = image.shape[:2]
    if rng.random() < 0.3:  # zoom out: the image on a larger canvas of its mean colour
        scale = rng.uniform(1.0, 1.6)
        canvas_h, canvas_w = round(height * scale), round(width * scale)
        top = int(rng.integers(0, canvas_h - height + 1))
        left = int(rng.integers(0, canvas_w - width + 1))
        canvas = np.empty((canvas_h, canvas_w, 3), np.uint8)
        canvas[:] = image.reshape(-1, 3).mean(axis=0).astype(np.uint8)
        canvas[top : top + height, left : left + width] = image
        image, boxes = canvas, boxes + np.array([left, top, left, top], np.float32)
        height, width = canvas_h, canvas_w
    elif rng.random() < 0.7:  # crop 55-100 % of each side
        crop_h = max(2, round(height * rng.uniform(0.55, 1.0)))
        crop_w = max(2, round(width * rng.uniform(0.55, 1.0)))
        top = int(rng.integers(0, height - crop_h + 1))
        left = int(rng.integers(0, width - crop_w + 1))
        moved = boxes - np.array([left, top, left, top], np.float32)
        clipped = np.clip(moved, 0, [crop_w, crop_h, crop_w, crop_h]).astype(np.float32)
        area = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
        before = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        keep = (area >= 0.4 * before) & (area > 4)
        if not len(boxes) or keep.any():  # never crop every object away
            image = image[top : top + crop_h, left : left + crop_w]
            boxes, labels = clipped[keep], labels[keep]
            height, width = crop_h, crop_w
    boxes = boxes.copy()
    if rng.random() < 0.5:
        image = image[:, ::-1]
        boxes[:, [0, 2]] = width - boxes[:, [2, 0]]
    if vertical_flip and rng.random() < 0.5:
        image = image[::-1]
        boxes[:, [1, 3]] = height - boxes[:, [3, 1]]
    jittered = image.astype(np.float32) * rng.uniform(0.75, 1.25) + rng.uniform(-25, 25)
    if rng.random() < 0.3:  # colour balance
        jittered *= rng.uniform(0.9, 1.1, size=3).astype(np.float32)
    return np.clip(jittered, 0, 255).astype(np.uint8), boxes, labels


def _background_boxes(known: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Random boxes overlapping no labelled box much (IoU < 0.3), sized like objects.

    They put the site's background into the feature bank, so that a weak candidate on
    plain background is near something known and does not look like an unknown object.
    """

    wanted = max(BACKGROUND_PER_BOX * len(known), 4)
    out: list[list[float]] = []
    for _ in range(wanted * 10):
        if len(out) >= wanted:
            break
        w, h = (size * rng.uniform(0.1, 0.6, size=2)).tolist()
        x, y = rng.uniform(0, size - w), rng.uniform(0, size - h)
        box = [x, y, x + w, y + h]
        if all(iou(box, k) < 0.3 for k in known.tolist()):
            out.append(box)
    return np.array(out, np.float32).reshape(-1, 4)


def _batches(n: int, size: int) -> list[tuple[int, int]]:
    """(start, stop) of batches of at most ``size``; a last batch of one joins the previous
    (batch norm cannot train on a single image's 1x1 map)."""
    bounds = [(start, min(start + size, n)) for start in range(0, n, size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


@register
class SsdOpensetDetector(TorchKind, Detector):
    """SSDlite detector of the labelled classes; each object scored for being none of them."""

    kind = "ssd_openset"
    title = "Objects in boxes"
    summary = (
        "Finds the objects you marked with boxes and flags unknown objects, forbidden ones "
        "and wrong counts. Needs boxes on the training photos."
    )
    params_class = SsdOpensetParams
    params: SsdOpensetParams
    uses_gpu = True
    needs_boxes = True

    def __init__(self, params: Params | dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.classes: list[str] = []
        self.loss_history: list[float] = []
        self.model: nn.Module | None = None
        #: (n, d) L2-normalised box features of the training set (known objects, background).
        self.bank: torch.Tensor | None = None
        #: Per score name: (median, 95th percentile) over the training set's known objects.
        self.scales: dict[str, tuple[float, float]] = {}
        #: With ``unknown_regions``: the patch memory of the training photos, and the
        #: (median, 95th percentile) of their out-of-fold map peaks.
        self.regions: Detector | None = None
        self.region_scale: tuple[float, float] = (0.0, 1.0)

    # -- data -------------------------------------------------------------------------------
    def _check_boxes(
        self, images: Sequence[np.ndarray], boxes: Sequence[Sequence[LabelledBox]] | None
    ) -> list[str]:
        if boxes is None:
            raise DetectorError(
                f"{self.kind} needs labelled boxes for its training images; label the objects "
                "of the known classes (or import a COCO file) and train again"
            )
        if len(boxes) != len(images):
            raise DetectorError(f"got box lists for {len(boxes)} of {len(images)} training images")
        if len(images) < 2:  # batch norm cannot train on one image's 1 x 1 map
            raise DetectorError(f"{self.kind} needs at least 2 training images; got {len(images)}")
        classes = sorted({box.label for image_boxes in boxes for box in image_boxes})
        if not classes:
            raise DetectorError(f"{self.kind} needs at least one labelled box to learn from")
        return classes

    def _tensor(self, image: np.ndarray) -> torch.Tensor:
        """BGR uint8 -> RGB float [0, 1] CHW at image_size x image_size on the device."""
        import cv2
        import torch

        size = self.params.image_size
        resized = cv2.resize(
            np.ascontiguousarray(image), (size, size), interpolation=cv2.INTER_AREA
        )
        tensor = torch.from_numpy(np.ascontiguousarray(resized[..., ::-1]))
        return tensor.to(self.device).permute(2, 0, 1).float() / 255.0

    def _scaled_boxes(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        size = self.params.image_size
        return boxes * np.array([size / width, size / height] * 2, np.float32)

    @staticmethod
    def _xyxy(boxes: Sequence[LabelledBox]) -> np.ndarray:
        return np.array([box.xyxy for box in boxes], np.float32).reshape(-1, 4)

    # -- the interface --------------------------------------------------------------------
    def fit(
        self,
        images: Sequence[np.ndarray],
        *,
        labels: Sequence[str] | None = None,
        boxes: Sequence[Sequence[LabelledBox]] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Self:
        import torch

        from detection.features.ssdlite import ssdlite_mobilenet_v2

        classes = self._check_boxes(images, boxes)
        assert boxes is not None
        p = self.params
        rng = np.random.default_rng(p.seed)
        with self.seeded():
            model = ssdlite_mobilenet_v2(len(classes), p.image_size, pretrained=True)
        model.to(self.device)
        frozen = model.backbone.frozen_blocks(p.frozen_blocks)
        for module in frozen:
            module.requires_grad_(False)
        parameters = [param for param in model.parameters() if param.requires_grad]
        optimizer = torch.optim.AdamW(parameters, lr=p.learning_rate, weight_decay=1e-4)
        batches = _batches(len(images), p.batch_size)
        total_steps = p.epochs * len(batches)
        warmup = min(total_steps // 10 + 1, 50)
        schedule = torch.optim.lr_scheduler.LambdaLR(  # linear warm-up, cosine decay
            optimizer,
            lambda step: (
                min(1.0, (step + 1) / warmup)
                * 0.5
                * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))
            ),
        )
        class_ids = {name: index + 1 for index, name in enumerate(classes)}  # 0 = background
        history: list[float] = []
        with self.seeded():
            for epoch in range(p.epochs):
                model.train()
                for module in frozen:
                    module.eval()  # frozen blocks keep their pretrained batch-norm statistics
                loss_sum = 0.0
                order = rng.permutation(len(images))
                for start, stop in batches:
                    tensors, targets = [], []
                    for index in order[start:stop].tolist():
                        image = images[index]
                        check_images([image])
                        xyxy = self._xyxy(boxes[index])
                        ids = np.array([class_ids[b.label] for b in boxes[index]], np.int64)
                        if p.augment:
                            image, xyxy, ids = _augment(image, xyxy, ids, rng, p.vertical_flip)
                        tensors.append(self._tensor(image))
                        scaled = torch.from_numpy(self._scaled_boxes(image, xyxy))
                        targets.append(
                            {
                                "boxes": scaled.to(self.device),
                                "labels": torch.from_numpy(ids).to(self.device),
                            }
                        )
                    losses = model(tensors, targets)
                    loss = losses["bbox_regression"] + losses["classification"]
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    schedule.step()
                    loss_sum += float(loss.detach()) * len(tensors)
                history.append(loss_sum / len(images))
                if progress:
                    progress(
                        0.85 * (epoch + 1) / p.epochs,
                        f"epoch {epoch + 1}/{p.epochs}: loss {history[-1]:.4f}",
                    )
        model.eval()
        self.model = model
        self.classes = classes
        self.loss_history = history
        self._fit_bank(images, boxes, rng)
        self.regions = self._fit_regions(images) if p.unknown_regions else None
        self.is_fitted = True
        if progress:
            progress(1.0, f"fitted {len(classes)} classes; box bank of {len(self.bank)} boxes")
        return self

    # -- inference ----------------------------------------------------------------------
    def _forward(self, images: Sequence[np.ndarray]) -> dict[str, Any]:
        """Raw SSD outputs for a batch: features, per-anchor boxes (input px) and logits."""
        import torch
        from torchvision.ops import clip_boxes_to_image

        assert self.model is not None
        model = self.model
        tensors = [self._tensor(image) for image in images]
        batch, _ = model.transform(tensors)
        features = list(model.backbone(batch.tensors).values())
        head = model.head(features)
        anchors = model.anchor_generator(batch, features)
        size = (self.params.image_size, self.params.image_size)
        decoded = [
            clip_boxes_to_image(model.box_coder.decode_single(reg, anc), size)
            for reg, anc in zip(head["bbox_regression"], anchors, strict=True)
        ]
        return {"features": features, "boxes": torch.stack(decoded), "logits": head["cls_logits"]}

    def _pooled(self, features: list[torch.Tensor], rois: list[torch.Tensor]) -> torch.Tensor:
        """L2-normalised box features: RoIAlign (3 x 3, averaged) on the stride-16 map.

        The stride-16 map (576 channels) only: on held-out synthetic shapes it told unknown
        objects from known ones better than adding the coarser, more ImageNet-semantic
        stride-32 map (k-NN AUROC 0.77 against 0.62).
        """
        import torch.nn.functional as F
        from torchvision.ops import roi_align

        pooled = roi_align(features[0], rois, output_size=3, spatial_scale=1 / 16, aligned=True)
        return F.normalize(pooled.mean(dim=(2, 3)), dim=1)

    def _candidates(self, out: dict[str, Any], index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices of the top anchors by objectness after class-aware NMS, and their classes."""
        import torch
        from torchvision.ops import batched_nms

        logits = out["logits"][index]
        probs = torch.softmax(logits, dim=-1)
        objectness = 1 - probs[:, 0]
        label = probs[:, 1:].argmax(dim=1)
        top = objectness.topk(min(400, objectness.numel())).indices
        boxes = out["boxes"][index][top]
        valid = (boxes[:, 2] - boxes[:, 0] > 1) & (boxes[:, 3] - boxes[:, 1] > 1)
        top = top[valid]
        keep = batched_nms(
            out["boxes"][index][top], objectness[top], label[top], self.params.nms_iou
        )
        chosen = top[keep[: self.params.candidates]]
        return chosen, label[chosen]

    def _raw_scores(
        self, logits: torch.Tensor, feats: torch.Tensor, exclude: torch.Tensor | None = None
    ) -> dict[str, np.ndarray]:
        """energy, max_softmax and feature_knn of candidates (rows); higher = more open."""
        import torch

        known = logits[:, 1:].double().cpu().numpy()
        assert self.bank is not None
        bank = self.bank.to(feats.device, feats.dtype)
        similarity = feats @ bank.T
        if exclude is not None:  # the candidate's own image's bank entries
            similarity = torch.where(exclude, torch.full_like(similarity, -2.0), similarity)
        k = min(self.params.k, similarity.shape[1])
        nearest = similarity.topk(k, dim=1).values.mean(dim=1)
        return {
            "energy": energy_score(known),
            "max_softmax": max_softmax_score(known),
            "feature_knn": (1 - nearest).double().cpu().numpy(),
        }

    def _openness(self, raw: dict[str, np.ndarray]) -> np.ndarray:
        method = self.params.openness
        if method != "combined":
            return raw[method]
        scaled = [
            (raw[name] - self.scales[name][0])
            / max(self.scales[name][1] - self.scales[name][0], MIN_SPREAD[name])
            for name in SCORE_NAMES
        ]
        return np.mean(scaled, axis=0)

    def detect(
        self,
        images: Sequence[np.ndarray],
        *,
        batch_size: int | None = None,
        min_objectness: float | None = None,
    ) -> list[list[DetectedBox]]:
        """The object-like candidates of each image, in image pixels, with confidence and
        openness; never empty.

        Of the top ``candidates`` anchors by objectness (after NMS) those at least
        ``min_objectness`` likely not background, or else the single most object-like one:
        an image in which nothing looks like a known object is described by its best guess,
        whose class evidence is weak, so it scores as open. Strongest objectness first;
        callers choose what to show (:func:`detection.objects.flag_boxes`).
        ``min_objectness=0`` keeps every candidate (for mAP, which counts weak detections).
        """
        import torch

        self._require_fitted()
        check_images(images)
        size = self.params.image_size
        batch_size = batch_size or self.params.batch_size
        gate = self.params.min_objectness if min_objectness is None else min_objectness
        results: list[list[DetectedBox]] = []
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                chunk = [images[i] for i in range(start, min(start + batch_size, len(images)))]
                out = self._forward(chunk)
                maps = self.regions.score(chunk).heatmaps if self.regions else None
                chosen = [self._candidates(out, i) for i in range(len(chunk))]
                rois = [out["boxes"][i][idx] for i, (idx, _) in enumerate(chosen)]
                feats = self._pooled(out["features"], rois)
                logits = torch.cat([out["logits"][i][idx] for i, (idx, _) in enumerate(chosen)])
                raw = self._raw_scores(logits, feats)
                openness = self._openness(raw)
                confidence = torch.softmax(logits, dim=-1).cpu().numpy()
                objectness = 1 - confidence[:, 0]
                row = 0
                for number, (image, (idx, label), roi) in enumerate(
                    zip(chunk, chosen, rois, strict=True)
                ):
                    height, width = image.shape[:2]
                    sx, sy = width / size, height / size
                    found = []
                    for j, (x1, y1, x2, y2) in enumerate(roi.cpu().numpy().tolist()):
                        if j and objectness[row + j] < gate:
                            continue  # weak background guess; the first (strongest) stays
                        c = int(label[j]) + 1
                        found.append(
                            DetectedBox(
                                label=self.classes[c - 1],
                                x=x1 * sx,
                                y=y1 * sy,
                                w=(x2 - x1) * sx,
                                h=(y2 - y1) * sy,
                                confidence=float(confidence[row + j, c]),
                                openness=float(openness[row + j]),
                            )
                        )
                    row += len(idx)
                    if maps is not None:
                        found.extend(self._region_candidates(maps[number], found))
                    results.append(found)
        return results

    def score(self, images: Sequence[np.ndarray]) -> ScoreResult:
        """Image score = the worst object-like candidate's openness; ``boxes`` = those
        candidates (:meth:`detect`).

        Pass an image's boxes through :func:`detection.objects.flag_boxes` with the
        calibrated threshold before showing them: it names the open ones "unknown" and
        drops weak candidates that are neither open nor confident.
        """
        self._require_fitted()
        if len(images) == 0:
            return ScoreResult(scores=np.zeros(0), boxes=[])
        detected = self.detect(images)
        scores = np.array([max(b.openness for b in boxes) for boxes in detected], np.float64)
        return ScoreResult(scores=scores, boxes=detected)

    # -- regions of the patch-distance map -------------------------------------------------
    def _fit_regions(self, images: Sequence[np.ndarray]) -> Detector:
        """A ``deep_knn`` memory of the training photos, and its map's calibrated scale.

        The scale comes from each training photo's map peak scored out of fold (its own
        patches left out of the memory), so a new normal photo lands where they do.
        """
        from detection.training import fold_indices

        memory = self._region_memory()
        folds = fold_indices(len(images), REGION_FOLDS, self.params.seed)
        done = memory.fit_out_of_fold(images, folds, on_heatmap=lambda h: np.float32(h.max()))
        if done is None or done[1] is None:  # too many maps to hold, or a fold empties a
            # bank: peaks of the photos against a memory that holds them (lower than out of fold)
            memory.fit(images)
            peaks = [float(h.max()) for h in memory.score(images).heatmaps or []]
        else:
            peaks = [float(peak) for peak in done[1]]
        median, high = np.percentile(peaks, [50, 95])
        self.region_scale = (float(median), float(high))
        return memory

    def _region_memory(self) -> Detector:
        """An empty ``deep_knn`` on this detector's device and seed, to fit or restore."""
        from detection.detectors.deep_knn import DeepKnnDetector

        return DeepKnnDetector({"device": self.params.device, "seed": self.params.seed})

    def _region_candidates(
        self, heatmap: np.ndarray, found: Sequence[DetectedBox]
    ) -> list[DetectedBox]:
        """Boxes around what stands out in one photo's map, named after the detector's
        candidate they overlap most (the closest known class), with no class confidence."""
        from detection.components.open_regions import region_boxes

        median, high = self.region_scale
        scaled = (heatmap - median) / max(high - median, MIN_SPREAD["feature_knn"])
        out = []
        for (x1, y1, x2, y2), peak in region_boxes(scaled):
            nearest = max(found, key=lambda box: iou(box.xyxy, (x1, y1, x2, y2)))
            out.append(
                DetectedBox(nearest.label, x1, y1, x2 - x1, y2 - y1, confidence=0.0, openness=peak)
            )
        return out

    # -- the box-feature bank --------------------------------------------------------------
    def _fit_bank(
        self,
        images: Sequence[np.ndarray],
        boxes: Sequence[Sequence[LabelledBox]],
        rng: np.random.Generator,
    ) -> None:
        """Pooled features of every training box and of background boxes beside them; then
        the spread of each openness score over the training objects (for ``combined``).

        The spread is measured on the candidate that best matches each labelled box
        (IoU >= 0.3), with that image's own bank entries left out: its own box would be at
        distance ~0 and make every real object look far away by comparison.
        """
        import torch

        size = self.params.image_size
        entries, owners = [], []
        matches: list[tuple[int, torch.Tensor, torch.Tensor]] = []  # image, logits, features
        with torch.inference_mode():
            for start, stop in _batches(len(images), self.params.batch_size):
                chunk = [images[i] for i in range(start, stop)]
                check_images(chunk)
                out = self._forward(chunk)
                known = [
                    self._scaled_boxes(chunk[j], self._xyxy(boxes[start + j]))
                    for j in range(len(chunk))
                ]
                rois = [
                    torch.from_numpy(np.concatenate([k, _background_boxes(k, size, rng)])).to(
                        self.device
                    )
                    for k in known
                ]
                feats = self._pooled(out["features"], rois).cpu()
                row = 0
                for j, roi in enumerate(rois):
                    entries.append(feats[row : row + len(roi)])
                    owners.append(torch.full((len(roi),), start + j))
                    row += len(roi)
                chosen = [self._candidates(out, j)[0] for j in range(len(chunk))]
                cand_boxes = [out["boxes"][j][idx] for j, idx in enumerate(chosen)]
                cand_feats = self._pooled(out["features"], cand_boxes).cpu()
                row = 0
                for j, idx in enumerate(chosen):
                    candidates = cand_boxes[j].cpu().numpy().tolist()
                    for box in known[j].tolist():
                        overlaps = [iou(c, box) for c in candidates]
                        best = int(np.argmax(overlaps)) if overlaps else -1
                        if best >= 0 and overlaps[best] >= 0.3:
                            logits = out["logits"][j][idx[best]].cpu()
                            matches.append((start + j, logits, cand_feats[row + best]))
                    row += len(idx)
        self.bank = torch.cat(entries).half()  # half: the bank of a large site stays small
        owner = torch.cat(owners)
        self.scales = {name: (0.0, 1.0) for name in SCORE_NAMES}
        if matches:
            exclude = torch.stack([owner == i for i, _, _ in matches])
            raw = self._raw_scores(
                torch.stack([m[1] for m in matches]), torch.stack([m[2] for m in matches]), exclude
            )
            for name in SCORE_NAMES:
                median, high = np.percentile(raw[name], [50, 95])
                self.scales[name] = (float(median), float(high))

    # -- artefact -------------------------------------------------------------------------
    def _dump(self, state_dir: Path) -> None:
        assert self.model is not None and self.bank is not None
        self.save_tensors(state_dir / MODEL_FILE, model_state(self.model))
        self.save_tensors(state_dir / BANK_FILE, {"bank": self.bank})
        meta = {
            "classes": self.classes,
            "scales": self.scales,
            "loss_history": self.loss_history,
            "region_scale": list(self.region_scale),
        }
        if self.regions is not None:
            (state_dir / REGIONS_DIR).mkdir()
            self.regions._dump(state_dir / REGIONS_DIR)
        (state_dir / META_FILE).write_text(json.dumps(meta, indent=2))

    def _restore(self, state_dir: Path) -> None:
        try:
            meta = json.loads((state_dir / META_FILE).read_text())
            classes = meta["classes"]
            scales = {name: tuple(map(float, meta["scales"][name])) for name in SCORE_NAMES}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DetectorError(f"{self.kind} artefact has no valid class list: {exc}") from exc
        if (
            not isinstance(classes, list)
            or not classes
            or not all(isinstance(c, str) for c in classes)
        ):
            raise DetectorError(f"{self.kind} artefact has no valid class list")
        from detection.features.ssdlite import ssdlite_mobilenet_v2

        bank = self.load_tensors(state_dir / BANK_FILE, required=("bank",))
        model = self.load_model_state(
            lambda: ssdlite_mobilenet_v2(len(classes), self.params.image_size, pretrained=False),
            state_dir / MODEL_FILE,
        )
        self.model = self.on_device(model)
        self.bank = bank["bank"]
        self.classes = classes
        self.scales = scales  # type: ignore[assignment]
        self.loss_history = [float(v) for v in meta.get("loss_history", [])]
        self.regions = None
        if (state_dir / REGIONS_DIR).is_dir():
            try:
                median, high = map(float, meta["region_scale"])
            except (KeyError, TypeError, ValueError) as exc:
                raise DetectorError(f"{self.kind} artefact has no valid region scale") from exc
            memory = self._region_memory()
            memory._restore(state_dir / REGIONS_DIR)
            memory.is_fitted = True
            self.regions, self.region_scale = memory, (median, high)
