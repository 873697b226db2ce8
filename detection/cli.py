"""``python -m detection``: train, score and evaluate detectors on folders of images or videos.

For data scientists and for sites that want to try a kind before using the web app; it
runs the same code as the workers. Videos (``.mp4 .avi .mov .mkv .webm``, ``--fps`` to
sample) are clips: temporal kinds (``video_autoencoder``, ``motion_energy``) learn from
them whole, image kinds from their frames; ``score`` prints per-frame scores and event
segments, ``evaluate --data`` reads the frame truth ``NAME.truth.csv`` beside each clip.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detection.base import DetectorError
from detection.coco import load_coco
from detection.images import list_images, mask_beside, read_image
from detection.metrics import evaluate, pixel_auroc, shrink_mask
from detection.object_metrics import object_metrics
from detection.objects import DetectedBox, LabelledBox, flag_boxes
from detection.registry import available_kinds, detector_class, load_detector
from detection.segments import find_segments
from detection.training import (
    CALIBRATIONS,
    DEFAULT_FOLDS,
    PIXEL_SIDE,
    fit_and_calibrate,
    fit_and_calibrate_clips,
    score_in_chunks,
)
from detection.video_io import VIDEO_SUFFIXES, iter_frames, probe_video, read_frame_truth
from detection.video_metrics import labels_from_truth, video_metrics
from detection.weights import import_weights_file, use_project_torch_home


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


def _labelled_images_in(folders: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Images in the class subfolders of each folder (``DIR/<class>/*.jpg``), with labels."""
    paths: list[Path] = []
    labels: list[str] = []
    for folder in map(Path, folders):
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []:
            found = list_images(sub)
            paths.extend(found)
            labels.extend([sub.name] * len(found))
    if not paths:
        raise DetectorError("this kind needs labelled images: put them in DIR/<class name>/")
    return paths, labels


