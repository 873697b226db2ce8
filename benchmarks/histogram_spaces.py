"""Colour-histogram kind on every shared image set: which space and estimator, measured.

``python -m benchmarks.histogram_spaces [--seeds 0 1]``: for each image set in
``../shared/datasets`` (half the normals train, seeded; the other half and every anomaly
test), the image AUROC of ``histogram_iforest`` configurations, averaged over the seeds.
It is the evidence behind the kind's defaults (``benchmarks/README.md``).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from benchmarks.datasets import ONE_CLASS_SETS, one_class_split
from detection.evaluation import evaluate_one_class
from detection.images import read_image

CONFIGS: dict[str, dict[str, Any]] = {
    "default (hellinger 3^3 + 2x2 layout, knn)": {},
    "hellinger 3^3, knn, no layout": {"grid": 1},
    "hellinger 3^3 + layout, isolation forest": {"estimator": "isolation_forest"},
    "seed: l2 3^3, isolation forest": {
        "space": "l2",
        "bins": [3, 3, 3],
        "grid": 1,
        "estimator": "isolation_forest",
    },
    "old default: l2 8^3, isolation forest": {
        "space": "l2",
        "bins": [8, 8, 8],
        "grid": 1,
        "estimator": "isolation_forest",
    },
}


def run(seeds: list[int]) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, list[float]]] = {name: {} for name in CONFIGS}
    for data in ONE_CLASS_SETS:
        first = one_class_split(data, seed=seeds[0])
        every = [*first.train_normal, *first.test_normal]
        every += [p for paths in first.test_anomalous.values() for p in paths]
        images = {path: read_image(path) for path in every}  # decoded once per set
        for seed in seeds:
            split = one_class_split(data, seed=seed)
            train = [images[p] for p in split.train_normal]
            normal = [images[p] for p in split.test_normal]
            odd = [images[p] for paths in split.test_anomalous.values() for p in paths]
            for name, params in CONFIGS.items():
                result = evaluate_one_class("histogram_iforest", params, train, normal, odd)
                table[name].setdefault(data, []).append(result.metrics["auroc"])
    return {n: {d: float(np.mean(v)) for d, v in row.items()} for n, row in table.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args(argv)
    table = run(args.seeds)
    sets = list(ONE_CLASS_SETS)
    print(f"image AUROC, mean over seeds {args.seeds}")
    print("| config | " + " | ".join(sets) + " | mean |")
    print("|---|" + "---|" * (len(sets) + 1))
    for name, row in table.items():
        values = [row[s] for s in sets]
        cells = " | ".join(f"{v:.3f}" for v in values)
        print(f"| {name} | {cells} | {np.mean(values):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
