"""Image-level accuracy and speed of each detector kind on the magnetic-tile data set.

Run: ``make bench`` or ``python -m benchmarks.magnetic_tile [--kinds ...]``.

Protocol (see ../shared/datasets/README.md): half of MT_Free (seeded) is the site's normal
training set, fitted and calibrated exactly as the product does (80 % fit, 20 % held out
for the threshold at the product's default target FPR of 1 %); the other half of MT_Free
and all 278 defect photos are the test set. Printed per configuration: AUROC and AP (no
threshold), precision / recall / F1 / FPR at the calibrated threshold, the best F1 any
threshold could reach on the test set (an upper bound, for reference only), pixel AUROC for
kinds with heatmaps (against the ``NAME.png`` mask beside each photo, over all test images,
both downscaled to at most 128 px on the long side to keep the pixel count tractable), fit
time, scoring speed (images/s, whole test set in one ``score`` call, after fitting), and
AUROC per defect class.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks.datasets import DEFECT_CLASSES, magnetic_tile_split
from detection.evaluation import evaluate_one_class
from detection.images import read_image
from detection.metrics import evaluate, pixel_auroc, shrink_mask
from detection.training import PIXEL_SIDE
from detection.weights import use_project_torch_home

CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "histogram_iforest": ("histogram_iforest", {}),
    "histogram_ocsvm": ("histogram_iforest", {"estimator": "one_class_svm"}),
    "histogram_lof": ("histogram_iforest", {"estimator": "local_outlier_factor"}),
    "histogram_elliptic": ("histogram_iforest", {"estimator": "elliptic_envelope"}),
    # MobileNetV2 blocks 6+13; the default is two image sizes (128 and 288 px), aspect kept.
    "deep_knn": ("deep_knn", {}),
    # one size: the speed target is stated at 224 px
    "deep_knn_224": ("deep_knn", {"image_size": 224}),
    # the first default: one 224 px square per photo, whatever its shape
    "deep_knn_square224": ("deep_knn", {"image_size": 224, "keep_aspect": False}),
    # the default: an autoencoder of MobileNetV2 features at 224 px (every_set.py compares sets)
    "patch_autoencoder": ("patch_autoencoder", {}),
}


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pixel_auroc(heatmaps: list[np.ndarray], photos: list[Path]) -> float | None:
    """Pixel AUROC against the masks beside the photos (absent mask = all normal).

    The heatmaps come shrunk to ``PIXEL_SIDE`` (:func:`evaluate_one_class`); each mask is
    shrunk from full resolution the same way, nearest-neighbour so it stays binary.
    """
    masks = []
    for heatmap, photo in zip(heatmaps, photos, strict=True):
        mask_path = photo.with_suffix(".png")
        mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE) if mask_path.exists() else None
        if mask is None:
            masks.append(np.zeros(heatmap.shape, np.uint8))
            continue
        mask = shrink_mask(mask, PIXEL_SIDE)
        if mask.shape != heatmap.shape:
            mask = cv2.resize(mask, heatmap.shape[::-1], interpolation=cv2.INTER_NEAREST)
        masks.append(mask)
    return pixel_auroc(heatmaps, masks)


def run(names: list[str], seed: int, target_fpr: float) -> list[dict[str, Any]]:
    use_project_torch_home()  # the weights scripts/install_weights.py put in var/torch
    split = magnetic_tile_split(seed=seed)
    train = [read_image(p) for p in split.train_normal]
    test_normal = [read_image(p) for p in split.test_normal]
    defect_images = {c: [read_image(p) for p in split.test_anomalous[c]] for c in DEFECT_CLASSES}
    anomalous = [image for c in DEFECT_CLASSES for image in defect_images[c]]
    classes = [c for c in DEFECT_CLASSES for _ in defect_images[c]]
    print(
        f"magnetic-tile: train {len(train)} normal; test {len(test_normal)} normal + "
        f"{len(anomalous)} defects; seed {seed}; target FPR {target_fpr}\n"
    )
    rows = []
    for name in names:
        kind, params = CONFIGS[name]
        result = evaluate_one_class(
            kind,
            params,
            train,
            test_normal,
            anomalous,
            target_fpr=target_fpr,
            seed=seed,
            keep_heatmaps=True,
        )
        photos = split.test_normal + [p for c in DEFECT_CLASSES for p in split.test_anomalous[c]]
        pixel = (
            _pixel_auroc(result.test_heatmaps, photos) if result.test_heatmaps is not None else None
        )
        result.test_heatmaps = None
        scores, labels = result.test_scores, result.test_labels
        normal_scores = scores[labels == 0]
        defect_scores = scores[labels == 1]
        per_class = {}
        for c in DEFECT_CLASSES:
            mine = defect_scores[np.array(classes) == c]
            both = np.concatenate([normal_scores, mine])
            truth = np.concatenate([np.zeros(normal_scores.size), np.ones(mine.size)])
            per_class[c] = evaluate(both, truth, result.threshold)["auroc"]
        rows.append(
            {
                "config": name,
                **result.metrics,
                "best_f1": result.best_f1,
                "fit_s": result.fit_seconds,
                "score_ms": result.score_ms_per_image,
                "images_per_s": 1000 / result.score_ms_per_image,
                "pixel_auroc": pixel,
                "per_class_auroc": per_class,
            }
        )
    return rows


def print_tables(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'config':20} {'AUROC':>6} {'AP':>6} {'prec':>6} {'recall':>6} {'F1':>6} "
        f"{'FPR':>6} {'bestF1':>6} {'pixAU':>6} {'fit s':>7} {'img/s':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['config']:20} {_fmt(r['auroc']):>6} {_fmt(r['average_precision']):>6} "
            f"{_fmt(r['precision']):>6} {_fmt(r['recall']):>6} {_fmt(r['f1']):>6} "
            f"{_fmt(r['false_positive_rate']):>6} {_fmt(r['best_f1']):>6} "
            f"{_fmt(r['pixel_auroc']):>6} {r['fit_s']:>7.2f} {r['images_per_s']:>7.1f}"
        )
    print("\nAUROC per defect class (vs. all test normals)")
    short = [c.removeprefix("MT_") for c in DEFECT_CLASSES]
    print(f"{'config':20} " + " ".join(f"{s:>8}" for s in short))
    for r in rows:
        values = " ".join(f"{_fmt(r['per_class_auroc'][c]):>8}" for c in DEFECT_CLASSES)
        print(f"{r['config']:20} {values}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kinds", nargs="+", choices=sorted(CONFIGS), default=sorted(CONFIGS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target-fpr", type=float, default=0.01)
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    try:
        rows = run(args.kinds, args.seed, args.target_fpr)
    except FileNotFoundError as exc:
        print(f"skipped: {exc}", file=sys.stderr)
        return 1
    print_tables(rows)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
