"""Validation of the video kinds on held-out Ped2 *training* clips with synthetic events.

Run: ``python -m benchmarks.ped2_validation [--config 'motion_energy:{"region": 32}' ...]``.

Parameters of the video kinds are meant to be chosen here, not on the test clips (which
have the only real labels; what was chosen where is listed in benchmarks/README.md).
Protocol: ``--holdout`` of the 11 ``Train*.mp4`` clips (a seeded choice) are held out;
the kind is fitted on the others (``fit_clips``, no calibration needed for AUROC). Each
held-out clip is scored clean (all normal) and in ``--copies`` versions with a synthetic
event (:func:`benchmarks.synthetic_video.paste_moving_patch`: a piece of the clip's moving
content crossing the frame at 0.6-1 % of the frame width per frame, about 1.5-2.5 times a
typical walker on Ped2). Printed: frame AUROC and AP pooled over all those frames.
The synthetic events are motion anomalies only, so a choice made here favours motion cues.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from benchmarks.datasets import ucsd_ped2_split
from benchmarks.synthetic_video import paste_moving_patch
from detection.metrics import evaluate
from detection.registry import create_detector
from detection.video_io import read_clip


def parse_config(text: str) -> tuple[str, dict[str, Any]]:
    """``kind`` or ``kind:{json params}`` -> (kind, params)."""
    kind, _, params = text.partition(":")
    return kind, json.loads(params) if params else {}


def validation_set(
    seed: int, holdout: int, copies: int
) -> tuple[list[list[np.ndarray]], list[tuple[list[np.ndarray], np.ndarray]]]:
    """(training clips, [(held-out clip, labels)]): clean and synthetic versions."""
    paths = ucsd_ped2_split().train
    clips = [read_clip(p) for p in paths]
    order = np.random.default_rng(seed).permutation(len(clips))
    held = sorted(order[:holdout].tolist())
    train = [c for i, c in enumerate(clips) if i not in held]
    rng = np.random.default_rng(seed + 1)
    scored = []
    for i in held:
        scored.append((clips[i], np.zeros(len(clips[i]), np.int64)))
        scored.extend(paste_moving_patch(clips[i], rng) for _ in range(copies))
    return train, scored


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", action="append", help="kind or kind:{json params}; repeatable")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--holdout", type=int, default=4, help="training clips held out")
    parser.add_argument("--copies", type=int, default=2, help="synthetic versions per clip")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    configs = [parse_config(c) for c in args.config or ["motion_energy", "video_autoencoder"]]
    try:
        train, scored = validation_set(args.seed, args.holdout, args.copies)
    except FileNotFoundError as exc:
        print(f"skipped: {exc}", file=sys.stderr)
        return 1
    labels = np.concatenate([y for _, y in scored])
    print(
        f"ped2 validation: fit on {len(train)} training clips; scored {len(scored)} held-out "
        f"clips ({int(labels.sum())} synthetic abnormal, {int((labels == 0).sum())} normal "
        f"frames); seed {args.seed}\n",
        flush=True,
    )
    for kind, params in configs:
        started = time.perf_counter()
        detector = create_detector(kind, params)
        detector.fit_clips(train)  # type: ignore[attr-defined]
        scores = np.concatenate([detector.score_clip(c).scores for c, _ in scored])  # type: ignore[attr-defined]
        metrics = evaluate(scores, labels, float(np.median(scores)))
        history = getattr(detector, "loss_history", [])
        if history:
            print("  loss per epoch: " + " ".join(f"{v:.4f}" for v in history), flush=True)
        print(
            f"{kind} {json.dumps(params)}: AUROC {metrics['auroc']:.3f} "
            f"AP {metrics['average_precision']:.3f} ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
