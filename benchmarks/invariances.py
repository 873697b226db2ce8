"""Declared invariances of ``deep_knn``: false alarms on changed normal photos, and the cost.

Run: ``python -m benchmarks.invariances [--set magnetic-tile] [--configs ...]``.

A site whose camera may be mounted the other way round, or whose lighting changes, should
not see flags for that. Protocol: the fixed split of :func:`benchmarks.datasets.
one_class_split` (half the normals train, calibrated as the product does at 1 %); the test
normals are scored as they are, flipped left-right, flipped upside down and darker (gamma
1.4); printed per configuration: the false-positive rate on each, and the image AUROC of
the unchanged test normals against the anomalies (what the invariance costs), fit time.
"""

from __future__ import annotations

import argparse
from typing import Any

import cv2
import numpy as np

from benchmarks.datasets import ONE_CLASS_SETS, one_class_split
from detection.evaluation import evaluate_one_class
from detection.images import read_image
from detection.training import score_in_chunks
from detection.weights import use_project_torch_home

CONFIGS: dict[str, dict[str, Any]] = {
    "deep_knn": {},
    "deep_knn hflip": {"invariances": ["hflip"]},
    "deep_knn hflip+vflip": {"invariances": ["hflip", "vflip"]},
    "deep_knn lighting": {"invariances": ["lighting"]},
}
DARKER = ((np.arange(256) / 255.0) ** 1.4 * 255).astype(np.uint8)
CHANGES = {
    "as is": lambda image: image,
    "hflip": lambda image: cv2.flip(image, 1),
    "vflip": lambda image: cv2.flip(image, 0),
    "darker": lambda image: cv2.LUT(image, DARKER),
}


def run(set_name: str, names: list[str], seed: int) -> list[dict[str, Any]]:
    use_project_torch_home()
    split = one_class_split(set_name, seed=seed)
    train = [read_image(p) for p in split.train_normal]
    normal = [read_image(p) for p in split.test_normal]
    anomalous = [read_image(p) for paths in split.test_anomalous.values() for p in paths]
    rows = []
    for name in names:
        result = evaluate_one_class("deep_knn", CONFIGS[name], train, normal, anomalous, seed=seed)
        row: dict[str, Any] = {"config": name, "auroc": result.metrics["auroc"]}
        for change, apply in CHANGES.items():
            changed = [apply(image) for image in normal]
            scores, _ = score_in_chunks(result.detector, changed, keep_heatmaps=False)
            row[change] = float(np.mean(scores > result.threshold))
        row["fit_s"] = result.fit_seconds
        rows.append(row)
        print(row, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", default="magnetic-tile", choices=sorted(ONE_CLASS_SETS))
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = run(args.set, args.configs, args.seed)
    print(f"\n{args.set}: false-positive rate on the test normals, changed as named")
    print("| config | " + " | ".join(f"FPR {c}" for c in CHANGES) + " | AUROC | fit s |")
    print("|---|" + "---|" * (len(CHANGES) + 2))
    for r in rows:
        cells = " | ".join(f"{r[c]:.3f}" for c in CHANGES)
        print(f"| {r['config']} | {cells} | {r['auroc']:.3f} | {r['fit_s']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
