"""Frame AUROC / AP / event recall of the video kinds on a real clip without shipped truth.

Run: ``make bench-real-clips`` or ``python -m benchmarks.real_clips [--kinds ...]``.

Data: ``../shared/datasets/videos/one-by-one-person-detection.mp4`` (Intel IoT devkit sample,
CC BY 4.0; 1394 frames, 10 fps, 768x432): an empty room with a table, people walk in one at a
time, some stand still for a while, and leave. Empty room = normal, a person in view = the
event. No frame truth is shipped, so it is derived here by a stated rule (:func:`derive_truth`):

* the *background* is the per-pixel median of the first ``BACKGROUND_FRAMES`` frames
  (greyscale at ``TRUTH_WIDTH`` px wide), when the room is empty;
* a pixel is *foreground* when it differs from the background by more than ``PIXEL_DIFF``
  grey levels (of 255); a frame is abnormal (1) when its foreground covers more than
  ``AREA_SHARE`` of the frame.

The camera is still and the room lit evenly; the run prints the largest share on a frame
called empty and the smallest on one called abnormal (0.0028 and 0.0051 when measured).
``--spot-check DIR`` writes PNGs of the frames 2 before and 2 after each change of label
with their foreground mask, to check the rule by eye. Checked so: people entering and
leaving are labelled as such; the last frames of some visits (e.g. 872, 1364) show only the
person's shadow at the right edge and count as abnormal, and so does the very last frame
(1393, a one-frame event).

Protocol: the frames before the first abnormal one, less ``MARGIN`` frames (someone about to
enter), are the site's normal training video, fitted and calibrated as the product does
(:func:`detection.training.fit_and_calibrate_clips`, one clip: a held-out block, threshold at
1 % false positives). Every later frame is scored as one clip and compared with the derived
truth. Frames are decoded at half size (384x216), which is more than either kind uses.
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

from benchmarks.datasets import DATASETS
from detection.training import fit_and_calibrate_clips
from detection.video_io import iter_frames, probe_video
from detection.video_metrics import true_events, video_metrics
from detection.weights import use_project_torch_home

PERSON_CLIP = DATASETS / "videos" / "one-by-one-person-detection.mp4"
#: Frames are decoded and halved to this size (width, height) before anything else.
DECODE_SIZE = (384, 216)
#: The truth rule (module docstring).
TRUTH_WIDTH = 192
BACKGROUND_FRAMES = 40
PIXEL_DIFF = 25.0
AREA_SHARE = 0.005
#: Frames before the first abnormal one left out of the training stretch.
MARGIN = 5
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "video_autoencoder": ("video_autoencoder", {}),
    "motion_energy": ("motion_energy", {}),
}
#: Event segments as at 10 fps in ucsd_ped2: at least 0.3 s, gaps up to 0.5 s bridged.
MIN_LENGTH = 3
MAX_GAP = 5


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def read_small(path: Path) -> list[np.ndarray]:
    """Every frame of ``path`` as BGR uint8 at :data:`DECODE_SIZE`."""
    return [
        cv2.resize(frame, DECODE_SIZE, interpolation=cv2.INTER_AREA)
        for _, _, frame in iter_frames(path)
    ]


def foreground_share(frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(share of foreground pixels per frame, the (N, h, w) foreground masks) by the rule."""
    height = round(TRUTH_WIDTH * frames[0].shape[0] / frames[0].shape[1])
    size = (TRUTH_WIDTH, height)
    grey = np.stack(
        [
            cv2.resize(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), size, interpolation=cv2.INTER_AREA)
            for f in frames
        ]
    ).astype(np.float32)
    background = np.median(grey[:BACKGROUND_FRAMES], axis=0)
    masks = np.abs(grey - background) > PIXEL_DIFF
    return masks.mean(axis=(1, 2)), masks


