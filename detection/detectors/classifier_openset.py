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
(``features.18`` of MobileNetV2, ``layer4.1`` of a ResNet-18). The frozen layers give a photo
the same output in every model, so the threshold is cross-fitted (every training photo
scored by a fold model that never saw it) at little more than one fit's cost: the fold
models and the final one are fine-tuned side by side from one pass through the frozen
layers per epoch (:mod:`detection.components.network_split`).

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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
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
    scaled_progress,
)
from detection.components.network_split import split_at
from detection.components.torch_kind import TorchKind, built_aside, model_state
from detection.registry import register

if TYPE_CHECKING:
    import torch
    from torch import fx, nn

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


def _head_outputs(
    network: nn.Module, model: nn.Module, batches: Iterable[torch.Tensor]
) -> tuple[np.ndarray, torch.Tensor]:
    """(N, n_classes) float64 logits of ``network`` (``model`` or its tail) over ``batches``,
    and the (N, D) features ``model``'s head reads, square-rooted and scaled to unit length
    on the CPU.

    The square root (of the magnitude, sign kept) tempers the few channels that fire
    strongly, so the cosine distance weighs the whole pattern; the pooled activations of
    these backbones are mostly non-negative."""
    import torch

    head = model.get_submodule(_head_name(model))
    assert isinstance(head, torch.nn.Linear)
    captured: list[torch.Tensor] = []
    hook = head.register_forward_hook(lambda _m, args, _out: captured.append(args[0]))
    logits, features = [], []
    try:
        with torch.inference_mode():
            for batch in batches:
                logits.append(network(batch).double().cpu().numpy())
                pooled = captured.pop().float().flatten(1)
                rooted = pooled.sign() * pooled.abs().sqrt()
                features.append(torch.nn.functional.normalize(rooted, dim=1).cpu())
    finally:
        hook.remove()
    if not logits:
        return np.zeros((0, head.out_features)), torch.zeros(0, head.in_features)
    return np.concatenate(logits), torch.cat(features)


def _knn_distance(features: torch.Tensor, bank: torch.Tensor, neighbours: int) -> np.ndarray:
    """Cosine distance from each (unit) feature row to its ``neighbours`` nearest bank rows,
    averaged; 0 = the same as a training photo, up to 2."""
    similarity = features @ bank.float().T
    k = min(neighbours, similarity.shape[1])
    return (1.0 - similarity.topk(k, dim=1).values.mean(dim=1)).double().numpy()


