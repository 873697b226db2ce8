"""Evaluation data sets from ``../shared/datasets`` (read in place, never copied here)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("ANOMALY_DATASETS", REPO.parent / "shared" / "datasets"))
MAGNETIC_TILE = DATASETS / "magnetic-tile"
DEFECT_CLASSES = ("MT_Blowhole", "MT_Break", "MT_Crack", "MT_Fray", "MT_Uneven")


@dataclasses.dataclass(frozen=True)
class OneClassSplit:
    train_normal: list[Path]
    test_normal: list[Path]
    test_anomalous: dict[str, list[Path]]  # defect class -> photos

    def mask_for(self, photo: Path) -> Path:
        return photo.with_suffix(".png")


def magnetic_tile_split(
    root: Path = MAGNETIC_TILE, *, train_fraction: float = 0.5, seed: int = 0
) -> OneClassSplit:
    """MT_Free split at random (seeded) into train and test; every defect photo is test.

    Photos are the ``.jpg`` files; the ``.png`` beside each is its mask.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"magnetic-tile data set not found at {root}")
    free = sorted((root / "MT_Free").glob("*.jpg"))
    order = np.random.default_rng(seed).permutation(len(free))
    n_train = round(len(free) * train_fraction)
    train = sorted(free[i] for i in order[:n_train])
    test = sorted(free[i] for i in order[n_train:])
    defects = {name: sorted((root / name).glob("*.jpg")) for name in DEFECT_CLASSES}
    return OneClassSplit(train, test, defects)


UCSD_PED2 = DATASETS / "ucsd-ped2"


@dataclasses.dataclass(frozen=True)
class VideoSplit:
    train: list[Path]  # all normal
    test: list[Path]  # each with NAME.truth.csv beside it

    @staticmethod
    def truth_for(clip: Path) -> Path:
        return clip.with_name(clip.stem + ".truth.csv")


def ucsd_ped2_split(root: Path = UCSD_PED2) -> VideoSplit:
    """The data set's own split: every ``Train*.mp4`` is normal, every ``Test*.mp4`` has truth."""
    if not root.is_dir():
        raise FileNotFoundError(f"ucsd-ped2 data set not found at {root}")
    test = [p for p in sorted(root.glob("Test*.mp4")) if VideoSplit.truth_for(p).exists()]
    return VideoSplit(sorted(root.glob("Train*.mp4")), test)
