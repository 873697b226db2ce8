"""Frame- and event-level accuracy and speed of the video kinds on UCSD Ped2.

Run: ``make bench-video`` or ``python -m benchmarks.ucsd_ped2 [--kinds ...]``.

Protocol (../shared/datasets/README.md): the data set's own split. Every ``Train*.mp4``
(normal) is the site's training video, fitted and calibrated exactly as the product does
(:func:`detection.training.fit_and_calibrate_clips`: whole clips held out, threshold at
1 % false positives on their frames). Every ``Test*.mp4`` is scored clip by clip and
compared with its ``NAME.truth.csv``. Printed per configuration: frame AUROC and AP over
all test frames (no threshold); at the calibrated threshold, frame recall and FPR, event
recall (a true event = a maximal run of abnormal frames, found when a flagged segment
overlaps it) and false alarms per hour of normal test video (segments lying entirely on
normal frames; the test clips hold only 100 normal frames, 10 s, so this figure is
coarse); fit time including calibration; scoring speed (frames/s, after decoding); and
frame AUROC per test clip that has both classes. Decoding speed (frames/s at native
resolution, all clips) is measured once. ``deep_knn`` is the image kind on frames: fitted
on every third training frame (neighbouring frames are near duplicates), scores every
test frame on its own.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.datasets import VideoSplit, ucsd_ped2_split
from detection.registry import detector_class
from detection.training import fit_and_calibrate_clips, score_in_chunks
from detection.video_io import probe_video, read_clip, read_frame_truth
from detection.video_metrics import labels_from_truth, video_metrics
from detection.weights import use_project_torch_home

CONFIGS: dict[str, tuple[str, dict[str, Any], int]] = {
    # name: (kind, params, keep every n-th training frame)
    "video_autoencoder": ("video_autoencoder", {}, 1),
    "motion_energy": ("motion_energy", {}, 1),
    "motion_energy_difference": ("motion_energy", {"motion": "difference"}, 1),
    "deep_knn": ("deep_knn", {}, 3),
}
#: Event segments as a site would set them at 10 fps: at least 0.3 s, gaps up to 0.5 s bridged.
MIN_LENGTH = 3
MAX_GAP = 5


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def load_clips(paths: list[Path]) -> tuple[list[list[np.ndarray]], float]:
    """Every frame of each clip at native resolution, and the decoding speed (frames/s)."""
    started = time.perf_counter()
    clips = [read_clip(path) for path in paths]
    seconds = time.perf_counter() - started
    return clips, sum(map(len, clips)) / seconds


def run(names: list[str], seed: int, target_fpr: float) -> tuple[list[dict[str, Any]], dict]:
    use_project_torch_home()
    split = ucsd_ped2_split()
    train, train_fps = load_clips(split.train)
    test, test_fps = load_clips(split.test)
    truth = [
        labels_from_truth(
            read_frame_truth(VideoSplit.truth_for(p).read_text()), len(clip), default=-1
        )
        for p, clip in zip(split.test, test, strict=True)
    ]
    fps = probe_video(split.train[0]).fps
    info = {
        "train_clips": len(train),
        "train_frames": sum(map(len, train)),
        "test_clips": len(test),
        "test_frames": sum(map(len, test)),
        "abnormal_test_frames": int(sum((t == 1).sum() for t in truth)),
        "decode_fps": (sum(map(len, train)) + sum(map(len, test)))
        / (sum(map(len, train)) / train_fps + sum(map(len, test)) / test_fps),
    }
    print(
        f"ucsd-ped2: train {info['train_clips']} clips / {info['train_frames']} frames; test "
        f"{info['test_clips']} clips / {info['test_frames']} frames "
        f"({info['abnormal_test_frames']} abnormal); decoding {info['decode_fps']:.0f} frames/s "
        f"at 360x240; seed {seed}; target FPR {target_fpr}\n",
        flush=True,
    )
    rows = []
    for name in names:
        kind, params, every = CONFIGS[name]
        started = time.perf_counter()
        outcome = fit_and_calibrate_clips(
            kind,
            params,
            [clip[::every] for clip in train],
            target_fpr=target_fpr,
            seed=seed,
            fps=fps / every,
        )
        fit_seconds = time.perf_counter() - started
        detector = outcome.detector
        temporal = getattr(detector_class(kind), "temporal", False)
        started = time.perf_counter()
        scores = [
            detector.score_clip(clip).scores  # type: ignore[attr-defined]
            if temporal
            else score_in_chunks(detector, clip, keep_heatmaps=False)[0]
            for clip in test
        ]
        score_seconds = time.perf_counter() - started
        clips = list(zip(scores, truth, strict=True))
        metrics = video_metrics(
            clips, outcome.threshold, fps=fps, min_length=MIN_LENGTH, max_gap=MAX_GAP
        )
        per_clip = {}
        for path, (s, t) in zip(split.test, clips, strict=True):
            if (t == 1).any() and (t == 0).any():
                per_clip[path.stem] = video_metrics([(s, t)], outcome.threshold)["frame_auroc"]
        rows.append(
            {
                "config": name,
                "kind": kind,
                "params": detector.params.to_dict(),
                **metrics,
                "threshold": outcome.threshold,
                "calibration": {
                    k: outcome.metrics[k]
                    for k in ("n_fit", "n_holdout", "n_fit_clips", "n_holdout_clips")
                },
                "fit_s": fit_seconds,
                "score_fps": info["test_frames"] / score_seconds,
                "per_clip_auroc": per_clip,
            }
        )
        print(f"{name}: frame AUROC {_fmt(metrics['frame_auroc'])}", file=sys.stderr, flush=True)
    return rows, info


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'config':24} {'AUROC':>6} {'AP':>6} {'recall':>6} {'FPR':>6} {'events':>7} "
        f"{'FA/h':>6} {'fit s':>7} {'score f/s':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        events = f"{r['events_found']}/{r['n_events']}"
        print(
            f"{r['config']:24} {_fmt(r['frame_auroc']):>6} {_fmt(r['frame_ap']):>6} "
            f"{_fmt(r['recall']):>6} {_fmt(r['false_positive_rate']):>6} {events:>7} "
            f"{_fmt(r['false_alarms_per_hour'], 0):>6} {r['fit_s']:>7.1f} {r['score_fps']:>9.1f}"
        )
    clips = sorted({c for r in rows for c in r["per_clip_auroc"]})
    print("\nframe AUROC per test clip with both classes")
    print(f"{'config':24} " + " ".join(f"{c:>8}" for c in clips))
    for r in rows:
        print(f"{r['config']:24} " + " ".join(f"{_fmt(r['per_clip_auroc'][c]):>8}" for c in clips))


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kinds", nargs="+", choices=sorted(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target-fpr", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        rows, info = run(args.kinds, args.seed, args.target_fpr)
    except FileNotFoundError as exc:
        print(f"skipped: {exc}", file=sys.stderr)
        return 1
    print_table(rows)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"info": info, "rows": rows}, handle, indent=2, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
