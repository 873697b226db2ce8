"""Evaluation plots of a detector version, as PNG bytes (matplotlib, no display needed).

Inputs are raw scores of held-out normal images and of confirmed anomalies, so the same
plots serve the web app's version page and anyone using the library directly.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # workers and web servers have no display

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

PLOTS = ("histogram", "roc", "pr")
_NORMAL, _ANOMALY = "#2b7a3d", "#c0392b"


def _figure(width: float, height: float) -> tuple[Figure, Any]:
    """A figure of its own (not pyplot's global state, which web server threads share)."""
    figure = Figure(figsize=(width, height))
    return figure, figure.subplots()


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _labelled(normal: Sequence[float], anomalous: Sequence[float]) -> tuple[np.ndarray, ...]:
    scores = np.concatenate([np.asarray(normal, float), np.asarray(anomalous, float)])
    labels = np.concatenate([np.zeros(len(normal)), np.ones(len(anomalous))])
    return scores, labels


def score_histogram_png(
    normal: Sequence[float], anomalous: Sequence[float], threshold: float | None
) -> bytes:
    """Score distributions of normal vs anomalous images, with the threshold."""
    figure, axes = _figure(6, 3.4)
    values = [v for v in (*normal, *anomalous)]
    bins = np.histogram_bin_edges(values or [0.0, 1.0], bins=30)
    if len(normal):
        axes.hist(normal, bins=bins, alpha=0.6, color=_NORMAL, label=f"normal ({len(normal)})")
    if len(anomalous):
        axes.hist(
            anomalous, bins=bins, alpha=0.6, color=_ANOMALY, label=f"anomaly ({len(anomalous)})"
        )
    if threshold is not None:
        axes.axvline(threshold, color="black", linestyle="--", label="threshold")
    axes.set_xlabel("score (higher = more abnormal)")
    axes.set_ylabel("images")
    axes.legend(frameon=False)
    return _png(figure)


def roc_png(normal: Sequence[float], anomalous: Sequence[float]) -> bytes:
    """ROC curve; needs both classes."""
    scores, labels = _labelled(normal, anomalous)
    fpr, tpr, _ = roc_curve(labels, scores)
    figure, axes = _figure(4, 4)
    axes.plot(fpr, tpr, color=_ANOMALY)
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":")
    axes.set_xlabel("false-positive rate")
    axes.set_ylabel("true-positive rate")
    axes.set_title("ROC")
    return _png(figure)


def precision_recall_png(normal: Sequence[float], anomalous: Sequence[float]) -> bytes:
    """Precision-recall curve; needs both classes."""
    scores, labels = _labelled(normal, anomalous)
    precision, recall, _ = precision_recall_curve(labels, scores)
    figure, axes = _figure(4, 4)
    axes.plot(recall, precision, color=_ANOMALY)
    axes.axhline(labels.mean(), color="grey", linestyle=":")
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_ylim(0, 1.02)
    axes.set_title("Precision-recall")
    return _png(figure)


def heatmap_png(heatmap: np.ndarray, scale: float) -> bytes:
    """A heatmap as a transparent colour overlay (RGBA PNG) at the heatmap's resolution.

    ``scale`` maps values to colour: value/scale is clipped to [0, 1], so with the version's
    threshold times two as the scale, the same colour means the same thing on every image.
    Opacity follows the value, so normal regions stay see-through.
    """
    import cv2

    level = np.clip(np.asarray(heatmap, dtype=np.float32) / max(float(scale), 1e-12), 0, 1)
    colours = cv2.applyColorMap((level * 255).astype(np.uint8), cv2.COLORMAP_JET)  # BGR
    alpha = (np.sqrt(level) * 200).astype(np.uint8)
    ok, encoded = cv2.imencode(".png", np.dstack([colours, alpha]))
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 BGRA
        raise ValueError("could not encode heatmap")
    return encoded.tobytes()
