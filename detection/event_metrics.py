"""Video metrics: frame-level ranking, events found, false alarms per hour of normal video.

A camera operator judges a video detector by events, not frames: was each true event
flagged at least once (event recall, where a flagged segment overlapping the event counts),
and how often does it cry wolf (flagged segments that overlap no true event, per hour of
normal video). Frame-level AUROC and AP over all frames with truth complete the picture.
Positions are indices into each clip's score sequence (its kept frames, in time order).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from detection.metrics import evaluate
from detection.segments import Segment, find_segments


@dataclasses.dataclass(frozen=True)
class ClipResult:
    """One clip's frame scores and truth (1 abnormal, 0 normal, None unknown)."""

    scores: Sequence[float]
    labels: Sequence[int | None]
    seconds_per_frame: float


def true_events(labels: Sequence[int | None]) -> list[tuple[int, int]]:
    """Runs of abnormal frames, ``(start, end)`` inclusive."""
    events: list[tuple[int, int]] = []
    for position, label in enumerate(labels):
        if label == 1:
            if events and events[-1][1] == position - 1:
                events[-1] = (events[-1][0], position)
            else:
                events.append((position, position))
    return events


def _overlaps(segment: Segment, event: tuple[int, int]) -> bool:
    return segment.start <= event[1] and event[0] <= segment.end


def video_metrics(
    clips: Sequence[ClipResult], threshold: float, *, min_length: int = 1, max_gap: int = 0
) -> dict[str, float | int | None]:
    """Frame AUROC/AP, event recall and false alarms per hour over ``clips``.

    ``event_recall`` is None without any true event; ``false_alarms_per_hour`` is None
    without any normal frame. A false alarm is a flagged segment that overlaps no true
    event and lies on frames whose truth is known.
    """
    all_scores: list[float] = []
    all_labels: list[int] = []
    n_events = found = false_alarms = 0
    normal_seconds = 0.0
    for clip in clips:
        if len(clip.scores) != len(clip.labels):
            raise ValueError("a clip needs one label (or None) per score")
        for score, label in zip(clip.scores, clip.labels, strict=True):
            if label is not None:
                all_scores.append(float(score))
                all_labels.append(int(label))
        normal_seconds += sum(label == 0 for label in clip.labels) * clip.seconds_per_frame
        events = true_events(clip.labels)
        segments = find_segments(clip.scores, threshold, min_length=min_length, max_gap=max_gap)
        n_events += len(events)
        found += sum(any(_overlaps(s, e) for s in segments) for e in events)
        for segment in segments:
            known = [clip.labels[i] for i in range(segment.start, segment.end + 1)]
            if all(label is None for label in known):
                continue
            if not any(_overlaps(segment, event) for event in events):
                false_alarms += 1
    frame = evaluate(np.asarray(all_scores), np.asarray(all_labels, dtype=int), threshold)
    return {
        "frame_auroc": frame["auroc"] if all_labels else None,
        "frame_average_precision": frame["average_precision"] if all_labels else None,
        "n_frames_with_truth": len(all_labels),
        "n_events": n_events,
        "events_found": found,
        "event_recall": found / n_events if n_events else None,
        "false_alarms": false_alarms,
        "normal_hours": normal_seconds / 3600,
        "false_alarms_per_hour": false_alarms / (normal_seconds / 3600) if normal_seconds else None,
    }
