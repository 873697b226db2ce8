"""Which torch device a detector runs on, and seeding, in one place.

Workers on the ``gpu`` queue get CUDA when the machine has it; everything else (and every
machine of CI) runs the same code on the CPU. An explicit ``"cuda"`` on a machine without a
GPU is a user error reported as such, not a silent fallback.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from detection.base import DEVICE_CHOICES, DetectorError


def pick_device(preference: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU; ``cpu`` / ``cuda`` (or ``cuda:N``) as asked."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference == "cpu":
        return torch.device("cpu")
    if preference == "cuda" or preference.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DetectorError(
                f"device {preference!r} was requested but CUDA is not available on this "
                'machine; use device "auto" or "cpu"'
            )
        return torch.device(preference)
    raise DetectorError(f"device must be one of {', '.join(DEVICE_CHOICES)}, not {preference!r}")


def seeded_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A private generator: reproducible draws without touching the global RNG state."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices), for scripts that rely on global RNGs."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