def _videos_in(paths: Sequence[str]) -> list[Path]:
    """Video files named directly or found (sorted) in the given folders."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES))
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            found.append(path)
    return found


def _read_video(path: Path, fps: float | None) -> tuple[list[int], list[float], list[Any]]:
    """(frame indices, timestamps in s, frames) of the frames sampled at ``fps``."""
    indices, times, frames = [], [], []
    for index, timestamp, frame in iter_frames(path, target_fps=fps):
        indices.append(index)
        times.append(timestamp)
        frames.append(frame)
    return indices, times, frames


def _sampled_fps(paths: Sequence[Path], fps: float | None) -> float:
    """The frame rate the scores come at: the source rate, or ``--fps`` when lower."""
    source = probe_video(paths[0]).fps
    return min(source, fps) if fps else source


def _truth_beside(video: Path) -> dict[int, int] | None:
    path = video.with_name(video.stem + ".truth.csv")
    return read_frame_truth(path.read_text()) if path.exists() else None


def _train_on_videos(args: argparse.Namespace, normal: list[Path]) -> int:
    anomalous = _videos_in(args.anomalous or [])
    print(f"training {args.kind} on {len(normal)} normal clips", file=sys.stderr)
    clips = [_read_video(path, args.fps)[2] for path in normal]
    bad = [_read_video(path, args.fps) for path in anomalous]
    # the truth is per source frame, the clips hold the sampled frames: key it by position
    truth = []
    for path, (indices, _, _) in zip(anomalous, bad, strict=True):
        known = _truth_beside(path)
        truth.append(None if known is None else {p: known.get(i, 1) for p, i in enumerate(indices)})
    fps = _sampled_fps(normal, args.fps)
    outcome = fit_and_calibrate_clips(
        args.kind,
        json.loads(args.params) if args.params else None,
        clips,
        [frames for _, _, frames in bad],
        anomalous_truth=truth,
        target_fpr=args.target_fpr,
        threshold_method=args.threshold_method,
        fixed_threshold=args.threshold,
        seed=args.seed,
        fps=fps,
        min_length=args.min_length,
        max_gap=args.max_gap,
        progress=_print_progress if args.verbose else None,
    )
    out = Path(args.out)
    outcome.detector.save(out)
    video = {"fps": args.fps, "min_length": args.min_length, "max_gap": args.max_gap}
    sidecar = {
        "threshold": outcome.threshold,
        "guaranteed_fpr": outcome.metrics.get("guaranteed_fpr"),
        "metrics": outcome.metrics,
        "video": video,
    }
    _sidecar(out).write_text(json.dumps(sidecar, indent=2))
    print(json.dumps({"model": str(out), "threshold": outcome.threshold, **outcome.metrics}))
    return 0


def _boxed_images_in(
    paths: Sequence[str], coco: str | None
) -> tuple[list[Path], list[list[LabelledBox]]]:
    """The images of ``paths`` that the COCO file lists (matched by file name), with boxes.

    Images it does not list and names it lists that are not there are reported on stderr,
    not fatal: a labelling export often covers a subset of a folder.
    """
    if not coco:
        raise DetectorError("this kind needs labelled boxes: pass --coco annotations.json")
    data = load_coco(coco)
    found = _images_in(paths)
    listed = [path for path in found if path.name in data.boxes]
    unlisted = len(found) - len(listed)
    missing = sorted(set(data.boxes) - {path.name for path in found})
    if unlisted:
        print(f"{unlisted} images are not in {Path(coco).name}; left out", file=sys.stderr)
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        print(f"{len(missing)} images of {Path(coco).name} not found: {shown}", file=sys.stderr)
    if not listed:
        raise DetectorError(f"none of the images is listed in {Path(coco).name}")
    return listed, [data.boxes[path.name] for path in listed]


def cmd_train(args: argparse.Namespace) -> int:
    videos = _videos_in(args.data)
    if videos:
        return _train_on_videos(args, videos)
    if getattr(detector_class(args.kind), "temporal", False):
        raise DetectorError(
            f"{args.kind} learns from video: give --data folders or files of "
            f"{' '.join(VIDEO_SUFFIXES)} clips"
        )
    labels = None
    boxes = None
    if detector_class(args.kind).needs_labels:
        normal, labels = _labelled_images_in(args.data)
    elif detector_class(args.kind).needs_boxes:
        normal, boxes = _boxed_images_in(args.data, args.coco)
    else:
        normal = _images_in(args.data)
    anomalous = _images_in(args.anomalous or [])
    print(f"training {args.kind} on {len(normal)} normal images", file=sys.stderr)
    outcome = fit_and_calibrate(
        args.kind,
        json.loads(args.params) if args.params else None,
        _load(normal),
        _load(anomalous),
        labels=labels,
        boxes=boxes,
        calibration=args.calibration,
        folds=args.folds,
        target_fpr=args.target_fpr,
        threshold_method=args.threshold_method,
        fixed_threshold=args.threshold,
        seed=args.seed,
        progress=_print_progress if args.verbose else None,
    )
    out = Path(args.out)
    outcome.detector.save(out)
    sidecar = {
        "threshold": outcome.threshold,
        "guaranteed_fpr": outcome.metrics.get("guaranteed_fpr"),
        "metrics": outcome.metrics,
    }
    _sidecar(out).write_text(json.dumps(sidecar, indent=2))
    print(json.dumps({"model": str(out), "threshold": outcome.threshold, **outcome.metrics}))
    return 0


def _print_progress(fraction: float, message: str) -> None:
    print(f"{100 * fraction:5.1f} % {message}", file=sys.stderr)


def _threshold(model: Path, given: float | None) -> float | None:
    if given is not None:
        return given
    if _sidecar(model).exists():
        return float(json.loads(_sidecar(model).read_text())["threshold"])
    return None


def _save_heatmap(folder: Path, path: Path, image: Any, heatmap: Any) -> None:
    """The heatmap as a colour overlay on the image, for people to look at."""
    import cv2
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    span = float(heatmap.max() - heatmap.min()) or 1.0
    scaled = ((heatmap - heatmap.min()) / span * 255).astype(np.uint8)
    overlay = cv2.addWeighted(image, 0.5, cv2.applyColorMap(scaled, cv2.COLORMAP_JET), 0.5, 0)
    cv2.imwrite(str(folder / f"{path.stem}_heatmap.png"), overlay)


def _video_settings(model: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Sampling and segment settings: the command line's, else those saved at training."""
    saved: dict[str, Any] = {"fps": None, "min_length": 1, "max_gap": 0}
    if _sidecar(model).exists():
        saved.update(json.loads(_sidecar(model).read_text()).get("video") or {})
    for name in saved:
        given = getattr(args, name, None)
        if given is not None:
            saved[name] = given
    return saved


def _score_video(detector: Any, path: Path, fps: float | None) -> dict[str, Any]:
    """One clip's per-frame scores (temporal kinds see the clip whole)."""
    indices, times, frames = _read_video(path, fps)
    if getattr(detector, "temporal", False):
        scores = detector.score_clip(frames).scores
    else:
        scores = np.concatenate([detector.score([f]).scores for f in frames] or [np.zeros(0)])
    return {"path": str(path), "indices": indices, "times": times, "scores": scores}


