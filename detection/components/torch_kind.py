"""What every torch kind does the same way: its device, seeded draws, tensor files, maps.

anomalib keeps anomaly maps and feature extraction in shared components so that each model
says only what is its own; :class:`TorchKind` does the same for this project's torch kinds
(``deep_knn``, ``patch_autoencoder``, ``classifier_openset``, ``ssd_openset``,
``video_autoencoder``). Mixed in before the detector base::

    class MyDetector(TorchKind, Detector): ...

torch is imported lazily, so listing kinds stays light.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from detection.base import DetectorError, check_images

if TYPE_CHECKING:
    import torch
    from torch import nn

    from detection.features.backbone import PatchFeatureExtractor

T = TypeVar("T")


class TorchKind:
    """Device choice, seeded training and artefact tensors for a kind with a ``device`` and a
    ``seed`` parameter."""

    kind: str
    params: Any
    _device: torch.device | None = None

    @property
    def device(self) -> torch.device:
        """The torch device of the parameters' choice (``auto``: CUDA when present)."""
        if self._device is None:
            from detection.device import pick_device

            self._device = pick_device(self.params.device)
        return self._device

    @contextmanager
    def seeded(self, *, deterministic: bool = False) -> Iterator[None]:
        """Draws seeded by ``params.seed`` (weights, dropout, shuffles) that leave the global
        random state alone; ``deterministic`` also asks cuDNN for repeatable kernels."""
        import torch

        devices = [self.device] if self.device.type == "cuda" else []
        with (
            torch.random.fork_rng(devices=devices),
            torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=deterministic),
        ):
            torch.manual_seed(self.params.seed)
            yield

    def on_device(self, model: nn.Module) -> nn.Module:
        """``model`` on :attr:`device` (a loaded artefact starts on the CPU)."""
        first = next(model.parameters(), None)
        if first is not None and first.device != self.device:
            model.to(self.device)
        return model

    def save_tensors(self, path: Path, state: Mapping[str, Any]) -> None:
        """Tensors (or lists of them, numbers) to ``path``, every tensor on the CPU."""
        import torch

        torch.save({name: _to_cpu(value) for name, value in state.items()}, path)

    def load_tensors(self, path: Path, *, required: Sequence[str] = ()) -> dict[str, Any]:
        """What :meth:`save_tensors` wrote, read with ``weights_only`` (no pickled objects);
        a missing or damaged file, or a missing entry, is a :class:`DetectorError`."""
        import torch

        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
            raise DetectorError(f"{self.kind} artefact is not valid: {exc}") from exc
        if not isinstance(state, dict):
            raise DetectorError(f"{self.kind} artefact is not valid: {path.name} holds no dict")
        missing = [name for name in required if name not in state]
        if missing:
            raise DetectorError(
                f"{self.kind} artefact is not valid: {path.name} lacks {', '.join(missing)}"
            )
        return state

    def load_model_state(
        self, build: Callable[[], nn.Module], source: Path | Mapping[str, Any]
    ) -> nn.Module:
        """The model ``build`` makes, with the ``state_dict`` saved at ``source`` (a path, or
        what was read from one) loaded strictly, in eval mode. It is built under
        :func:`built_aside`: its random initial weights are overwritten anyway and must not
        move the caller's random state."""
        state = self.load_tensors(source) if isinstance(source, Path) else source
        if not isinstance(state, Mapping):
            raise DetectorError(f"{self.kind} artefact has no valid model state")
        model = built_aside(build)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise DetectorError(f"{self.kind} artefact does not fit its parameters: {exc}") from exc
        return model.eval()

    def build_extractor(self) -> PatchFeatureExtractor:
        """The pretrained backbone of ``params.backbone`` / ``weights`` / ``layers``, built
        under :func:`built_aside` (its random initialisation precedes the weights)."""
        from detection.features.backbone import PatchFeatureExtractor

        p = self.params
        return built_aside(
            lambda: PatchFeatureExtractor(
                p.backbone, weights=p.weights, layers=p.layers, device=self.device
            )
        )


def built_aside(build: Callable[[], T]) -> T:
    """``build()`` under a forked RNG: torch initialises a network at random before any
    weights are loaded into it, and that must leave the caller's random state as it was."""
    import torch

    with torch.random.fork_rng(devices=[]):
        return build()


def model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A model's ``state_dict`` detached and on the CPU, ready for :meth:`save_tensors`."""
    return {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}


def upsample_map(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A small (h, w) score map at an image's (height, width), float32, bilinear."""
    import cv2

    height, width = shape[:2]
    return cv2.resize(
        np.asarray(values, dtype=np.float32), (width, height), interpolation=cv2.INTER_LINEAR
    )


def checked_batches(images: Sequence[np.ndarray], size: int) -> Iterator[tuple[int, list]]:
    """(start, images) in batches of ``size``, reading a lazy sequence one item at a time and
    checking each batch before the model sees it."""
    for start in range(0, len(images), size):
        batch = [images[i] for i in range(start, min(start + size, len(images)))]
        check_images(batch)
        yield start, batch


def _to_cpu(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu().contiguous()
    if isinstance(value, list | tuple):
        return [_to_cpu(item) for item in value]
    if isinstance(value, dict):
        return {name: _to_cpu(item) for name, item in value.items()}
    return value
