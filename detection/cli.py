"""``python -m detection``: train, score and evaluate detectors on folders of images.

For data scientists and for sites that want to try a kind before using the web app; it
runs the same code as the workers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from detection.base import DetectorError
from detection.evaluation import evaluate_one_class
from detection.images import list_images, read_image
from detection.registry import available_kinds, detector_class, load_detector
from detection.training import fit_and_calibrate
from detection.weights import import_weights_file


def _images_in(paths: Sequence[str]) -> list[Path]:
    """Image files named directly or found in the given folders."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        found.extend(list_images(path) if path.is_dir() else [path])
    return found


def _load(paths: Sequence[Path]) -> list[Any]:
    return [read_image(path) for path in paths]


def _sidecar(model: Path) -> Path:
    return model.with_name(model.name + ".json")


def cmd_kinds(args: argparse.Namespace) -> int:
    for kind in available_kinds():
        cls = detector_class(kind)
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        print(f"{kind:24} {doc}")
        print(f"{'':24} defaults: {json.dumps(cls.params_class().to_dict())}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    normal = _images_in(args.normal)
    anomalous = _images_in(args.anomalous or [])
    print(f"training {args.kind} on {len(normal)} normal images", file=sys.stderr)
    outcome = fit_and_calibrate(
        args.kind,
        json.loads(args.params) if args.params else None,
        _load(normal),
        _load(anomalous),
        target_fpr=args.target_fpr,
        threshold_method=args.threshold_method,
        fixed_threshold=args.threshold,
        seed=args.seed,
    )
    out = Path(args.out)
    outcome.detector.save(out)
    _sidecar(out).write_text(
        json.dumps({"threshold": outcome.threshold, "metrics": outcome.metrics}, indent=2)
    )
    print(json.dumps({"model": str(out), "threshold": outcome.threshold, **outcome.metrics}))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    model = Path(args.model)
    detector = load_detector(model)
    threshold = args.threshold
    if threshold is None and _sidecar(model).exists():
        threshold = json.loads(_sidecar(model).read_text())["threshold"]
    print("file\tscore\tflagged")
    for path in _images_in(args.images):
        try:
            score = float(detector.score([read_image(path)]).scores[0])
        except DetectorError as exc:
            print(f"{path}\terror: {exc}")
            continue
        flagged = "" if threshold is None else ("yes" if score > threshold else "no")
        print(f"{path}\t{score:.6f}\t{flagged}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    result = evaluate_one_class(
        args.kind,
        json.loads(args.params) if args.params else None,
        _load(_images_in(args.train)),
        _load(_images_in(args.test_normal)),
        _load(_images_in(args.test_anomalous)),
        target_fpr=args.target_fpr,
        seed=args.seed,
    )
    summary = {
        "kind": result.kind,
        **result.metrics,
        "best_f1": result.best_f1,
        "fit_seconds": round(result.fit_seconds, 3),
        "score_ms_per_image": round(result.score_ms_per_image, 3),
    }
    print(json.dumps(summary, indent=2))
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    for name in args.files:
        print(f"installed {import_weights_file(name)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m detection", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("kinds", help="list detector kinds and their default parameters")

    train = sub.add_parser("train", help="fit and calibrate a detector, save it")
    train.add_argument("kind", choices=available_kinds())
    train.add_argument("normal", nargs="+", help="folders or files of normal images")
    train.add_argument("--anomalous", nargs="*", help="known anomalies (for metrics / f1)")
    train.add_argument("--params", help="JSON object of parameters")
    train.add_argument("--out", default="model.zip")
    train.add_argument("--target-fpr", type=float, default=0.01)
    train.add_argument("--threshold-method", choices=["fpr", "f1", "fixed"], default="fpr")
    train.add_argument("--threshold", type=float, help="with --threshold-method fixed")
    train.add_argument("--seed", type=int, default=0)

    score = sub.add_parser("score", help="score images with a saved detector")
    score.add_argument("model")
    score.add_argument("images", nargs="+")
    score.add_argument("--threshold", type=float, help="default: the one saved at training")

    evaluate = sub.add_parser("evaluate", help="train on normals, report test metrics")
    evaluate.add_argument("kind", choices=available_kinds())
    evaluate.add_argument("--train", nargs="+", required=True)
    evaluate.add_argument("--test-normal", nargs="+", required=True)
    evaluate.add_argument("--test-anomalous", nargs="+", required=True)
    evaluate.add_argument("--params")
    evaluate.add_argument("--target-fpr", type=float, default=0.01)
    evaluate.add_argument("--seed", type=int, default=0)

    weights = sub.add_parser("weights", help="import torchvision weights files (offline)")
    weights.add_argument("files", nargs="+")
    return parser


COMMANDS = {
    "kinds": cmd_kinds,
    "train": cmd_train,
    "score": cmd_score,
    "evaluate": cmd_evaluate,
    "weights": cmd_weights,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (DetectorError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