@dataclass(eq=False)
class _Run:
    """One model being fine-tuned on a subset of the training photos."""

    model: nn.Module
    #: ``model`` from the shared trunk's output on (``model`` itself without a trunk).
    tail: nn.Module
    trainable: list[nn.Module]
    optimizer: torch.optim.Optimizer
    subset: list[int]
    #: Draws the order of the photos in each epoch.
    order: np.random.Generator
    history: list[float] = field(default_factory=list)
    #: Share of the last epoch's (augmented) photos it classified right.
    accuracy: float = 0.0


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

    @property
    def crossfit(self) -> bool:  # type: ignore[override]
        """Every training photo calibrates, out of fold, when the backbone is frozen: the fold
        models then share one trunk pass per epoch with the final model
        (:meth:`fit_out_of_fold`), so it costs little. A network trained whole would be
        fine-tuned k + 1 times over; it holds photos out instead."""
        return self.params.freeze_backbone

    #: Bytes of trunk outputs (one per training photo) :meth:`_fine_tune` may hold at once.
    view_memory = 2 << 30

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
        #: Each training photo's class as its fold model predicted it (cross-fitting only).
        self.out_of_fold_predictions: list[str] | None = None

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
        """The trained modules in train mode (a dropout inside them draws); batch norm learns
        its statistics only when the whole net is trained.

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

    # -- fine-tuning ------------------------------------------------------------------
    def _start_runs(
        self, n_classes: int, subsets: Sequence[Sequence[int]]
    ) -> tuple[list[_Run], fx.GraphModule | None]:
        """One fresh model per subset of the training photos, and the frozen trunk they
        share (None: each run computes the whole network itself)."""
        import copy

        import torch
        from torch import fx

        p = self.params
        # eval: nothing run through the trunk (a probe included) may move its statistics
        base = self._build_model(n_classes, pretrained=True).to(self.device).eval()
        cut = None
        if p.freeze_backbone:
            block = _last_block_name(base, _head_name(base))
            cut = split_at(base, block) if block else None
        runs = []
        for number, subset in enumerate(subsets):
            model = base if number == len(subsets) - 1 else copy.deepcopy(base)
            trainable = self._trainable_modules(model)
            model.requires_grad_(False)
            for module in trainable:
                module.requires_grad_(True)
            parameters = [param for param in model.parameters() if param.requires_grad]
            runs.append(
                _Run(
                    model=model,
                    tail=fx.GraphModule(model, cut[1]) if cut else model,
                    trainable=trainable,
                    optimizer=torch.optim.AdamW(parameters, lr=p.learning_rate, weight_decay=1e-4),
                    subset=list(subset),
                    order=np.random.default_rng(p.seed),
                )
            )
        return runs, cut[0] if cut else None

    def _trunk_pass(
        self,
        trunk: nn.Module | None,
        images: Sequence[np.ndarray],
        indices: Sequence[int],
        rng: np.random.Generator | None,
    ) -> torch.Tensor:
        """What the trained part reads for ``indices``: the trunk's output (or the network's
        input without a trunk), one random crop and flip per photo given ``rng``."""
        import torch

        batch = self._tensor([self._prepare(self._read(images, i), rng) for i in indices])
        if trunk is None:
            return batch
        with torch.no_grad():  # not inference_mode: the tail's backward saves these
            return trunk(batch)

    def _views_fit_in_memory(self, trunk: nn.Module | None, total: int) -> bool:
        """Whether one trunk output per photo fits in :attr:`view_memory`."""
        import torch

        if trunk is None:
            return False
        size = self.params.image_size
        with torch.inference_mode():
            probe = trunk(torch.zeros(1, 3, size, size, device=self.device))
        return probe.numel() * probe.element_size() * total <= self.view_memory

    def _fine_tune(
        self,
        images: Sequence[np.ndarray],
        targets: np.ndarray,
        n_classes: int,
        subsets: Sequence[Sequence[int]],
        progress: ProgressCallback | None,
    ) -> tuple[list[_Run], nn.Module | None] | None:
        """Fine-tune one model per subset, epoch by epoch, from one trunk pass per epoch.

        With a frozen trunk whose outputs fit in memory, each epoch's augmented photos go
        through it once and every run trains on those outputs: k fold models and the final
        one cost little more than one. Otherwise (one run only) each batch goes through
        the trunk, or the whole network, as it is drawn. None, having trained nothing, when
        several runs cannot share a trunk.
        """
        import torch
        from torch import nn

        p = self.params
        total = len(images)
        runs, trunk = self._start_runs(n_classes, subsets)
        cached = self._views_fit_in_memory(trunk, total)
        if not cached and len(runs) > 1:
            return None
        crops = np.random.default_rng([p.seed, 1]) if p.augment else None
        loss_fn = nn.CrossEntropyLoss()
        n_steps = p.epochs * sum(math.ceil(len(run.subset) / p.batch_size) for run in runs)
        views: torch.Tensor | None = None
        step = 0
        with self.seeded():  # dropout draws, without global effects
            for epoch in range(p.epochs):
                if cached and (views is None or crops is not None):
                    views = None  # the former epoch's views go before the new ones come
                    views = torch.cat(
                        [
                            self._trunk_pass(trunk, images, indices, crops)
                            for indices in self._batches(images)
                        ]
                    )
                for run in runs:
                    self._train_mode(run.model, run.trainable)
                    loss_sum, correct = 0.0, 0
                    for indices in self._batches(images, run.order.permutation(run.subset)):
                        inputs = (
                            views[indices]
                            if views is not None
                            else self._trunk_pass(trunk, images, indices, crops)
                        )
                        target = torch.from_numpy(targets[indices]).to(self.device)
                        logits = run.tail(inputs)
                        loss = loss_fn(logits, target)
                        run.optimizer.zero_grad(set_to_none=True)
                        loss.backward()
                        run.optimizer.step()
                        loss_sum += float(loss.detach()) * len(indices)
                        correct += int((logits.detach().argmax(dim=1) == target).sum())
                        step += 1
                        if progress and step % 10 == 0:
                            progress(0.9 * step / n_steps, f"epoch {epoch + 1}/{p.epochs}")
                    run.history.append(loss_sum / len(run.subset))
                    run.accuracy = correct / len(run.subset)
                if progress:
                    final = runs[-1]
                    progress(
                        0.9 * step / n_steps,
                        f"epoch {epoch + 1}/{p.epochs}: loss {final.history[-1]:.4f}, "
                        f"accuracy {final.accuracy:.3f} (augmented)",
                    )
        for run in runs:
            run.model.eval()
        return runs, trunk

    def _finish(
        self,
        run: _Run,
        classes: list[str],
        logits: np.ndarray,
        features: torch.Tensor,
        targets: np.ndarray,
        progress: ProgressCallback | None,
    ) -> None:
        """Keep ``run`` as the fitted model, with the features of every training photo."""
        self.model = run.model
        self.classes = classes
        self.loss_history = run.history
        self.is_fitted = True
        self.bank = features.half()  # half: the bank of a large site stays small
        self.training_accuracy = float(np.mean(logits.argmax(axis=1) == targets))
        if progress:
            progress(
                1.0,
                f"fitted {len(classes)} classes: training accuracy {self.training_accuracy:.3f}",
            )

    # -- the interface ----------------------------------------------------------------
    def fit(
        self,
        images: Sequence[np.ndarray],
        *,
        labels: Sequence[str] | None = None,
        boxes: Sequence[Sequence[LabelledBox]] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Self:
        names = self._check_labels(images, labels)
        classes = sorted(set(names))
        targets = np.array([classes.index(name) for name in names], dtype=np.int64)
        tuned = self._fine_tune(images, targets, len(classes), [range(len(images))], progress)
        assert tuned is not None  # one run never needs the shared trunk
        runs, _ = tuned
        self.model = runs[0].model  # _forward reads it
        self.out_of_fold_predictions = None
        logits, features = self._forward(images)
        self._finish(runs[0], classes, logits, features, targets, progress)
        return self

    def fit_out_of_fold(
        self,
        images: Sequence[np.ndarray],
        folds: Sequence[Sequence[int]],
        *,
        labels: Sequence[str] | None = None,
        on_heatmap: Callable[[np.ndarray], np.ndarray] | None = None,
        progress: ProgressCallback | None = None,
    ) -> tuple[np.ndarray, None] | None:
        """Fit on all ``images`` and score each fold with a model fine-tuned without it.

        One model per fold and the final one are fine-tuned side by side on one trunk pass
        per epoch (:meth:`_fine_tune`), so every training photo calibrates the threshold at
        little more than the cost of one fit. Each fold is scored against the features of
        its own model's training photos only: no photo is scored by a model, or against a
        bank, that saw it. The fold models' class predictions are kept in
        :attr:`out_of_fold_predictions`. Returns None, having trained nothing, when the
        network is trained whole or cannot be cut before its last block, its trunk's
        outputs would not fit in memory, or a fold would leave fewer than 2 classes to
        train on: the caller then refits per fold (and says what is missing).
        """
        import torch

        names = self._check_labels(images, labels)
        if not self.params.freeze_backbone:
            return None
        classes = sorted(set(names))
        targets = np.array([classes.index(name) for name in names], dtype=np.int64)
        every = range(len(images))
        held_sets = [set(fold) for fold in folds]
        subsets = [[i for i in every if i not in held] for held in held_sets] + [list(every)]
        if any(len({names[i] for i in subset}) < 2 for subset in subsets):
            return None
        tuned = self._fine_tune(
            images, targets, len(classes), subsets, scaled_progress(progress, 0, 0.9)
        )
        if tuned is None:
            return None
        runs, trunk = tuned
        plain = torch.cat(
            [self._trunk_pass(trunk, images, indices, None) for indices in self._batches(images)]
        )
        scores = np.zeros(len(images), np.float64)
        predictions = [""] * len(images)
        for run, fold in zip(runs, folds, strict=False):  # the last run is the final model
            held = list(fold)
            logits, features = self._outputs(run, plain, held + run.subset)
            scores[held] = self._openness(
                logits[: len(held)], features[: len(held)], features[len(held) :]
            )
            for index, row in zip(held, logits[: len(held)], strict=True):
                predictions[index] = classes[int(row.argmax())]
        logits, features = self._outputs(runs[-1], plain, list(every))
        self._finish(runs[-1], classes, logits, features, targets, progress)
        self.out_of_fold_predictions = predictions
        return scores, None

    def _forward(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, torch.Tensor]:
        """(N, n_classes) float64 logits, columns in the order of :attr:`classes`, and the
        (N, D) features the head reads (:func:`_head_outputs`) of ``images`` as they are."""
        assert self.model is not None
        self.on_device(self.model)
        batches = (
            self._tensor([self._prepare(self._read(images, i), None) for i in indices])
            for indices in self._batches(images)
        )
        return _head_outputs(self.model, self.model, batches)

    def _outputs(
        self, run: _Run, inputs: torch.Tensor, indices: Sequence[int]
    ) -> tuple[np.ndarray, torch.Tensor]:
        """:func:`_head_outputs` of ``run``'s tail for the rows ``indices`` of its inputs."""
        batches = (inputs[chunk] for chunk in self._batches(inputs, indices))
        return _head_outputs(run.tail, run.model, batches)

    def logits(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, n_classes) float64 logits, columns in the order of :attr:`classes`."""
        self._require_fitted()
        return self._forward(images)[0]

    def _openness(
        self, logits: np.ndarray, features: torch.Tensor, bank: torch.Tensor | None
    ) -> np.ndarray:
        """The score of :attr:`params` ``score_method`` from a photo's outputs: for
        ``feature_knn`` the cosine distance to the ``neighbours`` nearest rows of ``bank``
        (training photos' features), averaged; 0 = the same as a training photo, up to 2."""
        if self.params.score_method != "feature_knn":
            return self.scores_from_logits(logits)
        if bank is None:
            raise DetectorError(
                f"{self.kind} model holds no training features (saved before feature_knn "
                "existed); retrain it, or score it with score_method energy"
            )
        return _knn_distance(features, bank, self.params.neighbours)

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
        return ScoreResult(scores=self._openness(logits, features, self.bank))

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
