"""Pure ML library: novelty detectors for images and video, with no Django dependency.

Every detector kind implements :class:`detection.base.Detector` (``fit``, ``score``, ``save``,
``load``) and registers itself in :mod:`detection.registry`, so the web app, the Celery workers,
the command line (``python -m detection``) and notebooks all use the same code.
"""

from detection.base import Detector, DetectorError, ParamsError, ScoreResult
from detection.registry import available_kinds, create_detector, load_detector

__all__ = [
    "Detector",
    "DetectorError",
    "ParamsError",
    "ScoreResult",
    "available_kinds",
    "create_detector",
    "load_detector",
]
