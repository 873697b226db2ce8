"""Evaluation of per-frame video scores: frame ranking, events found, false alarms per hour.

A camera operator judges a video detector by three things: does the score rank abnormal
frames above normal ones (frame AUROC / AP, the figure papers report), does every real
event raise at least one flag (event recall), and how often is someone called for nothing
(false alarms per hour of normal video). Events and flags are segments
(:mod:`detection.segments`): a true event is a maximal run of frames labelled 1; it is found
when a flagged segment overlaps it; a false alarm is a flagged segment lying entirely on
frames labelled 0. Frames without truth are labelled -1 and left out of everything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from detection.metrics import evaluate
from detection.segments import Segment, find_segments

#: Label of a frame whose truth is unknown.
UNKNOWN = -1


def labels_from_truth(truth: Mapping[int, int] | None, n_frames: int, default: int) -> np.ndarray:
    """Per-frame labels (0, 1, or -1 = unknown) from ``{frame index: label}``.

    ``default`` labels the frames the truth does not mention (e.g. 1 for a clip known to be
    abnormal throughout, -1 when nothing is known).
    """
    labels = np.full(n_frames, default, dtype=np.int64)
    for index, label in (truth or {}).items():
        if 0 <= index < n_frames:
            labels[index] = label
    return labels


def true_events(labels: Sequence[int] | np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of frames labelled 1, as (start, end) with ``end`` inclusive."""
    values = np.asarray(labels)
    events: list[tuple[int, int]] = []
    start = None
    for position, value in enumerate(values):
        if value == 1 and start is None:
            start = position
        elif value != 1 and start is not None:
            events.append((start, position - 1))
            start = None
    if start is not None:
        events.append((start, len(values) - 1))
    return events


def events_found(labels: Sequence[int] | np.ndarray, segments: Sequence[Segment]) -> int:
    """How many true events at least one flagged segment overlaps."""
    return sum(
        any(segment.start <= end and segment.end >= start for segment in segments)
        for start, end in true_events(labels)
    )


def false_alarms(labels: Sequence[int] | np.ndarray, segments: Sequence[Segment]) -> int:
    """Flagged segments that lie entirely on frames known to be normal (label 0)."""
    values = np.asarray(labels)
    return sum(bool((values[s.start : s.end + 1] == 0).all()) for s in segments)


def video_metrics(
    clips: Sequence[tuple[np.ndarray, np.ndarray]],
    threshold: float,
    *,
    fps: float | None = None,
    min_length: int = 1,
    max_gap: int = 0,
) -> dict[str, Any]:
    """Frame-level and event-level metrics over clips of (per-frame scores, labels).

    Segments are found per clip (an event never spans two clips) with the product's
    ``min_length`` / ``max_gap``. Keys: ``frame_auroc``, ``frame_ap`` (None with one class),
    the confusion counts at ``threshold`` of :func:`detection.metrics.evaluate` under their
    usual names, ``n_events``, ``events_found``, ``event_recall`` (None without events),
    ``false_alarms``, ``normal_hours`` and ``false_alarms_per_hour`` (None without ``fps``
    or normal frames).
    """
    all_scores, all_labels = [], []
    n_events = found = alarms = normal_frames = 0
    for scores, labels in clips:
        scores = np.asarray(scores, np.float64)
        labels = np.asarray(labels, np.int64)
        if scores.shape != labels.shape:
            raise ValueError(f"{scores.size} scores for {labels.size} frame labels")
        segments = find_segments(scores, threshold, min_length=min_length, max_gap=max_gap)
        n_events += len(true_events(labels))
        found += events_found(labels, segments)
        alarms += false_alarms(labels, segments)
        normal_frames += int((labels == 0).sum())
        known = labels != UNKNOWN
        all_scores.append(scores[known])
        all_labels.append(labels[known])
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
    labels = np.concatenate(all_labels) if all_labels else np.zeros(0, np.int64)
    metrics = evaluate(scores, labels, threshold)
    hours = normal_frames / fps / 3600 if fps else None
    metrics.update(
        frame_auroc=metrics["auroc"],
        frame_ap=metrics["average_precision"],
        n_events=n_events,
        events_found=found,
        event_recall=found / n_events if n_events else None,
        false_alarms=alarms,
        normal_hours=hours,
        false_alarms_per_hour=alarms / hours if hours else None,
    )
    return metrics