def _segments_json(clip: dict[str, Any], threshold: float, settings: dict[str, Any]) -> list:
    segments = find_segments(
        clip["scores"], threshold, min_length=settings["min_length"], max_gap=settings["max_gap"]
    )
    index, times = clip["indices"], clip["times"]
    return [
        {
            "start_frame": index[s.start],
            "end_frame": index[s.end],
            "start_s": round(times[s.start], 3),
            "end_s": round(times[s.end], 3),
            "peak_frame": index[s.peak],
            "peak_score": s.peak_score,
        }
        for s in segments
    ]


def _score_videos(args: argparse.Namespace, detector: Any, videos: list[Path]) -> int:
    model = Path(args.model)
    threshold = _threshold(model, args.threshold)
    settings = _video_settings(model, args)
    report = []
    for path in videos:
        clip = _score_video(detector, path, settings["fps"])
        segments = [] if threshold is None else _segments_json(clip, threshold, settings)
        report.append({**clip, "segments": segments})
    if args.json:
        out = {
            "threshold": threshold,
            "clips": [
                {
                    "path": c["path"],
                    "frames": [
                        {"index": i, "time_s": round(t, 3), "score": float(v)}
                        for i, t, v in zip(c["indices"], c["times"], c["scores"], strict=True)
                    ],
                    "segments": c["segments"],
                }
                for c in report
            ],
        }
        print(json.dumps(out))
        return 0
    for clip in report:
        print(f"# {clip['path']}")
        print("frame\ttime_s\tscore\tverdict")
        for i, t, value in zip(clip["indices"], clip["times"], clip["scores"], strict=True):
            verdict = "-" if threshold is None else ("anomalous" if value > threshold else "normal")
            print(f"{i}\t{t:.3f}\t{value:.6f}\t{verdict}")
        print(f"# {len(clip['segments'])} segment(s)")
        for s in clip["segments"]:
            print(
                f"segment\t{s['start_frame']}-{s['end_frame']}\t{s['start_s']:.3f}-"
                f"{s['end_s']:.3f}s\tpeak {s['peak_frame']}\t{s['peak_score']:.6f}"
            )
    return 0


def _box_line(box: DetectedBox) -> str:
    where = f"{box.x:.1f},{box.y:.1f},{box.w:.1f},{box.h:.1f}"
    line = f"\tbox\t{box.label}\t{where}\t{box.confidence:.3f}\t{box.openness:.4f}"
    return line + (f"\t{box.reason}" if box.reason else "")


def cmd_score(args: argparse.Namespace) -> int:
    model = Path(args.model)
    detector = load_detector(model)
    videos = _videos_in(args.images)
    if videos:
        return _score_videos(args, detector, videos)
    if getattr(detector, "temporal", False):
        raise DetectorError(f"{detector.kind} scores video clips; give .mp4 (etc.) files")
    threshold = _threshold(model, args.threshold)
    heatmaps = Path(args.heatmaps) if args.heatmaps else None
    min_confidence = getattr(detector.params, "score_threshold", 0.3)
    if not args.json:
        print("path\tscore\tverdict")
    for path in _images_in(args.images):
        try:
            image = read_image(path)
            result = detector.score([image])
        except DetectorError as exc:
            if args.json:
                print(json.dumps({"path": str(path), "error": str(exc)}))
            else:
                print(f"{path}\terror\t{exc}")
            continue
        score = float(result.scores[0])
        verdict = "-" if threshold is None else ("anomalous" if score > threshold else "normal")
        boxes = None
        if result.boxes is not None:
            boxes = flag_boxes(result.boxes[0], threshold=threshold, min_confidence=min_confidence)
        if args.json:
            row: dict[str, Any] = {"path": str(path), "score": score, "verdict": verdict}
            if boxes is not None:
                row["boxes"] = [box.to_dict() for box in boxes]
            print(json.dumps(row))
        else:
            print(f"{path}\t{score:.6f}\t{verdict}")
            for box in boxes or []:
                print(_box_line(box))
        if heatmaps is not None and result.heatmaps is not None:
            _save_heatmap(heatmaps, path, image, result.heatmaps[0])
    return 0


