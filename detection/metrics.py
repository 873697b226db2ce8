"""Evaluation of scores against known labels (1 = anomalous), image- and pixel-level."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def evaluate(
    scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray, threshold: float
) -> dict[str, Any]:
    """Threshold-free ranking quality (AUROC, AP) and the confusion counts at ``threshold``.

    AUROC and AP need both classes; they are ``None`` when only one is present.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=int)
    predicted = scores > threshold
    positive = labels == 1
    tp = int(np.sum(predicted & positive))
    fp = int(np.sum(predicted & ~positive))
    fn = int(np.sum(~predicted & positive))
    tn = int(np.sum(~predicted & ~positive))
    both = bool(positive.any() and (~positive).any())
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall > 0
        else (0.0 if precision is not None or recall is not None else None)
    )
    return {
        "auroc": float(roc_auc_score(labels, scores)) if both else None,
        "average_precision": float(average_precision_score(labels, scores)) if both else None,
        "threshold": float(threshold),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "false_positive_rate": fp / (fp + tn) if fp + tn else None,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "n_normal": int(np.sum(~positive)),
        "n_anomalous": int(np.sum(positive)),
    }


def pixel_auroc(
    heatmaps: Sequence[np.ndarray], masks: Sequence[np.ndarray], *, max_side: int | None = None
) -> float | None:
    """AUROC over all pixels of all images (masks: non-zero = defect); None if one class.

    ``max_side`` first shrinks each heatmap and mask pair to at most that many pixels on the
    long side, which keeps the pixel count tractable and changes the figure little.
    """
    if not heatmaps:
        return None
    if max_side is not None:
        pairs = [_shrunk(h, m, max_side) for h, m in zip(heatmaps, masks, strict=True)]
        heatmaps, masks = [h for h, _ in pairs], [m for _, m in pairs]
    values = np.concatenate([np.asarray(h, dtype=np.float32).ravel() for h in heatmaps])
    truth = np.concatenate([(np.asarray(m) > 0).ravel() for m in masks])
    if values.shape != truth.shape:
        raise ValueError("heatmaps and masks must have the same shapes")
    if truth.all() or not truth.any():
        return None
    return float(roc_auc_score(truth, values))


def shrink(array: np.ndarray, max_side: int, *, nearest: bool = False) -> np.ndarray:
    """``array`` resized so its long side is at most ``max_side`` (area mean; nearest for masks)."""
    import cv2

    height, width = array.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return array
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(array, size, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)


def shrink_mask(mask: np.ndarray, max_side: int) -> np.ndarray:
    """A mask as 0/1 ``uint8``, shrunk like its heatmap (nearest, so it stays binary)."""
    return shrink((np.asarray(mask) > 0).astype(np.uint8), max_side, nearest=True)


def _shrunk(heatmap: np.ndarray, mask: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    return shrink(np.asarray(heatmap, np.float32), max_side), shrink_mask(mask, max_side)
