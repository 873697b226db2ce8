"""Every image kind on every shared image set, with what its threshold promised and kept.

Run: ``make bench-sets`` or ``python -m benchmarks.every_set [--sets ...] [--kinds ...]``.

Protocol, one fixed split per set that mimics a site (:func:`benchmarks.datasets.
one_class_split`, seed 0): half of the normal photos are the site's training set, fitted
and calibrated exactly as the product does (``fit_and_calibrate`` with its defaults: the
cheap kinds cross-fit, every training normal calibrating out of fold; the others keep 20 %
aside); the other half of the normals and every anomaly are the test set. Printed per set
and kind: image AUROC and AP; the false-positive rate the threshold *promised*
(``guaranteed_fpr``, on average over sites; and the rate it keeps with 90 % confidence,
``fpr_bound_90``) next to the one *realised* on the test normals, and the recall there;
pixel AUROC where masks lie beside the photos (``NAME_mask.png``, or ``NAME.png`` on
magnetic-tile); fit time (all fold models included) and scoring speed. ``classifier_openset``
runs on flowers only (it needs the species folders as labels) and adds the accuracy on the
test photos of known species.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks.datasets import ONE_CLASS_SETS, one_class_split
from detection.evaluation import evaluate_one_class
from detection.images import read_image
from detection.metrics import pixel_auroc, shrink_mask
from detection.training import PIXEL_SIDE
from detection.weights import use_project_torch_home

KINDS: dict[str, dict[str, Any]] = {
    "auto": {},
    "histogram_iforest": {},
    "deep_knn": {},
    "patch_autoencoder": {},
    "classifier_openset": {},
}
#: Kinds that learn classes: only where folders give them.
LABELLED_SETS = {"flowers"}
TARGET_FPR = 0.01


def mask_for(set_name: str, photo: Path) -> Path:
    if set_name == "magnetic-tile":
        return photo.with_suffix(".png")
    return photo.with_name(f"{photo.stem}_mask.png")


def _masks(set_name: str, photos: list[Path], shapes: list[tuple[int, int]]) -> list | None:
    """One mask per test photo at heatmap size (all black where none), or None if none."""
    found = [mask_for(set_name, p) for p in photos]
    if not any(m.exists() and "MT_Free" not in str(m) for m in found):
        return None
    masks = []
    for path, shape in zip(found, shapes, strict=True):
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) if path.exists() else None
        if mask is None:
            masks.append(np.zeros(shape, np.uint8))
            continue
        mask = shrink_mask(mask, PIXEL_SIDE)
        if mask.shape != shape:
            mask = cv2.resize(mask, shape[::-1], interpolation=cv2.INTER_NEAREST)
        masks.append(mask)
    return masks


def run_one(set_name: str, kind: str, seed: int) -> dict[str, Any]:
    split = one_class_split(set_name, seed=seed)
    train = [read_image(p) for p in split.train_normal]
    test_normal = [read_image(p) for p in split.test_normal]
    anomalous_paths = [p for paths in split.test_anomalous.values() for p in paths]
    anomalous = [read_image(p) for p in anomalous_paths]
    labels = [p.parent.name for p in split.train_normal] if kind == "classifier_openset" else None
    started = time.perf_counter()
    result = evaluate_one_class(
        kind,
        KINDS[kind],
        train,
        test_normal,
        anomalous,
        labels=labels,
        target_fpr=TARGET_FPR,
        seed=seed,
        keep_heatmaps=True,
    )
    wall = time.perf_counter() - started
    pixel = None
    if result.test_heatmaps is not None:
        photos = split.test_normal + anomalous_paths
        masks = _masks(set_name, photos, [h.shape for h in result.test_heatmaps])
        if masks is not None:
            pixel = pixel_auroc(result.test_heatmaps, masks)
    accuracy = None
    if kind == "classifier_openset":
        predicted = result.detector.predict(test_normal)
        truth = [p.parent.name for p in split.test_normal]
        accuracy = float(np.mean([a == b for a, b in zip(predicted, truth, strict=True)]))
    m = result.metrics
    chosen = getattr(result.detector, "chosen", None)  # auto: the kind it picked
    return {
        "set": set_name,
        "kind": kind if chosen is None else f"{kind} (chose {chosen.kind})",
        "n_train": len(train),
        "n_test_normal": len(test_normal),
        "n_test_anomalous": len(anomalous),
        "auroc": m["auroc"],
        "average_precision": m["average_precision"],
        "calibration": m.get("calibration"),
        "promised_fpr": m.get("promised_fpr"),
        "fpr_bound_90": m.get("fpr_bound_90"),
        "realised_fpr": m["false_positive_rate"],
        "recall": m["recall"],
        "pixel_auroc": pixel,
        "accuracy": accuracy,
        "fit_s": result.fit_seconds,
        "images_per_s": 1000 / result.score_ms_per_image,
        "wall_s": wall,
    }


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        "| set | kind | train | test n/a | AUROC | AP | promised FPR | 90 % bound | realised FPR "
        "| recall "
        "| pixel AUROC | known acc. | fit s | img/s |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for r in rows:
        print(
            f"| {r['set']} | {r['kind']} | {r['n_train']} | {r['n_test_normal']}/"
            f"{r['n_test_anomalous']} | {_fmt(r['auroc'])} | {_fmt(r['average_precision'])} | "
            f"{_fmt(r['promised_fpr'])} | {_fmt(r['fpr_bound_90'])} | {_fmt(r['realised_fpr'])} | "
            f"{_fmt(r['recall'])} | "
            f"{_fmt(r['pixel_auroc'])} | {_fmt(r['accuracy'])} | {r['fit_s']:.1f} | "
            f"{r['images_per_s']:.1f} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="+", choices=sorted(ONE_CLASS_SETS), default=None)
    parser.add_argument("--kinds", nargs="+", choices=sorted(KINDS), default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    use_project_torch_home()
    rows = []
    for set_name in args.sets or list(ONE_CLASS_SETS):
        for kind in args.kinds or list(KINDS):
            if kind == "classifier_openset" and set_name not in LABELLED_SETS:
                continue
            try:
                row = run_one(set_name, kind, args.seed)
            except FileNotFoundError as exc:
                print(f"skipped {set_name}: {exc}", file=sys.stderr)
                break
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