def _evaluate_videos(args: argparse.Namespace, detector: Any, threshold: float) -> int:
    model = Path(args.model)
    settings = _video_settings(model, args)
    videos = _videos_in(args.data)
    if not videos:
        raise DetectorError("no video clips found in --data")
    clips, skipped = [], []
    for path in videos:
        truth = _truth_beside(path)
        if truth is None:
            skipped.append(path.name)
            continue
        clip = _score_video(detector, path, settings["fps"])
        labels = labels_from_truth(truth, max(clip["indices"]) + 1, default=-1)
        clips.append((clip["scores"], labels[clip["indices"]]))
    if not clips:
        raise DetectorError("no clip has its frame truth (NAME.truth.csv) beside it")
    metrics = video_metrics(
        clips,
        threshold,
        fps=_sampled_fps(videos, settings["fps"]),
        min_length=settings["min_length"],
        max_gap=settings["max_gap"],
    )
    metrics["clips_without_truth"] = skipped
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(
        f"{len(clips)} clips ({metrics['n_normal']} normal, {metrics['n_anomalous']} abnormal "
        f"frames); threshold {threshold:.6f}"
        + (f"; no truth, skipped: {', '.join(skipped)}" if skipped else "")
    )
    for key in ("frame_auroc", "frame_ap", "event_recall", "false_alarms_per_hour", "f1"):
        value = metrics[key]
        print(f"{key}: {'n/a' if value is None else f'{value:.4f}'}")
    return 0


def _evaluate_objects(args: argparse.Namespace, detector: Any, threshold: float) -> int:
    """Object kinds on a COCO file: known mAP, and open-set figures for unknown classes."""
    paths, truth = _boxed_images_in(args.images or [], args.coco)
    images = _load(paths)
    detected = detector.detect(images)
    scores = detector.score(images).scores
    sizes = [(int(image.shape[1]), int(image.shape[0])) for image in images]
    metrics = object_metrics(
        detected,
        scores,
        truth,
        sizes,
        detector.classes,
        threshold,
        min_confidence=getattr(detector.params, "score_threshold", 0.3),
        map_detected=detector.detect(images, min_objectness=0.0),
    )
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(f"{len(images)} images; threshold {threshold:.6f}")
    for key, value in metrics.items():
        shown = "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else value
        print(f"{key}: {shown}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    model = Path(args.model)
    detector = load_detector(model)
    threshold = _threshold(model, args.threshold)
    if threshold is None:
        raise DetectorError(f"no threshold: pass --threshold or keep {_sidecar(model).name}")
    if args.data:
        return _evaluate_videos(args, detector, threshold)
    if args.coco:
        if not detector.needs_boxes:
            raise DetectorError(
                f"{detector.kind} does not detect objects; --coco is for ssd_openset"
            )
        return _evaluate_objects(args, detector, threshold)
    if not args.normal or not args.anomalous:
        raise DetectorError(
            "pass --normal and --anomalous folders, --coco with --images, or --data clips"
        )
    normal = _images_in(args.normal)
    anomalous = _images_in(args.anomalous)
    scores, heatmaps = score_in_chunks(
        detector, _load(normal) + _load(anomalous), keep_heatmaps=True
    )
    labels = np.array([0] * len(normal) + [1] * len(anomalous))
    metrics = evaluate(scores, labels, threshold)
    metrics["per_folder_auroc"] = _per_folder_auroc(normal, anomalous, scores, threshold)
    metrics["pixel_auroc"] = _pixel_auroc_beside(normal + anomalous, heatmaps)
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(f"{len(normal)} normal, {len(anomalous)} anomalous images; threshold {threshold:.6f}")
    for key in ("pixel_auroc", "auroc", "average_precision", "f1", "precision", "recall"):
        value = metrics[key]
        print(f"{key}: {'n/a' if value is None else f'{value:.4f}'}")
    for folder, value in metrics["per_folder_auroc"].items():
        print(f"auroc {folder}: {'n/a' if value is None else f'{value:.4f}'}")
    return 0


def _per_folder_auroc(
    normal: list[Path], anomalous: list[Path], scores: Any, threshold: float
) -> dict[str, float | None]:
    """Each anomalous folder against all the normal images: which defect kinds it misses."""
    normal_scores = scores[: len(normal)]
    folders: dict[str, list[float]] = {}
    for path, score in zip(anomalous, scores[len(normal) :], strict=True):
        folders.setdefault(path.parent.name, []).append(float(score))
    out = {}
    for folder, found in sorted(folders.items()):
        both = np.concatenate([normal_scores, found])
        truth = np.r_[np.zeros(len(normal_scores)), np.ones(len(found))]
        out[folder] = evaluate(both, truth, threshold)["auroc"]
    return out


def _pixel_auroc_beside(paths: list[Path], heatmaps: list[Any] | None) -> float | None:
    """Pixel AUROC over images whose mask lies beside them (NAME_mask.png or NAME.png)."""
    if heatmaps is None:
        return None
    pairs = []
    for path, heatmap in zip(paths, heatmaps, strict=True):
        mask_path = mask_beside(path)
        if mask_path is None:
            continue
        mask = shrink_mask(cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE), PIXEL_SIDE)
        if mask.shape != heatmap.shape:  # both shrunk from the same size: rounding only
            mask = cv2.resize(mask, heatmap.shape[::-1], interpolation=cv2.INTER_NEAREST)
        pairs.append((heatmap, mask))
    if not any(mask.any() for _, mask in pairs):
        return None
    return pixel_auroc([h for h, _ in pairs], [m for _, m in pairs])


