"""How long one kind takes to fit on N normal photos of a shared set, at its defaults.

Run: ``python -m benchmarks.fit_time [--kind patch_autoencoder] [--set magnetic-tile]
[--n 200] [--threads 2]``. Only ``fit`` is timed (the photos are read first; building the
backbone is part of it, as in a worker's first training), and the load average is printed
beside it: on a shared machine the figure is only as good as the cores it got.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from benchmarks.datasets import ONE_CLASS_SETS, one_class_split
from detection.images import read_image
from detection.registry import create_detector
from detection.weights import use_project_torch_home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", default="patch_autoencoder")
    parser.add_argument("--set", default="magnetic-tile", choices=sorted(ONE_CLASS_SETS))
    parser.add_argument("--n", type=int, default=200, help="normal photos to fit on")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: as is)")
    args = parser.parse_args(argv)
    use_project_torch_home()
    if args.threads:
        torch.set_num_threads(args.threads)
    split = one_class_split(args.set, seed=0)
    paths = (split.train_normal + split.test_normal)[: args.n]
    images = [read_image(p) for p in paths]
    detector = create_detector(args.kind, {"device": "cpu"})
    before = os.getloadavg()[0]
    started = time.perf_counter()
    detector.fit(images)
    seconds = time.perf_counter() - started
    print(
        f"{args.kind} fit on {len(images)} {args.set} photos: {seconds:.1f} s "
        f"({torch.get_num_threads()} torch threads, {os.cpu_count()} cores; load average "
        f"{before:.2f} before, {os.getloadavg()[0]:.2f} after)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
