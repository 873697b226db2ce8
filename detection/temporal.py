"""The interface of kinds that score frames in time order (video).

An image kind scores each frame on its own, so video frames need no change to it. A
temporal kind needs neighbours: it learns from whole clips and scores the frames of one
clip together, one score per frame. Callers (the web app, the CLI) group a video's frames
per clip in time order and call :meth:`TemporalDetector.fit_clips` and
:meth:`TemporalDetector.score_clip`; the plain ``fit`` / ``score`` treat the images given as
one clip, so a temporal kind still works wherever a detector is expected.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np

from detection.base import Detector, ProgressCallback, ScoreResult


class TemporalDetector(Detector):
    """A detector whose scores depend on the frames around each frame."""

    temporal: ClassVar[bool] = True

    @abstractmethod
    def fit_clips(
        self, clips: Sequence[Sequence[np.ndarray]], *, progress: ProgressCallback | None = None
    ) -> Self:
        """Learn normality from clips of normal frames (each in time order, BGR uint8)."""

    @abstractmethod
    def score_clip(self, frames: Sequence[np.ndarray]) -> ScoreResult:
        """One score per frame of one clip, in order; higher = more abnormal."""

    def fit(
        self,
        images: Sequence[np.ndarray],
        *,
        labels: Sequence[str] | None = None,
        progress: ProgressCallback | None = None,
        **_: object,
    ) -> Self:
        return self.fit_clips([images], progress=progress)

    def score(self, images: Sequence[np.ndarray]) -> ScoreResult:
        return self.score_clip(images)
