"""Open-set object detection on NEU-DET: each steel-defect class in turn is the unknown one.

Run: ``python -m benchmarks.neu_det [--classes scratches ...] [--epochs N] [--threads 1]``.

Protocol: the 600 images (6 classes x 100, 200 x 200 grey, COCO boxes) are split per class
(file-name prefix) at random, seeded: 70 % train, 30 % test. For each left-out class U:

* ``ssd_openset`` is fitted and calibrated exactly as the product does
  (:func:`detection.training.fit_and_calibrate`: 80 % of the training images fit, 20 %
  held out for the threshold at ``--target-fpr``) on the training images of the other five
  classes that hold no box of U;
* it is tested on the test images of all six classes: known mAP@0.5 / mAP@[.5:.95] on the
  test images without a U box, AUROC of "contains a U box" over all test images, unknown
  recall (a candidate with IoU >= 0.3 to a U box, openness above the threshold) and
  absolute open-set error (U boxes taken for a known class), via
  :func:`detection.object_metrics.object_metrics`;
* ``deep_knn`` (default parameters) is fitted on the same training images and its image
  AUROC on the same test images is printed beside it.

Training time is the whole ``fit`` (including the box-feature bank); images/s is one
``score`` call over the test images after fitting.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from benchmarks.datasets import DATASETS
from detection.coco import load_coco
from detection.images import read_image
from detection.object_metrics import object_metrics
from detection.objects import LabelledBox
from detection.training import Subset, fit_and_calibrate
from detection.weights import use_project_torch_home

NEU_DET = DATASETS / "neu-det"


def image_class(file_name: str) -> str:
    """``rolled-in_scale_12.jpg`` -> ``rolled-in_scale``: NEU-DET names images by class."""
    return file_name.rsplit("_", 1)[0]


def neu_det_split(
    root: Path = NEU_DET, *, train_fraction: float = 0.7, seed: int = 0
) -> tuple[list[str], dict[str, list[LabelledBox]], list[str], list[str]]:
    """(classes, boxes by file, train files, test files): a seeded split within each class."""
    if not (root / "annotations.json").is_file():
        raise FileNotFoundError(f"NEU-DET not found at {root}")
    data = load_coco(root / "annotations.json")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for name in data.categories:
        files = sorted(f for f in data.boxes if image_class(f) == name)
        order = rng.permutation(len(files))
        n_train = round(len(files) * train_fraction)
        train += [files[i] for i in order[:n_train]]
        test += [files[i] for i in order[n_train:]]
    return data.categories, data.boxes, sorted(train), sorted(test)


def run_left_out(
    unknown: str,
    images: dict[str, np.ndarray],
    boxes: dict[str, list[LabelledBox]],
    train: list[str],
    test: list[str],
    params: dict[str, Any],
    target_fpr: float,
    with_deep_knn: bool,
    save_dir: Path | None = None,
    reuse_dir: Path | None = None,
) -> dict[str, Any]:
    fit_files = [f for f in train if all(b.label != unknown for b in boxes[f])]
    fit_images = [images[f] for f in fit_files]
    if reuse_dir is not None:
        detector, threshold, train_seconds = _reuse(
            reuse_dir / f"ssd_openset_without_{unknown}.zip", params, fit_images, target_fpr
        )
    else:
        outcome = fit_and_calibrate(
            "ssd_openset",
            params,
            fit_images,
            boxes=[boxes[f] for f in fit_files],
            target_fpr=target_fpr,
            progress=lambda fraction, message: print(
                f"  [{unknown}] {100 * fraction:5.1f} % {message}", file=sys.stderr, flush=True
            ),
        )
        detector, threshold = outcome.detector, outcome.threshold
        train_seconds = outcome.metrics["train_seconds"]
    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
        detector.save(save_dir / f"ssd_openset_without_{unknown}.zip")
    test_images = Subset([images[f] for f in test], range(len(test)))
    started = time.perf_counter()
    result = detector.score(test_images)
    images_per_s = len(test) / (time.perf_counter() - started)
    detected = detector.detect(test_images)  # type: ignore[attr-defined]
    every = detector.detect(test_images, min_objectness=0.0)  # type: ignore[attr-defined]
    truth = [boxes[f] for f in test]
    sizes = [(images[f].shape[1], images[f].shape[0]) for f in test]
    metrics = object_metrics(
        detected,
        result.scores,
        truth,
        sizes,
        detector.classes,  # type: ignore[attr-defined]
        threshold,
        min_confidence=params.get("score_threshold", 0.3),
        map_detected=every,
    )
    row = {
        "unknown": unknown,
        "n_fit_images": len(fit_files),
        **metrics,
        "threshold": threshold,
        "train_seconds": train_seconds,
        "images_per_s": images_per_s,
    }
    if with_deep_knn:
        knn = fit_and_calibrate("deep_knn", {}, fit_images, target_fpr=target_fpr)
        has_unknown = [any(b.label == unknown for b in boxes[f]) for f in test]
        knn_scores = knn.detector.score(test_images).scores
        row["deep_knn_auroc"] = float(roc_auc_score(has_unknown, knn_scores))
        row["deep_knn_train_seconds"] = knn.metrics["train_seconds"]
    return row


def _reuse(
    path: Path, params: dict[str, Any], fit_images: list[np.ndarray], target_fpr: float
) -> tuple[Any, float, float | None]:
    """A model saved by an earlier run (``--save-models``), with the run's scoring
    parameters, recalibrated on the same held-out images as ``fit_and_calibrate`` uses."""
    from detection.calibration import threshold_for_fpr
    from detection.registry import load_detector
    from detection.training import split_indices

    detector = load_detector(path)
    scoring = {k: v for k, v in params.items() if k not in ("epochs", "image_size", "seed")}
    detector.params = type(detector.params).from_mapping({**detector.params.to_dict(), **scoring})
    _, holdout = split_indices(len(fit_images), 0.2, 0)
    scores = detector.score([fit_images[i] for i in holdout]).scores
    return detector, threshold_for_fpr(scores, target_fpr), None


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


COLUMNS = (
    ("unknown", "left out", None),
    ("map_50", "mAP@.5", 3),
    ("map_50_95", "mAP@[.5:.95]", 3),
    ("unknown_image_auroc", "unk. AUROC", 3),
    ("deep_knn_auroc", "deep_knn AUROC", 3),
    ("unknown_recall", "unk. recall", 3),
    ("open_set_error", "open-set err.", None),
    ("n_unknown_objects", "unk. objects", None),
    ("train_seconds", "train s", 0),
    ("images_per_s", "img/s", 1),
)


def print_table(rows: list[dict[str, Any]]) -> None:
    print("| " + " | ".join(title for _, title, _ in COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in rows:
        cells = []
        for key, _, digits in COLUMNS:
            value = row.get(key)
            cells.append(str(value) if digits is None or value is None else _fmt(value, digits))
        print("| " + " | ".join(c if c != "None" else "-" for c in cells) + " |")
    if len(rows) > 1:
        cells = ["mean"]
        for key, _, digits in COLUMNS[1:]:
            values = [row[key] for row in rows if row.get(key) is not None]
            cells.append(_fmt(float(np.mean(values)), digits or 1) if values else "-")
        print("| " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", nargs="+", help="left-out classes to run (default: all 6)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--image-size", type=int, default=320)
    parser.add_argument("--params", help="more ssd_openset parameters, JSON")
    parser.add_argument("--target-fpr", type=float, default=0.05)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--no-deep-knn", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--save-models", help="folder to keep each fitted ssd_openset in")
    parser.add_argument(
        "--reuse-models",
        help="score models saved by --save-models instead of training (scoring changes only)",
    )
    args = parser.parse_args(argv)
    use_project_torch_home()
    import torch

    torch.set_num_threads(args.threads)
    classes, boxes, train, test = neu_det_split(seed=args.seed)
    chosen = args.classes or classes
    unknown_names = sorted(set(chosen) - set(classes))
    if unknown_names:
        parser.error(f"unknown classes {unknown_names}; NEU-DET has {classes}")
    params = {
        "epochs": args.epochs,
        "image_size": args.image_size,
        "vertical_flip": True,  # top-down steel: any orientation is plausible
        "seed": args.seed,
        **(json.loads(args.params) if args.params else {}),
    }
    print(f"ssd_openset params: {json.dumps(params)}; target FPR {args.target_fpr}", flush=True)
    print(f"split: {len(train)} train / {len(test)} test images, seed {args.seed}", flush=True)
    images = {f: read_image(NEU_DET / "images" / f) for f in train + test}
    rows = []
    for unknown in chosen:
        row = run_left_out(
            unknown,
            images,
            boxes,
            train,
            test,
            params,
            args.target_fpr,
            not args.no_deep_knn,
            Path(args.save_models) if args.save_models else None,
            Path(args.reuse_models) if args.reuse_models else None,
        )
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2))
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
