"""The botanists' forest site on real photos (``3scenes``; skipped without the data).

Forest photos are normal, coasts and highways the anomalies: the scenario the colour
histogram kind was written for. ``python -m benchmarks.histogram_spaces`` (half the forests
train; mean of seeds 0 and 1): AUROC 0.952 for the default Hellinger + layout + kNN
histogram, 0.419 for the former default (L2 8x8x8 histogram, IsolationForest), which ranked
forests above coasts and highways. The floors below leave room for the seed.
"""

from __future__ import annotations

import pytest

from benchmarks.datasets import THREE_SCENES, one_class_split
from detection.evaluation import evaluate_one_class
from detection.images import read_image

pytestmark = [
    pytest.mark.dataset,
    pytest.mark.skipif(
        not THREE_SCENES.is_dir(), reason=f"real data set absent: {THREE_SCENES} not found"
    ),
]


def _auroc(params: dict) -> float:  # type: ignore[type-arg]
    split = one_class_split("3scenes", seed=0)
    train = [read_image(p) for p in split.train_normal]
    normal = [read_image(p) for p in split.test_normal]
    others = [read_image(p) for paths in split.test_anomalous.values() for p in paths]
    return evaluate_one_class("histogram_iforest", params, train, normal, others).metrics["auroc"]


def test_default_histogram_tells_forests_from_coasts_and_highways() -> None:
    assert _auroc({}) >= 0.93


def test_seed_histogram_space_is_what_ranked_forests_backwards() -> None:
    seed_style = {"space": "l2", "bins": [8, 8, 8], "grid": 1, "estimator": "isolation_forest"}
    assert _auroc(seed_style) < 0.7