def derive_truth(frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(labels, foreground share) per frame: 1 = a person in view, by the stated rule."""
    share, _ = foreground_share(frames)
    return (share > AREA_SHARE).astype(np.int64), share


def spot_check(frames: list[np.ndarray], labels: np.ndarray, folder: Path) -> list[Path]:
    """PNGs of the frames 2 before and 2 after each change of label, frame | mask side by side."""
    _, masks = foreground_share(frames)
    folder.mkdir(parents=True, exist_ok=True)
    changes = np.flatnonzero(np.diff(labels)) + 1
    written = []
    for index in sorted({i for c in changes for i in (c - 2, c + 2) if 0 <= i < len(frames)}):
        small = cv2.resize(frames[index], (TRUTH_WIDTH * 2, masks.shape[1] * 2))
        mask = cv2.resize(masks[index].astype(np.uint8) * 255, small.shape[1::-1])
        picture = np.concatenate([small, cv2.cvtColor(mask, cv2.COLOR_GRAY2BGR)], axis=1)
        text = f"frame {index} label {labels[index]}"
        cv2.putText(picture, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 1)
        path = folder / f"frame{index:04d}_label{labels[index]}.png"
        cv2.imwrite(str(path), picture)
        written.append(path)
    return written


def run(names: list[str], seed: int, target_fpr: float, spot: Path | None) -> list[dict]:
    use_project_torch_home()
    if not PERSON_CLIP.is_file():
        raise FileNotFoundError(f"real clip not found at {PERSON_CLIP}")
    fps = probe_video(PERSON_CLIP).fps
    frames = read_small(PERSON_CLIP)
    labels, share = derive_truth(frames)
    first = int(np.argmax(labels == 1))
    stop = first - MARGIN
    if stop < 2 * BACKGROUND_FRAMES // 2:
        raise ValueError(f"only {stop} normal frames before the first person")
    train, test, truth = frames[:stop], frames[stop:], labels[stop:]
    print(
        f"{PERSON_CLIP.name}: {len(frames)} frames at {fps:g} fps; truth: foreground share > "
        f"{AREA_SHARE} ({PIXEL_DIFF:g} grey levels from the median of the first "
        f"{BACKGROUND_FRAMES} frames); largest share on a normal frame "
        f"{share[labels == 0].max():.4f}, smallest on an abnormal one "
        f"{share[labels == 1].min():.4f}\n"
        f"train frames 0-{stop - 1} (normal); test frames {stop}-{len(frames) - 1}: "
        f"{int((truth == 1).sum())} abnormal, {int((truth == 0).sum())} normal, "
        f"{len(true_events(truth))} events; seed {seed}; target FPR {target_fpr}\n",
        flush=True,
    )
    if spot is not None:
        written = spot_check(frames, labels, spot)
        print(f"spot-check PNGs: {len(written)} in {spot}\n", flush=True)
    rows = []
    for name in names:
        kind, params = CONFIGS[name]
        started = time.perf_counter()
        outcome = fit_and_calibrate_clips(
            kind, params, [train], target_fpr=target_fpr, seed=seed, fps=fps
        )
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        scores = outcome.detector.score_clip(test).scores  # type: ignore[attr-defined]
        score_seconds = time.perf_counter() - started
        metrics = video_metrics(
            [(np.asarray(scores), truth)],
            outcome.threshold,
            fps=fps,
            min_length=MIN_LENGTH,
            max_gap=MAX_GAP,
        )
        rows.append(
            {
                "config": name,
                "kind": kind,
                "params": outcome.detector.params.to_dict(),
                **metrics,
                "threshold": outcome.threshold,
                "fit_s": fit_seconds,
                "score_fps": len(test) / score_seconds,
            }
        )
        print(f"{name}: frame AUROC {_fmt(metrics['frame_auroc'])}", file=sys.stderr, flush=True)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'config':18} {'AUROC':>6} {'AP':>6} {'recall':>6} {'FPR':>6} {'events':>7} "
        f"{'FA/h':>6} {'fit s':>7} {'score f/s':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        events = f"{r['events_found']}/{r['n_events']}"
        print(
            f"{r['config']:18} {_fmt(r['frame_auroc']):>6} {_fmt(r['frame_ap']):>6} "
            f"{_fmt(r['recall']):>6} {_fmt(r['false_positive_rate']):>6} {events:>7} "
            f"{_fmt(r['false_alarms_per_hour'], 0):>6} {r['fit_s']:>7.1f} {r['score_fps']:>9.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kinds", nargs="+", choices=sorted(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target-fpr", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--spot-check", type=Path, help="write truth spot-check PNGs here")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        rows = run(args.kinds, args.seed, args.target_fpr, args.spot_check)
    except FileNotFoundError as exc:
        print(f"skipped: {exc}", file=sys.stderr)
        return 1
    print_table(rows)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
