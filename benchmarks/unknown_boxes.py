"""Which boxes of the unknown-region map a reviewer should see, on NEU-DET's real defects.

Run: ``python -m benchmarks.unknown_boxes [--classes scratches patches] [--fit 150]
[--test 40]``.

``ssd_openset`` with ``unknown_regions`` boxes what stands out in a ``deep_knn`` patch-
distance map of the known classes (:mod:`detection.components.open_regions`). The map does
not depend on the detector, so this compares ways of cutting it into boxes without training
one. For each left-out class U (the seeded split of :mod:`benchmarks.neu_det`): the memory is
fitted on ``--fit`` training images of the other classes that hold no U box, its scale is
set from their out-of-fold map peaks exactly as ``ssd_openset`` sets it, and the maps of up
to ``--test`` test images holding a U box are cut by each rule. Boxes whose peak is above
the scale's 1 (the 95th percentile of the training photos' peaks) count as shown. Printed
per rule: the share of U boxes that a shown box overlaps at IoU >= 0.3 and >= 0.5, the mean
best IoU, and shown boxes per photo (what a reviewer reads).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

import numpy as np

from benchmarks.neu_det import NEU_DET, image_class, neu_det_split
from detection.components.open_regions import region_boxes
from detection.detectors.deep_knn import DeepKnnDetector
from detection.images import read_image
from detection.objects import iou
from detection.training import fold_indices
from detection.weights import use_project_torch_home

Boxes = list[tuple[tuple[float, float, float, float], float]]


def nested_levels(
    grid: np.ndarray,
    absolute: Sequence[float] = (0.0, 0.5, 1.0, 1.5),
    relative: Sequence[float] = (0.5, 0.7, 0.85),
) -> Boxes:
    """The former rule (until 2026-12-03): every component at seven cuts, nested boxes kept."""
    import cv2
    from scipy import ndimage

    peak = float(grid.max())
    levels = sorted({*absolute, *(share * peak for share in relative if peak > 0)})
    found: dict[tuple[float, float, float, float], float] = {}
    for level in levels:
        count, labels, stats, _ = cv2.connectedComponentsWithStats(
            (grid >= level).astype(np.uint8), connectivity=8
        )
        peaks = ndimage.maximum(grid, labels, index=np.arange(1, count))
        for index in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[index])
            if area >= 4:
                box = (float(x), float(y), float(x + w), float(y + h))
                found[box] = max(found.get(box, -np.inf), float(peaks[index - 1]))
    return list(found.items())


RULES: dict[str, Callable[[np.ndarray], Boxes]] = {
    "nested levels (former)": nested_levels,
    "half maximum per hump (now)": region_boxes,
    "0.3 of the way per hump": lambda grid: region_boxes(grid, share=0.3),
    "0.7 of the way per hump": lambda grid: region_boxes(grid, share=0.7),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--classes", nargs="+", default=["scratches", "patches"])
    parser.add_argument("--fit", type=int, default=150, help="training images of known classes")
    parser.add_argument("--test", type=int, default=40, help="test images holding the unknown")
    args = parser.parse_args(argv)
    use_project_torch_home()
    _, boxes, train, test = neu_det_split(seed=0)
    print(
        f"{'left out':12s} {'rule':30s} {'recall@.3':>9s} {'recall@.5':>9s} "
        f"{'mean IoU':>8s} {'boxes/img':>9s}"
    )
    for unknown in args.classes:
        started = time.perf_counter()
        known = [
            f
            for f in train
            if image_class(f) != unknown and all(b.label != unknown for b in boxes[f])
        ]
        fit = known[:: max(1, len(known) // args.fit)][: args.fit]  # every class, evenly
        held = [f for f in test if any(b.label == unknown for b in boxes[f])][: args.test]
        memory = DeepKnnDetector({"device": "cpu", "seed": 0})
        images = [read_image(NEU_DET / "images" / f) for f in fit]
        done = memory.fit_out_of_fold(
            images, fold_indices(len(images), 5, 0), on_heatmap=lambda h: np.float32(h.max())
        )
        assert done is not None and done[1] is not None
        median, high = np.percentile([float(p) for p in done[1]], [50, 95])
        maps = memory.score([read_image(NEU_DET / "images" / f) for f in held]).heatmaps or []
        scaled = [(h - median) / max(high - median, 0.01) for h in maps]
        for name, rule in RULES.items():
            best, shown = [], 0
            for file, grid in zip(held, scaled, strict=True):
                cut = [box for box, peak in rule(grid) if peak > 1.0]
                shown += len(cut)
                for truth in boxes[file]:
                    if truth.label == unknown:
                        xyxy = (truth.x, truth.y, truth.x + truth.w, truth.y + truth.h)
                        best.append(max((iou(box, xyxy) for box in cut), default=0.0))
            found = np.array(best)
            print(
                f"{unknown:12s} {name:30s} {np.mean(found >= 0.3):9.3f} "
                f"{np.mean(found >= 0.5):9.3f} {found.mean():8.3f} {shown / len(held):9.1f}"
            )
        print(
            f"{unknown:12s} ({len(fit)} training and {len(held)} test images, "
            f"{len(best)} unknown boxes; {time.perf_counter() - started:.0f} s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