def cmd_weights(args: argparse.Namespace) -> int:
    for name in args.files:
        print(f"installed {import_weights_file(name)}")
    return 0


def _video_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """Sampling and segment options; score/evaluate default to those saved at training."""
    saved = "" if defaults else " (default: as trained)"
    parser.add_argument(
        "--fps", type=float, help=f"videos: sample this many frames per second{saved}"
    )
    parser.add_argument(
        "--min-length",
        type=int,
        default=1 if defaults else None,
        help=f"videos: shortest segment, in frames{saved}",
    )
    parser.add_argument(
        "--max-gap",
        type=int,
        default=0 if defaults else None,
        help=f"videos: frames below threshold bridged inside a segment{saved}",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m detection", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("kinds", help="list detector kinds and their default parameters")

    train = sub.add_parser("train", help="fit and calibrate a detector on normal images")
    train.add_argument(
        "--data",
        nargs="+",
        required=True,
        help="folders/files of normal images (classifier_openset: DIR/<class>/ subfolders) "
        "or of normal video clips",
    )
    train.add_argument("--coco", help="COCO annotations.json with the boxes (ssd_openset)")
    train.add_argument("--kind", choices=available_kinds(), default="auto")
    train.add_argument("--params", help='JSON object, e.g. \'{"estimator": "one_class_svm"}\'')
    train.add_argument("--out", required=True, help="where to write the model (.zip)")
    train.add_argument("--anomalous", nargs="*", help="known anomalies (for metrics / f1)")
    train.add_argument("--target-fpr", type=float, default=0.01)
    train.add_argument("--threshold-method", choices=["fpr", "f1", "fixed"], default="fpr")
    train.add_argument("--threshold", type=float, help="with --threshold-method fixed")
    train.add_argument(
        "--calibration",
        choices=CALIBRATIONS,
        default="auto",
        help="crossfit: every normal image calibrates out of fold; holdout: 20 %% kept aside; "
        "auto: crossfit for the kinds cheap to refit",
    )
    train.add_argument("--folds", type=int, default=DEFAULT_FOLDS, help="with crossfit")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--verbose", action="store_true", help="print progress")
    _video_options(train, defaults=True)

    score = sub.add_parser("score", help="score images with a saved model")
    score.add_argument("--model", required=True)
    score.add_argument("images", nargs="+", help="image files or folders")
    score.add_argument("--threshold", type=float, help="default: the one saved at training")
    score.add_argument("--heatmaps", help="folder for heatmap overlays (kinds that have them)")
    score.add_argument(
        "--json",
        action="store_true",
        help="images: one JSON object per image (with boxes for object kinds); videos: one object",
    )
    _video_options(score, defaults=False)

    evaluate_ = sub.add_parser("evaluate", help="metrics of a saved model on labelled folders")
    evaluate_.add_argument("--model", required=True)
    evaluate_.add_argument("--normal", nargs="+", help="folders/files of normal images")
    evaluate_.add_argument("--anomalous", nargs="+", help="folders/files of anomalous images")
    evaluate_.add_argument("--data", nargs="+", help="video clips, NAME.truth.csv beside each")
    evaluate_.add_argument("--coco", help="object kinds: COCO file of the --images' boxes")
    evaluate_.add_argument("--images", nargs="+", help="with --coco: image files or folders")
    evaluate_.add_argument("--threshold", type=float, help="default: the one saved at training")
    evaluate_.add_argument("--json", action="store_true", help="one JSON object")
    _video_options(evaluate_, defaults=False)

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
    use_project_torch_home()  # where scripts/install_weights.py put the weights
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (DetectorError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
