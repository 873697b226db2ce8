"""One registry of detector kinds, so callers choose a kind by name.

Kinds register with the :func:`register` decorator in their own module under
``detection/detectors/``; :data:`_KIND_MODULES` lists those modules so that importing the
registry is enough to see every kind.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from detection.base import Detector, ParamsError, read_artefact

_KIND_MODULES = (
    "detection.detectors.histogram_iforest",
    "detection.detectors.deep_knn",
    "detection.detectors.classifier_openset",
    "detection.detectors.patch_autoencoder",
    "detection.detectors.video_autoencoder",
    "detection.detectors.motion_energy",
    "detection.detectors.ssd_openset",
    "detection.detectors.auto",
)

_REGISTRY: dict[str, type[Detector]] = {}
_D = TypeVar("_D", bound=type[Detector])
_loaded = False


def register(cls: _D) -> _D:
    """Class decorator adding a detector kind to the registry."""
    if cls.kind in _REGISTRY and _REGISTRY[cls.kind] is not cls:
        raise RuntimeError(f"detector kind {cls.kind!r} registered twice")
    _REGISTRY[cls.kind] = cls
    return cls


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        for module in _KIND_MODULES:
            importlib.import_module(module)
        _loaded = True


def available_kinds() -> list[str]:
    _ensure_loaded()
    return sorted(_REGISTRY)


def detector_class(kind: str) -> type[Detector]:
    _ensure_loaded()
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise ParamsError(
            f"unknown detector kind {kind!r}; available: {', '.join(available_kinds())}"
        ) from None


def create_detector(kind: str, params: Mapping[str, Any] | None = None) -> Detector:
    """A new, unfitted detector; raises :class:`ParamsError` on a bad kind or params."""
    return detector_class(kind)(params)


def load_detector(path: str | Path) -> Detector:
    """Load any saved detector, dispatching on the kind recorded in the artefact."""
    meta, _ = read_artefact(path)
    return detector_class(meta["kind"]).load(path)
