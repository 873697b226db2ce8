"""Open-set classifier: a fine-tuned CNN over the site's known classes; the rest is abnormal.

When a site's normal images carry class labels (plant species, part types), an
ImageNet-pretrained torchvision classifier gets a new head with one output per known class
and is fine-tuned on them. An image that belongs to none of those classes should sit far from
every training photo in that network and leave every logit low, so its *openness* is the
score:

* ``feature_knn`` (default): cosine distance from the photo's pooled feature (what the head
  reads) to its nearest training photos in the fine-tuned network (Sun et al., "Out-of-
  distribution detection with deep nearest neighbors", ICML 2022). Far from every photo the
  site taught = high score;
* ``energy``: ``-T * logsumexp(logits / T)``; low total evidence = high score
  (Liu et al., "Energy-based out-of-distribution detection", 2020);
* ``max_softmax``: ``1 - max softmax(logits / T)``, the classic baseline.

Why nearest neighbours by default: a head trained on a few dozen photos per class is
confident far outside them (an unseen tulip gets a rose's logits), while the feature it reads
still sits apart from every training photo. On the shared flowers set (tulips unseen, three
seeded splits) ``feature_knn`` gave unseen-vs-known AUROC 0.80-0.81 at 320 px where energy
gave 0.54-0.69 (``benchmarks/README.md``).

Higher means more abnormal, as for every kind. :meth:`predict` gives the class names, so the
training recipe can also report classification accuracy on held-out images.

By default only the new head and the backbone's last block are trained (``freeze_backbone``)
so a CPU fine-tunes in minutes; frozen layers stay in eval mode, so their batch-norm
statistics stay the pretrained ones. Which module is "the last block" is found generically:
the outermost child of an ``nn.Sequential`` that holds the last non-head parameter
(``features.18`` of MobileNetV2, ``layer4.1`` of a ResNet-18).

Weights come only through torchvision's own weights API after :func:`require_weights` has
checked the exact file is installed; there is no fallback to random weights. The artefact
holds the fine-tuned ``state_dict`` and the training photos' features (``torch.save``, read
back with ``weights_only=True``) and the class names in JSON: scoring a saved model needs no
pretrained weights file.

torch is imported lazily so that listing kinds or using the histogram kind stays light.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self, get_args

import numpy as np
from pydantic import Field

from detection.base import (
    Backbone,
    Detector,
    DetectorError,
    Device,
    Params,
    ProgressCallback,
    ScoreResult,
    Seed,
    Weights,
    check_images,
)
from detection.components.torch_kind import TorchKind, built_aside, model_state
from detection.registry import register

if TYPE_CHECKING:
    import torch
    from torch import nn

    from detection.objects import LabelledBox

MODEL_FILE = "model.pt"
CLASSES_FILE = "classes.json"
BANK_FILE = "features.pt"


ScoreMethod = Literal["feature_knn", "energy", "max_softmax"]
SCORE_METHODS: tuple[str, ...] = get_args(ScoreMethod)


class ClassifierOpensetParams(Params):
    backbone: Backbone = "mobilenet_v2"
    weights: Weights = "IMAGENET1K_V1"
    image_size: int = Field(
        320,
        ge=32,
        le=1024,
        description="Size in pixels of the square the photos are shrunk to (32 to 1024).",
    )
    epochs: int = Field(
        8, ge=1, le=1000, description="How many times training goes through all the photos."
    )
    batch_size: int = Field(
        16, ge=1, le=512, description="Photos processed together; lower it if memory runs out."
    )
    learning_rate: float = Field(
        1e-3,
        gt=0,
        le=1,
        description="How big each training step is (more than 0, at most 1); too high makes "
        "training unstable.",
    )
    freeze_backbone: bool = Field(
        True,
        description="Train only the last layers of the network: much faster on a computer "
        "without a graphics card.",
    )
    augment: bool = Field(
        True,
        description="While training, also show randomly cropped and mirrored copies of the photos.",
    )
    score_method: ScoreMethod = Field(
        "feature_knn",
        description='How a photo is judged unknown: "feature_knn" (recommended: how far it '
        'is from the most similar training photos, as the network sees them), "energy" '
        '(how little evidence the classifier finds for any class) or "max_softmax" (how '
        "low its top class probability is).",
    )
    neighbours: int = Field(
        1,
        ge=1,
        le=100,
        description="feature_knn only: how many of the most similar training photos are "
        "compared (1 to 100).",
    )
    temperature: float = Field(
        1.0,
        gt=0,
        le=1000,
        description="Softens the classifier's confidence before the score is taken (more than "
        "0, at most 1000).",
    )
    device: Device = "auto"
    seed: Seed = 0


def _head_name(model: nn.Module) -> str:
    """Dotted name of the classification head: the model's last ``nn.Linear``."""
    from torch import nn

    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not names:
        raise DetectorError(
            f"{type(model).__name__} has no linear classification head; choose a backbone "
            "such as mobilenet_v2, resnet18 or efficientnet_b0"
        )
    return names[-1]


