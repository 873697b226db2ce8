"""Metrics of an object kind: known-class mAP and how it handles objects of unknown classes.

* ``map_50``, ``map_50_95``: COCO mAP of the known classes (pycocotools, via
  :func:`detection.coco.coco_map`) on images holding no unknown object, i.e. how well the
  detector still finds and names what it was taught.
* ``unknown_image_auroc``: AUROC of the image score for "contains an unknown object".
* ``unknown_recall``: share of unknown objects with a candidate box overlapping them
  (IoU >= ``match_iou``) whose openness is above the calibrated threshold: found *and*
  located, not just an image flagged for another reason.
* ``open_set_error``: absolute open-set error (Miller et al., "Dropout sampling for robust
  object detection in open-set conditions", ICRA 2018): the number of unknown objects taken
  for a known class, i.e. covered by a box shown as a known class (confidence at least
  ``min_confidence``, openness at or below the threshold) and by no box flagged unknown.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from detection.coco import coco_map, to_coco
from detection.objects import DetectedBox, LabelledBox, iou


def object_metrics(
    detected: Sequence[Sequence[DetectedBox]],
    image_scores: Sequence[float] | np.ndarray,
    truth: Sequence[Sequence[LabelledBox]],
    sizes: Sequence[tuple[int, int]],
    known_classes: Collection[str],
    threshold: float | None,
    *,
    min_confidence: float = 0.3,
    match_iou: float = 0.3,
    map_detected: Sequence[Sequence[DetectedBox]] | None = None,
) -> dict[str, Any]:
    """Known-class mAP and the open-set figures for images with labelled boxes.

    ``detected`` holds every candidate of each image (``detect()`` of an object kind),
    ``image_scores`` the image scores, ``truth`` the labelled boxes; a box whose class is
    not in ``known_classes`` is an unknown object. Open-set figures are ``None`` without
    unknown objects (and the AUROC without both kinds of image); threshold-based ones are
    ``None`` without a threshold. ``map_detected``, when given, is what mAP is computed on
    instead (e.g. every candidate, weak ones included: AP counts them).
    """
    known = sorted(set(known_classes))
    scores = np.asarray(image_scores, dtype=np.float64)
    has_unknown = np.array([any(b.label not in known for b in boxes) for boxes in truth])
    clean = [i for i in range(len(truth)) if not has_unknown[i]]
    ground = to_coco(
        [(str(i), *sizes[i], [b for b in truth[i] if b.label in known]) for i in clean], known
    )
    metrics: dict[str, Any] = {
        **coco_map(ground, {str(i): (map_detected or detected)[i] for i in clean}),
        "n_images": len(truth),
        "n_images_with_unknown": int(has_unknown.sum()),
        "n_known_objects": sum(b.label in known for boxes in truth for b in boxes),
        "n_unknown_objects": sum(b.label not in known for boxes in truth for b in boxes),
        "unknown_image_auroc": None,
        "unknown_recall": None,
        "open_set_error": None,
    }
    if has_unknown.any() and not has_unknown.all():
        metrics["unknown_image_auroc"] = float(roc_auc_score(has_unknown.astype(int), scores))
    if not metrics["n_unknown_objects"] or threshold is None:
        return metrics
    found = taken_for_known = 0
    for boxes, candidates in zip(truth, detected, strict=True):
        for box in boxes:
            if box.label in known:
                continue
            overlapping = [c for c in candidates if iou(c.xyxy, box.xyxy) >= match_iou]
            if any(c.openness > threshold for c in overlapping):
                found += 1
            elif any(c.confidence >= min_confidence for c in overlapping):
                taken_for_known += 1
    metrics["unknown_recall"] = found / metrics["n_unknown_objects"]
    metrics["open_set_error"] = taken_for_known
    return metrics
