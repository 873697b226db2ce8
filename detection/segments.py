"""Event segments: runs of frames above the threshold, the unit a video reviewer decides on.

A camera operator wants one flag per event (a cart crossing the walkway), not one per
frame; a single frame dipping under the threshold must not split an event in two, and a
one-frame blip is usually noise. Hence ``max_gap`` (frames below threshold bridged inside a
segment) and ``min_length`` (shorter segments dropped).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Segment:
    """Positions in the score sequence; ``end`` is inclusive."""

    start: int
    end: int
    peak: int
    peak_score: float

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def find_segments(
    scores: Sequence[float] | np.ndarray,
    threshold: float,
    *,
    min_length: int = 1,
    max_gap: int = 0,
) -> list[Segment]:
    """Segments of consecutive scores above ``threshold``.

    Runs separated by at most ``max_gap`` positions below threshold are merged (the gap
    becomes part of the segment); runs shorter than ``min_length`` after merging are
    dropped. The peak is the highest score inside the segment (first one on ties).
    """
    if min_length < 1:
        raise ValueError("min_length must be at least 1")
    if max_gap < 0:
        raise ValueError("max_gap must be 0 or more")
    values = np.asarray(scores, dtype=np.float64)
    above = np.flatnonzero(values > threshold)
    if above.size == 0:
        return []
    runs: list[list[int]] = [[int(above[0]), int(above[0])]]
    for position in above[1:]:
        position = int(position)
        if position - runs[-1][1] - 1 <= max_gap:
            runs[-1][1] = position
        else:
            runs.append([position, position])
    segments = []
    for start, end in runs:
        if end - start + 1 < min_length:
            continue
        peak = start + int(np.argmax(values[start : end + 1]))
        segments.append(Segment(start=start, end=end, peak=peak, peak_score=float(values[peak])))
    return segments