def _last_block_name(model: nn.Module, head: str) -> str | None:
    """The outermost child of an ``nn.Sequential`` holding the last non-head parameter."""
    from torch import nn

    body = [name for name, _ in model.named_parameters() if not name.startswith(head + ".")]
    if not body:
        return None
    owner = body[-1].rsplit(".", 1)[0]  # module that owns that parameter
    parts = owner.split(".")
    for depth in range(1, len(parts) + 1):  # outermost first
        name = ".".join(parts[:depth])
        parent = model.get_submodule(".".join(parts[: depth - 1]))
        if isinstance(parent, nn.Sequential) and not head.startswith(name + "."):
            return name
    return owner


def _replace_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name), child, module)


@register
class ClassifierOpensetDetector(TorchKind, Detector):
    """Fine-tuned pretrained CNN over the site's labelled classes; energy / max-softmax score."""

    kind = "classifier_openset"
    title = "Known classes, unknown ones flagged"
    summary = (
        "Learns the classes you named (e.g. species) and flags photos that fit none of them. "
        "Needs a class on every training photo."
    )
    params_class = ClassifierOpensetParams
    params: ClassifierOpensetParams
    uses_gpu = True
    needs_labels = True

    def __init__(self, params: Params | dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.classes: list[str] = []
        #: Share of training images the fitted model classifies right (no augmentation).
        self.training_accuracy: float | None = None
        #: Mean training loss per epoch, from the last :meth:`fit`.
        self.loss_history: list[float] = []
        self.model: nn.Module | None = None
        #: (N, D) float16 unit-length pooled features of the training photos (feature_knn).
        self.bank: torch.Tensor | None = None

    # -- helpers ----------------------------------------------------------------------
    def _build_model(self, n_classes: int, *, pretrained: bool) -> nn.Module:
        """The backbone with a new ``n_classes`` head; pretrained weights must be installed."""
        import torchvision
        from torch import nn

        from detection.features.backbone import resolve_weights, weights_filename
        from detection.weights import require_weights

        p = self.params
        weights = resolve_weights(p.backbone, p.weights)  # clear error on a bad name
        if pretrained:
            require_weights(weights_filename(weights))  # clear error, never a download
        # without weights: every tensor is overwritten by a saved state_dict right after
        model = built_aside(
            lambda: torchvision.models.get_model(
                p.backbone, weights=weights if pretrained else None
            )
        )
        head = _head_name(model)
        old = model.get_submodule(head)
        assert isinstance(old, nn.Linear)
        with self.seeded():
            _replace_module(model, head, nn.Linear(old.in_features, n_classes))
        return model

    def _trainable_modules(self, model: nn.Module) -> list[nn.Module]:
        """What fine-tuning updates: the head and last block, or everything."""
        if not self.params.freeze_backbone:
            return [model]
        head = _head_name(model)
        block = _last_block_name(model, head)
        names = [head] + ([block] if block else [])
        return [model.get_submodule(name) for name in names]

    def _train_mode(self, model: nn.Module, trainable: list[nn.Module]) -> None:
        """Dropout on; batch norm learns its statistics only when the whole net is trained.

        With a frozen backbone the few batches of a site would only skew the pretrained
        statistics of the last block (its affine weights are still trained).
        """
        from torch import nn

        model.eval()
        for module in trainable:
            module.train()
        if self.params.freeze_backbone:
            for module in model.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()

    def _prepare(self, image: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """One BGR image -> RGB uint8 at ``image_size``; random crop and flip given ``rng``."""
        import cv2

        flip = False
        if rng is not None:
            height, width = image.shape[:2]
            scale = rng.uniform(0.75, 1.0)
            crop_h, crop_w = max(1, round(height * scale)), max(1, round(width * scale))
            y = int(rng.integers(0, height - crop_h + 1))
            x = int(rng.integers(0, width - crop_w + 1))
            image = image[y : y + crop_h, x : x + crop_w]
            flip = bool(rng.random() < 0.5)
        size = (self.params.image_size, self.params.image_size)
        resized = cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)
        rgb = resized[..., ::-1]
        return rgb[:, ::-1] if flip else rgb

    def _tensor(self, prepared: list[np.ndarray]) -> torch.Tensor:
        """Prepared RGB uint8 images -> a normalised (B, 3, S, S) float batch on the device."""
        import torch

        from detection.features.backbone import IMAGENET_MEAN, IMAGENET_STD

        batch = torch.from_numpy(np.ascontiguousarray(np.stack(prepared)))
        batch = batch.to(self.device).permute(0, 3, 1, 2).float() / 255.0
        mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        return (batch - mean) / std

    def _batches(
        self, images: Sequence[np.ndarray], order: Sequence[int] | None = None
    ) -> Iterator[list[int]]:
        """Index lists of at most ``batch_size``; images are read one at a time by callers."""
        order = list(range(len(images))) if order is None else list(order)
        size = self.params.batch_size
        for start in range(0, len(order), size):
            yield order[start : start + size]

    def _read(self, images: Sequence[np.ndarray], index: int) -> np.ndarray:
        image = images[index]
        check_images([image])
        return image

    def _check_labels(
        self, images: Sequence[np.ndarray], labels: Sequence[Any] | None
    ) -> list[str]:
        advice = "set a class label on each training asset (at least two different classes)"
        if labels is None:
            raise DetectorError(
                f"{self.kind} needs a class label for every training image; {advice}"
            )
        if len(labels) != len(images):
            raise DetectorError(
                f"{self.kind} got {len(labels)} class labels for {len(images)} training images"
            )
        names = ["" if label is None else str(label).strip() for label in labels]
        missing = sum(1 for name in names if not name)
        if missing:
            raise DetectorError(
                f"{missing} of {len(names)} training images have no class label; "
                f"{self.kind} needs one on each: {advice}"
            )
        if len(set(names)) < 2:
            found = ", ".join(sorted(set(names))) or "none"
            raise DetectorError(
                f"{self.kind} needs at least 2 classes among the training labels; found "
                f"{found}: {advice}, or choose another detector kind"
            )
        return names

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
        from torch import nn

        names = self._check_labels(images, labels)
        classes = sorted(set(names))
        targets = np.array([classes.index(name) for name in names], dtype=np.int64)
        p = self.params
        model = self._build_model(len(classes), pretrained=True).to(self.device)
        trainable = self._trainable_modules(model)
        model.requires_grad_(False)
        for module in trainable:
            module.requires_grad_(True)
        parameters = [param for param in model.parameters() if param.requires_grad]
        optimizer = torch.optim.AdamW(parameters, lr=p.learning_rate, weight_decay=1e-4)
        loss_fn = nn.CrossEntropyLoss()
        rng = np.random.default_rng(p.seed)
        total = len(images)
        n_steps = p.epochs * math.ceil(total / p.batch_size)
        history: list[float] = []
        with self.seeded():  # dropout draws, without global effects
            step = 0
            for epoch in range(p.epochs):
                self._train_mode(model, trainable)
                loss_sum, correct = 0.0, 0
                for indices in self._batches(images, rng.permutation(total).tolist()):
                    batch = [
                        self._prepare(self._read(images, i), rng if p.augment else None)
                        for i in indices
                    ]
                    target = torch.from_numpy(targets[indices]).to(self.device)
                    logits = model(self._tensor(batch))
                    loss = loss_fn(logits, target)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    loss_sum += float(loss.detach()) * len(indices)
                    correct += int((logits.detach().argmax(dim=1) == target).sum())
                    step += 1
                    if progress and step % 10 == 0:
                        progress(0.9 * step / n_steps, f"epoch {epoch + 1}/{p.epochs}")
                history.append(loss_sum / total)
                if progress:
                    progress(
                        0.9 * (epoch + 1) / p.epochs,
                        f"epoch {epoch + 1}/{p.epochs}: loss {history[-1]:.4f}, "
                        f"accuracy {correct / total:.3f} (augmented)",
                    )
        model.eval()
        self.model = model
        self.classes = classes
        self.loss_history = history
        self.is_fitted = True
        logits, features = self._forward(images)
        self.bank = features.half()  # half: the bank of a large site stays small
        self.training_accuracy = float(np.mean(logits.argmax(axis=1) == targets))
        if progress:
            progress(
                1.0,
                f"fitted {len(classes)} classes: training accuracy {self.training_accuracy:.3f}",
            )
        return self

    def _forward(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, torch.Tensor]:
        """(N, n_classes) float64 logits, columns in the order of :attr:`classes`, and the
        (N, D) features the head reads, square-rooted and scaled to unit length on the CPU.

        The square root (of the magnitude, sign kept) tempers the few channels that fire
        strongly, so the cosine distance weighs the whole pattern; the pooled activations of
        these backbones are mostly non-negative."""
        import torch

        self._require_fitted()
        assert self.model is not None
        self.on_device(self.model)
        head = self.model.get_submodule(_head_name(self.model))
        assert isinstance(head, torch.nn.Linear)
        captured: list[torch.Tensor] = []
        hook = head.register_forward_hook(lambda _m, args, _out: captured.append(args[0]))
        logits = np.zeros((len(images), len(self.classes)), dtype=np.float64)
        features = []
        try:
            with torch.inference_mode():
                for indices in self._batches(images):
                    batch = [self._prepare(self._read(images, i), None) for i in indices]
                    logits[indices] = self.model(self._tensor(batch)).double().cpu().numpy()
                    pooled = captured.pop().float().flatten(1)
                    rooted = pooled.sign() * pooled.abs().sqrt()
                    features.append(torch.nn.functional.normalize(rooted, dim=1).cpu())
        finally:
            hook.remove()
        return logits, torch.cat(features) if features else torch.zeros(0, head.in_features)

    def logits(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, n_classes) float64 logits, columns in the order of :attr:`classes`."""
        return self._forward(images)[0]

    def feature_distances(self, features: torch.Tensor) -> np.ndarray:
        """Cosine distance from each (unit) feature row to its ``neighbours`` nearest
        training photos, averaged; 0 = the same as a training photo, up to 2."""
        if self.bank is None:
            raise DetectorError(
                f"{self.kind} model holds no training features (saved before feature_knn "
                "existed); retrain it, or score it with score_method energy"
            )
        similarity = features @ self.bank.float().T
        k = min(self.params.neighbours, similarity.shape[1])
        return (1.0 - similarity.topk(k, dim=1).values.mean(dim=1)).double().numpy()

    def predict(self, images: Sequence[np.ndarray]) -> list[str]:
        """The most likely known class of each image (even for images of none of them)."""
        logits = self.logits(images)
        return [self.classes[i] for i in logits.argmax(axis=1)]

    def scores_from_logits(self, logits: np.ndarray) -> np.ndarray:
        """Openness per row of logits: energy (also for ``feature_knn``, which needs the
        features) or 1 - max softmax; higher = more abnormal."""
        from detection.objects import energy_score, max_softmax_score

        t = float(self.params.temperature)
        if self.params.score_method == "max_softmax":
            return max_softmax_score(logits, t)
        return energy_score(logits, t)

    def score(self, images: Sequence[np.ndarray]) -> ScoreResult:
        self._require_fitted()
        if len(images) == 0:
            return ScoreResult(scores=np.zeros(0, dtype=np.float64))
        logits, features = self._forward(images)
        if self.params.score_method == "feature_knn":
            return ScoreResult(scores=self.feature_distances(features))
        return ScoreResult(scores=self.scores_from_logits(logits))

    def _dump(self, state_dir: Path) -> None:
        assert self.model is not None
        self.save_tensors(state_dir / MODEL_FILE, model_state(self.model))
        if self.bank is not None:
            self.save_tensors(state_dir / BANK_FILE, {"bank": self.bank})
        meta = {"classes": self.classes, "training_accuracy": self.training_accuracy}
        (state_dir / CLASSES_FILE).write_text(json.dumps(meta, indent=2))

    def _restore(self, state_dir: Path) -> None:
        try:
            meta = json.loads((state_dir / CLASSES_FILE).read_text())
            classes = meta["classes"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DetectorError(f"{self.kind} artefact has no valid class list: {exc}") from exc
        if (
            not isinstance(classes, list)
            or len(classes) < 2
            or not all(isinstance(name, str) for name in classes)
        ):
            raise DetectorError(f"{self.kind} artefact has no valid class list")
        self.model = self.load_model_state(
            lambda: self._build_model(len(classes), pretrained=False), state_dir / MODEL_FILE
        )
        self.classes = classes
        if (state_dir / BANK_FILE).exists():
            self.bank = self.load_tensors(state_dir / BANK_FILE, required=("bank",))["bank"]
        accuracy = meta.get("training_accuracy")
        self.training_accuracy = float(accuracy) if accuracy is not None else None
