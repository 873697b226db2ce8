"""Frame extraction through the product, against the bare decode rate of the same clips.

Run: ``python -m benchmarks.video_extraction [--sample-fps 0 5] [--clips N]``.

What a camera site waits for after an upload: the worker's job
(:func:`webapp.assets.video_services.extract_video`) copies the video out of storage, decodes
it, JPEG-encodes every kept frame into media storage with its database row, and writes the
WebM preview. This runs that exact function, in this process, on the UCSD Ped2 training
clips (360x240, 10 fps), on the embedded default (SQLite, local media) in a temporary
folder, once per sampling setting (``0`` = every frame; the default site keeps 5 per
second). Printed per setting: the job's wall-clock and CPU seconds (all threads: the
preview is encoded on a second one), source frames per second (decoded frames / job time:
what the issue's ">= 300 frames/s on 360x240" aim is about) and kept frames stored per
second; beside it the bare OpenCV decode rate of the same files
(:func:`detection.video_io.read_clip`), measured in the same run.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _setup_django(var_dir: Path) -> None:
    os.environ["ANOMALY_VAR_DIR"] = str(var_dir)
    os.environ["CELERY_BROKER_URL"] = f"sqla+sqlite:///{var_dir / 'broker.sqlite3'}"
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("MEDIA_STORAGE", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def run(paths: list[Path], sample_fps: list[float]) -> list[dict[str, Any]]:
    from django.contrib.auth import get_user_model

    from detection.video_io import read_clip
    from webapp.assets import video_services
    from webapp.assets.models import Asset, Video
    from webapp.assets.services import IncomingFile, create_upload
    from webapp.sites.models import Site

    started = time.perf_counter()
    decoded = sum(len(read_clip(path)) for path in paths)
    decode_fps = decoded / (time.perf_counter() - started)
    user = get_user_model().objects.create_user("bench", password="bench-extraction")
    rows = []
    for fps in sample_fps:
        site = Site.objects.create(slug=f"camera-{len(rows)}", name="camera", video_sample_fps=fps)
        result = create_upload(
            site=site,
            user=user,
            purpose="train",
            files=[IncomingFile(name=p.name, handle=io.BytesIO(p.read_bytes())) for p in paths],
        )
        videos = [asset.video for asset in result.assets]
        source_frames = sum(video.frame_count for video in videos)
        started, cpu = time.perf_counter(), time.process_time()
        for video in videos:
            video_services.extract_video(video_id=video.pk)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        failed = Video.objects.filter(pk__in=[v.pk for v in videos]).exclude(status="succeeded")
        if failed.exists():
            raise SystemExit(f"extraction failed: {list(failed.values_list('error', flat=True))}")
        kept = Asset.objects.filter(source_video__site=site).count()
        rows.append(
            {
                "sample_fps": fps,
                "clips": len(videos),
                "source_frames": source_frames,
                "kept_frames": kept,
                "seconds": seconds,
                "source_fps": source_frames / seconds,
                "kept_fps": kept / seconds,
                "cpu_s": cpu,
                "decode_fps": decode_fps,
            }
        )
        print(f"sample fps {fps}: {source_frames / seconds:.0f} frames/s", file=sys.stderr)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'keep':>10} {'clips':>5} {'source':>7} {'kept':>6} {'job s':>7} "
        f"{'cpu s':>6} {'source f/s':>10} {'kept f/s':>9} {'decode f/s':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        keep = "every" if not r["sample_fps"] else f"{r['sample_fps']:g}/s"
        print(
            f"{keep:>10} {r['clips']:>5} {r['source_frames']:>7} {r['kept_frames']:>6} "
            f"{r['seconds']:>7.1f} {r['cpu_s']:>6.1f} {r['source_fps']:>10.0f} "
            f"{r['kept_fps']:>9.0f} {r['decode_fps']:>10.0f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample-fps", type=float, nargs="+", default=[0.0, 5.0])
    parser.add_argument("--clips", type=int, default=0, help="first N training clips (0 = all)")
    args = parser.parse_args(argv)
    from benchmarks.datasets import ucsd_ped2_split

    paths = ucsd_ped2_split().train
    if args.clips:
        paths = paths[: args.clips]
    with tempfile.TemporaryDirectory(prefix="bench-extraction-") as tmp:
        _setup_django(Path(tmp))
        rows = run(paths, args.sample_fps)
    print(
        f"ucsd-ped2 training clips, 360x240 at 10 fps; the product's extraction job on SQLite "
        f"and local media; {os.cpu_count()} CPUs\n"
    )
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
