"""Read videos: probe what a file holds, decode the frames a site samples, read frame truth.

Shared by the web app's extraction worker, the CLI and the benchmarks, so a frame index
means the same thing everywhere: the 0-based index of the frame in decoding order.
OpenCV's FFmpeg build decodes mp4v, H.264, VP8 and VP9 here; a file it opens but cannot
decode a frame from is refused with the codec named, never silently taken as empty.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from detection.base import DetectorError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


class VideoError(DetectorError):
    """A file that is not a video we can decode; the message is meant for the end user."""


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    frame_count: int
    fps: float
    width: int
    height: int
    duration_s: float
    codec: str


def is_video_name(name: str) -> bool:
    return Path(name).suffix.lower() in VIDEO_SUFFIXES


def _fourcc(capture: cv2.VideoCapture) -> str:
    code = int(capture.get(cv2.CAP_PROP_FOURCC))
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return text.strip("\x00 ").strip() or "unknown"


def _open(path: str | Path) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise VideoError("not a video file that can be opened (corrupt, or not a video)")
    return capture


def probe_video(path: str | Path) -> VideoInfo:
    """What the file holds, checked by decoding its first frame.

    The container's frame count is an estimate for some formats (WebM, MKV often say 0 or
    a guess): when it is missing, the frames are counted by grabbing them, which is cheap
    (no colour conversion).
    """
    capture = _open(path)
    try:
        codec = _fourcc(capture)
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        ok, frame = capture.read()
        if not ok or frame is None:
            if width and height:
                raise VideoError(
                    f"no frame could be decoded (codec {codec!r}): the codec is not supported "
                    "or the file is truncated or empty"
                )
            raise VideoError("the video has no frames")
        height, width = frame.shape[:2]
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if count <= 0:
            count = 1
            while capture.grab():
                count += 1
    finally:
        capture.release()
    if not math.isfinite(fps) or fps <= 0 or fps > 1000:
        fps = 25.0  # containers without a rate: the usual camera default, said in the UI
    return VideoInfo(
        frame_count=count,
        fps=fps,
        width=width,
        height=height,
        duration_s=count / fps,
        codec=codec,
    )


def sampled_indices(frame_count: int, fps: float, target_fps: float | None) -> list[int]:
    """Which frames to keep for ``target_fps`` (None or 0: every frame).

    The kept frames are the first frame at or after each tick of the target clock, so the
    sampling is the same on every run (extraction is resumable and idempotent) and never
    above the source rate.
    """
    if frame_count <= 0:
        return []
    if not target_fps or target_fps <= 0 or target_fps >= fps:
        return list(range(frame_count))
    step = fps / target_fps
    kept: list[int] = []
    tick = 0.0
    while True:
        index = math.ceil(tick - 1e-9)
        if index >= frame_count:
            break
        if not kept or index != kept[-1]:
            kept.append(index)
        tick += step
    return kept


def iter_frames(
    path: str | Path, *, target_fps: float | None = None, start: int = 0
) -> Iterator[tuple[int, float, np.ndarray]]:
    """(frame index, timestamp in s, BGR frame) of the sampled frames from ``start`` on.

    Frames that are skipped are only grabbed, not decoded to pixels, which keeps extraction
    at a low target fps much faster than decoding everything. Raises VideoError when the
    file stops decoding before the frame count it announced (a truncated file): the frames
    yielded until then are valid.
    """
    info = probe_video(path)
    wanted = [i for i in sampled_indices(info.frame_count, info.fps, target_fps) if i >= start]
    if not wanted:
        return
    capture = _open(path)
    try:
        position = 0
        for index in wanted:
            while position < index:
                if not capture.grab():
                    raise VideoError(f"the video ends at frame {position}, before frame {index}")
                position += 1
            ok, frame = capture.read()
            if not ok or frame is None:
                raise VideoError(f"frame {index} could not be decoded: the file may be truncated")
            position += 1
            yield index, index / info.fps, frame
    finally:
        capture.release()


def read_clip(path: str | Path, *, target_fps: float | None = None) -> list[np.ndarray]:
    """Every sampled frame of a clip, in order (for the CLI and benchmarks)."""
    return [frame for _, _, frame in iter_frames(path, target_fps=target_fps)]


def read_frame_truth(text: str) -> dict[int, int]:
    """Frame labels from CSV (``frame_index,label``) or JSON; label 1 = abnormal, 0 = normal.

    JSON may be ``{"0": 0, "1": 1}``, ``[{"frame_index": 0, "label": 1}]`` or
    ``[[0, 1], ...]``. Raises VideoError with the offending row on anything else.
    """
    text = text.strip().lstrip("\ufeff")
    if not text:
        raise VideoError("frame labels are empty")
    rows: list[tuple[object, object]]
    if text[0] in "[{":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise VideoError(f"frame labels are not valid JSON: {exc}") from None
        if isinstance(data, dict):
            rows = list(data.items())
        elif isinstance(data, list):
            rows = []
            for item in data:
                if isinstance(item, dict) and {"frame_index", "label"} <= set(item):
                    rows.append((item["frame_index"], item["label"]))
                elif isinstance(item, list | tuple) and len(item) == 2:
                    rows.append((item[0], item[1]))
                else:
                    raise VideoError(f"frame label entry {item!r} is not [frame_index, label]")
        else:
            raise VideoError("frame labels must be a JSON object or list")
    else:
        reader = csv.reader(io.StringIO(text))
        header = [cell.strip().lower() for cell in next(reader)]
        if header != ["frame_index", "label"]:
            raise VideoError("frame labels CSV must start with the header 'frame_index,label'")
        rows = []
        for line, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != 2:
                raise VideoError(f"line {line} of the frame labels has {len(row)} columns, not 2")
            rows.append((row[0].strip(), row[1].strip()))
    truth: dict[int, int] = {}
    for raw_index, raw_label in rows:
        try:
            index, label = int(str(raw_index)), int(str(raw_label))
        except ValueError:
            raise VideoError(
                f"frame label {raw_index!r},{raw_label!r} is not two integers"
            ) from None
        if index < 0:
            raise VideoError(f"frame index {index} is negative")
        if label not in (0, 1):
            raise VideoError(f"label of frame {index} is {label}; use 1 (abnormal) or 0 (normal)")
        truth[index] = label
    return truth
