"""Fit a detector on normal images and calibrate its threshold on images it never saw.

The one training recipe shared by the web app's workers, the CLI and the benchmarks, so
their figures mean the same thing.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from detection.base import Detector, DetectorError, ProgressCallback, scaled_progress
from detection.calibration import calibration_report, conformal_threshold, f1_optimal_threshold
from detection.metrics import evaluate, pixel_auroc, shrink, shrink_mask
from detection.object_metrics import object_metrics
from detection.objects import LabelledBox
from detection.registry import create_detector

THRESHOLD_METHODS = ("fpr", "f1", "fixed")
#: ``crossfit``: every normal image is scored once by a model fitted without it (k folds),
#: then the model is fitted on all of them; ``holdout``: a share is kept aside. ``auto``
#: cross-fits the kinds cheap enough to fit k + 1 times (:attr:`Detector.crossfit`).
CALIBRATIONS = ("auto", "crossfit", "holdout")
DEFAULT_FOLDS = 5


class Subset(Sequence):
    """A lazy view of some items of a sequence (images are decoded only when read)."""

    def __init__(self, items: Sequence[Any], indices: Sequence[int]) -> None:
        self.items = items
        self.indices = list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:  # type: ignore[override]
        if isinstance(index, slice):
            return Subset(self.items, self.indices[index])
        return self.items[self.indices[index]]


@dataclasses.dataclass
class TrainingOutcome:
    """A fitted detector, its threshold, and the scores the threshold was calibrated on.

    ``holdout_indices`` / ``holdout_scores``: the normals that calibrated the threshold,
    each scored by a model that never saw it. With cross-fitting they are every normal image
    (and so are ``fit_indices``: the returned model learnt from all of them).
    """

    detector: Detector
    threshold: float
    fit_indices: list[int]
    holdout_indices: list[int]
    holdout_scores: np.ndarray
    anomaly_scores: np.ndarray
    metrics: dict[str, Any]


def split_indices(n: int, holdout_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """A seeded random split; at least one image on each side when there are two or more."""
    if not 0 <= holdout_fraction < 1:
        raise DetectorError("holdout_fraction must be in [0, 1)")
    order = np.random.default_rng(seed).permutation(n)
    n_holdout = round(n * holdout_fraction)
    if holdout_fraction > 0 and n >= 2:
        n_holdout = min(max(n_holdout, 1), n - 1)
    return sorted(order[n_holdout:].tolist()), sorted(order[:n_holdout].tolist())


def fold_indices(
    n: int, folds: int, seed: int, *, strata: Sequence[Any] | None = None
) -> list[list[int]]:
    """``folds`` seeded, disjoint, near-equal folds covering ``range(n)`` (fewer if n is small).

    With ``strata`` (e.g. class labels, one per image) each stratum is dealt across the folds
    in turn, so every fold model still sees every class that has more than one image.
    """
    if not isinstance(folds, int) or folds < 2:
        raise DetectorError("cross-fitting needs at least 2 folds")
    if n < 2:
        raise DetectorError(f"cross-fitting needs at least 2 normal images; got {n}")
    order = np.random.default_rng(seed).permutation(n)
    if strata is not None:
        rank = {value: i for i, value in enumerate(sorted({str(v) for v in strata}))}
        order = np.array(sorted(order, key=lambda i: rank[str(strata[i])]), dtype=np.int64)
    return [sorted(order[k :: min(folds, n)].tolist()) for k in range(min(folds, n))]


def crossfit_scores(
    kind: str,
    params: Mapping[str, Any] | None,
    images: Sequence[np.ndarray],
    folds: list[list[int]],
    *,
    labels: Sequence[str] | None = None,
    boxes: Sequence[Sequence[LabelledBox]] | None = None,
    keep_heatmaps: bool = False,
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """Out-of-fold scores: each image scored by a fresh model fitted on the other folds.

    So every normal image calibrates the threshold, and none is ever scored by a model that
    saw it (the scores stay exchangeable with a new image's). Heatmaps come back in image
    order, or None if the kind makes none.
    """
    scores = np.zeros(len(images), np.float64)
    heatmaps: list[np.ndarray | None] | None = [None] * len(images) if keep_heatmaps else None
    for number, held in enumerate(folds):
        held_set = set(held)
        fit_idx = [i for i in range(len(images)) if i not in held_set]
        detector = create_detector(kind, params)
        detector.fit(
            Subset(images, fit_idx),
            labels=[labels[i] for i in fit_idx] if labels is not None else None,
            boxes=[boxes[i] for i in fit_idx] if boxes is not None else None,
            progress=scaled_progress(
                progress, number / len(folds), (number + 1) / len(folds), f"fold {number + 1}: "
            ),
        )
        fold_scores, fold_maps = score_in_chunks(
            detector, Subset(images, held), keep_heatmaps=heatmaps is not None
        )
        scores[held] = fold_scores
        if heatmaps is not None and fold_maps is None:
            heatmaps = None
        elif heatmaps is not None:
            for index, heatmap in zip(held, fold_maps, strict=True):  # type: ignore[arg-type]
                heatmaps[index] = heatmap
    return scores, heatmaps  # type: ignore[return-value]


#: Heatmaps and masks are compared at most this many pixels on the long side.
PIXEL_SIDE = 128
#: Images scored per call: bounds the full-resolution heatmaps alive at once.
SCORE_CHUNK = 64


def score_in_chunks(
    detector: Detector, images: Sequence[np.ndarray], *, keep_heatmaps: bool
) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """Scores of ``images`` in chunks; heatmaps, when kept, shrunk to ``PIXEL_SIDE`` at once.

    A large held-out set then never holds every full-resolution heatmap in memory.
    """
    scores: list[np.ndarray] = []
    heatmaps: list[np.ndarray] | None = [] if keep_heatmaps else None
    for start in range(0, len(images), SCORE_CHUNK):
        chunk = Subset(images, range(start, min(start + SCORE_CHUNK, len(images))))
        result = detector.score(chunk)
        scores.append(result.scores)
        if heatmaps is not None and result.heatmaps is None:
            heatmaps = None  # the kind does not localise
        elif heatmaps is not None:
            heatmaps.extend(shrink(np.asarray(h, np.float32), PIXEL_SIDE) for h in result.heatmaps)
    return (np.concatenate(scores) if scores else np.zeros(0)), heatmaps


def _pixel_auroc(
    holdout_heatmaps: list[np.ndarray] | None,
    anomaly_heatmaps: list[np.ndarray] | None,
    masks: Sequence[np.ndarray | None] | None,
) -> float | None:
    """Pixel AUROC on the anomalies that have masks, plus the held-out normals (all normal).

    None unless the kind makes heatmaps and some confirmed anomaly has a mask. Heatmaps come
    shrunk by :func:`score_in_chunks`; masks are shrunk the same way here.
    """
    if anomaly_heatmaps is None or holdout_heatmaps is None or masks is None:
        return None
    pairs = [
        (h, shrink_mask(m, PIXEL_SIDE))
        for h, m in zip(anomaly_heatmaps, masks, strict=True)
        if m is not None
    ]
    if not pairs:
        return None
    pairs += [(h, np.zeros(h.shape, np.uint8)) for h in holdout_heatmaps]
    return pixel_auroc([h for h, _ in pairs], [m for _, m in pairs])


def _object_metrics(
    detector: Detector,
    holdout: Sequence[np.ndarray],
    holdout_boxes: Sequence[Sequence[LabelledBox]],
    holdout_scores: np.ndarray,
    anomalous: Sequence[np.ndarray],
    anomaly_boxes: Sequence[Sequence[LabelledBox]] | None,
    anomaly_scores: np.ndarray,
    threshold: float,
) -> dict[str, Any]:
    """Known-class mAP on the held-out normals; open-set figures on the anomalies' boxes."""
    detect = detector.detect  # type: ignore[attr-defined]
    with_boxes = list(range(len(anomalous))) if anomaly_boxes is not None else []
    images = [*(holdout[i] for i in range(len(holdout))), *(anomalous[i] for i in with_boxes)]
    truth = (
        [*holdout_boxes, *(anomaly_boxes[i] for i in with_boxes)]
        if with_boxes
        else list(holdout_boxes)
    )
    scores = np.concatenate([holdout_scores, anomaly_scores[with_boxes]])
    detected: list[Any] = []
    every: list[Any] = []  # weak candidates too, for mAP
    for start in range(0, len(images), SCORE_CHUNK):
        detected.extend(detect(images[start : start + SCORE_CHUNK]))
        every.extend(detect(images[start : start + SCORE_CHUNK], min_objectness=0.0))
    sizes = [(int(image.shape[1]), int(image.shape[0])) for image in images]
    return object_metrics(
        detected,
        scores,
        truth,
        sizes,
        detector.classes,  # type: ignore[attr-defined]
        threshold,
        min_confidence=getattr(detector.params, "score_threshold", 0.3),
        map_detected=every,
    )


def _calibration_predictions(
    detector: Detector,
    images: Sequence[np.ndarray],
    holdout_idx: list[int],
    calibration: str,
) -> list[str] | None:
    """The classes an open-set classifier gives the calibration normals, each from a model
    that never saw it (the fold models' when cross-fitted); None for other kinds."""
    predict = getattr(detector, "predict", None)
    if not callable(predict) or not holdout_idx:
        return None
    if calibration == "holdout":
        return list(predict(Subset(images, holdout_idx)))
    return getattr(detector, "out_of_fold_predictions", None)


def resolve_calibration(calibration: str, detector: Detector, n_normal: int) -> str:
    """``crossfit`` or ``holdout``: what ``auto`` means for this kind and site size."""
    if calibration not in CALIBRATIONS:
        raise DetectorError(f"calibration must be one of {', '.join(CALIBRATIONS)}")
    if calibration == "auto":
        calibration = "crossfit" if detector.crossfit else "holdout"
    if calibration == "crossfit" and n_normal < 2:
        raise DetectorError(f"cross-fitting needs at least 2 normal images; got {n_normal}")
    return calibration


def choose_threshold(
    method: str,
    holdout_scores: np.ndarray,
    f1_normal_scores: np.ndarray,
    anomaly_scores: np.ndarray,
    target_fpr: float,
    fixed_threshold: float | None,
) -> tuple[float, str]:
    """(threshold, method used): ``f1`` falls back to ``fpr`` while no anomaly is known.

    ``fpr`` is the conformal threshold (:func:`detection.calibration.conformal_threshold`):
    the strictest one when there are too few normals to keep ``target_fpr``. It uses the
    calibration normals only; ``f1`` may also use other scores known to be normal (a
    video's normal frames beside its events).
    """
    if method == "f1" and anomaly_scores.size == 0:
        method = "fpr"
    if method == "fpr":
        return conformal_threshold(holdout_scores, target_fpr)[0], method
    if method == "f1":
        return f1_optimal_threshold(f1_normal_scores, anomaly_scores), method
    return float(fixed_threshold), method  # type: ignore[arg-type]


def fit_and_calibrate(
    kind: str,
    params: Mapping[str, Any] | None,
    normal_images: Sequence[np.ndarray],
    anomalous_images: Sequence[np.ndarray] = (),
    *,
    labels: Sequence[str] | None = None,
    boxes: Sequence[Sequence[LabelledBox]] | None = None,
    anomaly_boxes: Sequence[Sequence[LabelledBox]] | None = None,
    anomaly_masks: Sequence[np.ndarray | None] | None = None,
    holdout_fraction: float = 0.2,
    calibration: str = "auto",
    folds: int = DEFAULT_FOLDS,
    target_fpr: float = 0.01,
    threshold_method: str = "fpr",
    fixed_threshold: float | None = None,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> TrainingOutcome:
    """Fit ``kind`` on the normal images and calibrate on normal images it never saw.

    ``calibration`` (:data:`CALIBRATIONS`): with ``crossfit`` every normal image gets an
    out-of-fold score (``folds`` models, :func:`crossfit_scores`) and the returned model is
    fitted on all of them, so ``holdout_indices`` are every image; with ``holdout`` a
    ``holdout_fraction`` is kept aside and the model never sees it. The metrics say what
    the threshold promises (:func:`detection.calibration.calibration_report`).

    Threshold methods: ``fpr`` bounds the share of held-out normal images flagged by
    ``target_fpr``; ``f1`` maximises F1 on held-out normals plus confirmed anomalies (it
    falls back to ``fpr`` while there are none, and says so in the metrics); ``fixed`` uses
    ``fixed_threshold``. Metrics are measured on the held-out normals and the anomalies; with
    ``f1`` the threshold was chosen on those same images, so precision/recall are optimistic.
    ``anomaly_masks`` (one per anomalous image, None where unknown) adds ``pixel_auroc`` for
    kinds that make heatmaps.

    ``boxes`` (the labelled objects of each normal image) go to kinds that need them
    (:attr:`~detection.base.Detector.needs_boxes`); for those kinds the metrics add
    known-class mAP on the held-out normals and, given ``anomaly_boxes`` (objects of
    classes the detector does not know, per anomalous image), unknown-object recall and
    open-set error at the threshold (:func:`detection.object_metrics.object_metrics`).
    """
    if threshold_method not in THRESHOLD_METHODS:
        raise DetectorError(f"threshold_method must be one of {', '.join(THRESHOLD_METHODS)}")
    if threshold_method == "fixed" and fixed_threshold is None:
        raise DetectorError("threshold_method 'fixed' needs a fixed_threshold")
    detector = create_detector(kind, params)
    calibration = resolve_calibration(calibration, detector, len(normal_images))
    if calibration == "crossfit":
        fit_idx = holdout_idx = list(range(len(normal_images)))
    else:
        fit_idx, holdout_idx = split_indices(len(normal_images), holdout_fraction, seed)
    if not holdout_idx and threshold_method != "fixed":
        raise DetectorError("calibration needs held-out normal images; raise holdout_fraction")
    if labels is not None and len(labels) != len(normal_images):
        raise DetectorError(f"got {len(labels)} class labels for {len(normal_images)} images")
    fit_labels = [labels[i] for i in fit_idx] if labels is not None else None
    if boxes is not None and len(boxes) != len(normal_images):
        raise DetectorError(f"got box lists for {len(boxes)} of {len(normal_images)} images")
    if anomaly_boxes is not None and len(anomaly_boxes) != len(anomalous_images):
        raise DetectorError(
            f"got box lists for {len(anomaly_boxes)} of {len(anomalous_images)} anomalous images"
        )
    fit_boxes = [boxes[i] for i in fit_idx] if boxes is not None and detector.needs_boxes else None
    want_maps = anomaly_masks is not None and any(m is not None for m in anomaly_masks)
    if getattr(detector, "uses_known_anomalies", False):
        detector.known_anomalies = anomalous_images  # type: ignore[attr-defined]
    started = time.perf_counter()
    fit_progress = scaled_progress(progress, 0, 0.8)
    if calibration == "crossfit":
        # folds keep the classes of a kind that learns them in every fold model
        strata = fit_labels if detector.needs_labels else None
        fold_sets = fold_indices(len(normal_images), folds, seed, strata=strata)
        fit_progress = scaled_progress(progress, 0, 0.9)
        # kinds that can cross-fit in one pass (and are then fitted on all) do it themselves
        one_pass = getattr(detector, "fit_out_of_fold", None)
        done = one_pass and one_pass(
            normal_images,
            fold_sets,
            **({"labels": fit_labels} if detector.needs_labels else {}),
            on_heatmap=(lambda h: shrink(np.asarray(h, np.float32), PIXEL_SIDE))
            if want_maps
            else None,
            progress=fit_progress,
        )
        if done:
            holdout_scores, holdout_maps = done
        else:
            share = len(fold_sets) / (len(fold_sets) + 1)
            holdout_scores, holdout_maps = crossfit_scores(
                kind,
                params,
                normal_images,
                fold_sets,
                labels=fit_labels,
                boxes=fit_boxes,
                keep_heatmaps=want_maps,
                progress=scaled_progress(progress, 0, 0.9 * share),
            )
            fit_progress = scaled_progress(progress, 0.9 * share, 0.9)
    if not detector.is_fitted:
        detector.fit(
            Subset(normal_images, fit_idx),
            labels=fit_labels,
            boxes=fit_boxes,
            progress=fit_progress,
        )
    # with cross-fitting this includes the fold models: what a site waits for
    train_seconds = time.perf_counter() - started
    report = scaled_progress(progress, 0.9 if calibration == "crossfit" else 0.8, 1.0)
    if calibration == "holdout":
        report(0.0, "scoring held-out images")
        holdout_scores, holdout_maps = score_in_chunks(
            detector, Subset(normal_images, holdout_idx), keep_heatmaps=want_maps
        )
    report(0.5, "scoring confirmed anomalies")
    anomaly_scores, anomaly_maps = score_in_chunks(
        detector, anomalous_images, keep_heatmaps=want_maps
    )

    threshold, used_method = choose_threshold(
        threshold_method,
        holdout_scores,
        holdout_scores,
        anomaly_scores,
        target_fpr,
        fixed_threshold,
    )

    scores = np.concatenate([holdout_scores, anomaly_scores])
    truth = np.concatenate([np.zeros(holdout_scores.size), np.ones(anomaly_scores.size)])
    metrics = evaluate(scores, truth, threshold)
    metrics.update(
        n_fit=len(fit_idx),
        n_holdout=0 if calibration == "crossfit" else len(holdout_idx),
        calibration=calibration,
        folds=len(fold_sets) if calibration == "crossfit" else None,
        threshold_method=used_method,
        requested_threshold_method=threshold_method,
        target_fpr=target_fpr,
        train_seconds=round(train_seconds, 3),
        holdout_score_mean=float(holdout_scores.mean()) if holdout_scores.size else None,
        holdout_score_max=float(holdout_scores.max()) if holdout_scores.size else None,
    )
    if getattr(detector, "choice", None):
        metrics["auto"] = detector.choice  # type: ignore[attr-defined]
    if holdout_scores.size:
        metrics.update(
            calibration_report(
                holdout_scores,
                anomaly_scores,
                threshold,
                target_fpr,
                normals_per_calibration_score=len(normal_images) / len(holdout_idx),
            )
        )
    predicted = _calibration_predictions(detector, normal_images, holdout_idx, calibration)
    if labels is not None and predicted is not None:
        # open-set classifiers: how often the calibration normals get their own class
        truth_labels = [str(labels[i]).strip() for i in holdout_idx]
        hits = sum(p == t for p, t in zip(predicted, truth_labels, strict=True))
        metrics["classification_accuracy"] = hits / len(holdout_idx)
    metrics["pixel_auroc"] = _pixel_auroc(holdout_maps, anomaly_maps, anomaly_masks)
    if detector.needs_boxes and boxes is not None:
        metrics["objects"] = _object_metrics(
            detector,
            Subset(normal_images, holdout_idx),
            [boxes[i] for i in holdout_idx],
            holdout_scores,
            anomalous_images,
            anomaly_boxes,
            anomaly_scores,
            threshold,
        )
    report(1.0, "calibrated")
    return TrainingOutcome(
        detector=detector,
        threshold=float(threshold),
        fit_indices=fit_idx,
        holdout_indices=holdout_idx,
        holdout_scores=holdout_scores,
        anomaly_scores=anomaly_scores,
        metrics=metrics,
    )


# -- video -------------------------------------------------------------------------------

#: Frames left out between a fitted and a held-out block of the same clip, when the kind
#: does not say how many neighbours it looks at.
DEFAULT_TEMPORAL_GAP = 8


def temporal_gap(detector: Detector) -> int:
    """Frames a score depends on around each frame: cube length or smoothing window.

    A held-out block must start at least this far from the fitted frames, or the threshold
    would be calibrated on frames the model has half seen.
    """
    params = detector.params
    context = [getattr(params, name, 0) for name in ("cube_length", "smooth_frames")]
    known = [int(value) for value in context if isinstance(value, int) and value > 0]
    return max(known) if known else DEFAULT_TEMPORAL_GAP


@dataclasses.dataclass(frozen=True)
class ClipPart:
    """Frames ``start`` to ``stop - 1`` of normal clip ``clip``."""

    clip: int
    start: int
    stop: int


def split_clips(
    lengths: Sequence[int], holdout_fraction: float, seed: int, gap: int
) -> tuple[list[ClipPart], list[ClipPart]]:
    """(fitted parts, held-out parts) of normal clips with these frame counts.

    With two clips or more, whole clips are held out (a seeded choice of clips whose frames
    come closest to ``holdout_fraction``, at least one, never all). With one clip, one
    contiguous block of that share of its frames is held out at a seeded position, and
    ``gap`` frames on each side of it are used for neither, so no held-out frame is next to
    a fitted one.
    """
    if not 0 <= holdout_fraction < 1:
        raise DetectorError("holdout_fraction must be in [0, 1)")
    whole = [ClipPart(c, 0, n) for c, n in enumerate(lengths) if n > 0]
    if not whole:
        raise DetectorError("no normal frames to train on")
    if holdout_fraction == 0:
        return whole, []
    total = sum(part.stop for part in whole)
    target = holdout_fraction * total
    if len(whole) >= 2:
        order = np.random.default_rng(seed).permutation(len(whole))
        held: list[ClipPart] = []
        frames = 0
        for position in order[:-1]:  # never hold out every clip
            part = whole[position]
            if held and abs(frames + part.stop - target) >= abs(frames - target):
                break
            held.append(part)
            frames += part.stop
        fitted = [part for part in whole if part not in held]
        return sorted(fitted, key=lambda p: p.clip), sorted(held, key=lambda p: p.clip)
    [only] = whole
    n = only.stop
    size = max(1, round(holdout_fraction * n))
    if n - size - gap < 2:
        raise DetectorError(
            f"a clip of {n} frames is too short to hold out {size} frames with a gap of "
            f"{gap} frames on each side; upload more normal video or lower holdout_fraction"
        )
    start = int(np.random.default_rng(seed).integers(0, n - size + 1))
    fitted = [
        ClipPart(only.clip, a, b)
        for a, b in ((0, start - gap), (start + size + gap, n))
        if b - a > 0
    ]
    return fitted, [ClipPart(only.clip, start, start + size)]


def _flat_indices(parts: Sequence[ClipPart], offsets: Sequence[int]) -> list[int]:
    return [offsets[p.clip] + i for p in parts for i in range(p.start, p.stop)]


def _part_frames(clips: Sequence[Sequence[np.ndarray]], part: ClipPart) -> Sequence[np.ndarray]:
    return Subset(clips[part.clip], range(part.start, part.stop))


def _score_clip(detector: Detector, frames: Sequence[np.ndarray]) -> np.ndarray:
    """Per-frame scores of one clip: together for temporal kinds, in chunks for the others."""
    if getattr(detector, "temporal", False):
        return np.asarray(detector.score_clip(frames).scores, np.float64)  # type: ignore[attr-defined]
    return score_in_chunks(detector, frames, keep_heatmaps=False)[0]


def fit_and_calibrate_clips(
    kind: str,
    params: Mapping[str, Any] | None,
    normal_clips: Sequence[Sequence[np.ndarray]],
    anomalous_clips: Sequence[Sequence[np.ndarray]] = (),
    *,
    anomalous_truth: Sequence[Mapping[int, int] | None] | None = None,
    holdout_fraction: float = 0.2,
    target_fpr: float = 0.01,
    threshold_method: str = "fpr",
    fixed_threshold: float | None = None,
    seed: int = 0,
    fps: float | None = None,
    min_length: int = 1,
    max_gap: int = 0,
    progress: ProgressCallback | None = None,
) -> TrainingOutcome:
    """:func:`fit_and_calibrate` for video: clips in, held-out data as whole clips or blocks.

    ``normal_clips``: frames of normal video, each clip in time order. The held-out part
    (:func:`split_clips`) is scored clip by clip and sets the threshold as for images.
    ``fit_indices`` / ``holdout_indices`` index the concatenation of all normal clips'
    frames in order. ``anomalous_clips`` are scored whole; ``anomalous_truth`` gives each
    one's frame labels (None or missing frames: abnormal). The metrics are those of
    :func:`detection.video_metrics.video_metrics` over the held-out clips (all normal) and
    the anomalous ones, with segments of ``min_length`` / ``max_gap`` (false alarms per
    hour need ``fps``); ``anomaly_scores`` are the scores of the frames labelled abnormal.
    Image kinds work too: they are fitted on the fitted frames and score frame by frame.
    """
    from detection.video_metrics import labels_from_truth, video_metrics

    if threshold_method not in THRESHOLD_METHODS:
        raise DetectorError(f"threshold_method must be one of {', '.join(THRESHOLD_METHODS)}")
    if threshold_method == "fixed" and fixed_threshold is None:
        raise DetectorError("threshold_method 'fixed' needs a fixed_threshold")
    if anomalous_truth is not None and len(anomalous_truth) != len(anomalous_clips):
        raise DetectorError(
            f"got frame truth for {len(anomalous_truth)} of {len(anomalous_clips)} clips"
        )
    detector = create_detector(kind, params)
    lengths = [len(clip) for clip in normal_clips]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(int).tolist()
    fit_parts, holdout_parts = split_clips(lengths, holdout_fraction, seed, temporal_gap(detector))
    if not holdout_parts and threshold_method != "fixed":
        raise DetectorError("calibration needs held-out normal video; raise holdout_fraction")
    started = time.perf_counter()
    fit_clips = [_part_frames(normal_clips, part) for part in fit_parts]
    fit_progress = scaled_progress(progress, 0, 0.8)
    if getattr(detector, "temporal", False):
        detector.fit_clips(fit_clips, progress=fit_progress)  # type: ignore[attr-defined]
    else:
        frames = Subset([f for clip in fit_clips for f in clip], range(sum(map(len, fit_clips))))
        detector.fit(frames, progress=fit_progress)
    train_seconds = time.perf_counter() - started
    report = scaled_progress(progress, 0.8, 1.0)
    report(0.0, "scoring held-out video")
    holdout = [_score_clip(detector, _part_frames(normal_clips, p)) for p in holdout_parts]
    holdout_scores = np.concatenate(holdout) if holdout else np.zeros(0)
    anomalous = []
    for number, clip in enumerate(anomalous_clips):
        truth = anomalous_truth[number] if anomalous_truth is not None else None
        scores = _score_clip(detector, clip)
        anomalous.append((scores, labels_from_truth(truth, len(clip), default=1)))
        report((number + 1) / max(1, len(anomalous_clips)), f"anomalous clip {number + 1}")
    anomaly_scores = np.concatenate([s[y == 1] for s, y in anomalous]) if anomalous else np.zeros(0)

    normal_frames = np.concatenate([holdout_scores, *(s[y == 0] for s, y in anomalous)])
    threshold, used_method = choose_threshold(
        threshold_method, holdout_scores, normal_frames, anomaly_scores, target_fpr, fixed_threshold
    )

    clips = [(s, np.zeros(s.size, np.int64)) for s in holdout] + anomalous
    metrics = video_metrics(clips, threshold, fps=fps, min_length=min_length, max_gap=max_gap)
    fit_indices = _flat_indices(fit_parts, offsets)
    holdout_indices = _flat_indices(holdout_parts, offsets)
    metrics.update(
        n_fit=len(fit_indices),
        n_holdout=len(holdout_indices),
        n_fit_clips=len(fit_parts),
        n_holdout_clips=len(holdout_parts),
        threshold_method=used_method,
        requested_threshold_method=threshold_method,
        target_fpr=target_fpr,
        train_seconds=round(train_seconds, 3),
        holdout_score_mean=float(holdout_scores.mean()) if holdout_scores.size else None,
        holdout_score_max=float(holdout_scores.max()) if holdout_scores.size else None,
        pixel_auroc=None,
    )
    if holdout_scores.size:
        metrics.update(calibration_report(holdout_scores, anomaly_scores, threshold, target_fpr))
    report(1.0, "calibrated")
    return TrainingOutcome(
        detector=detector,
        threshold=float(threshold),
        fit_indices=fit_indices,
        holdout_indices=holdout_indices,
        holdout_scores=holdout_scores,
        anomaly_scores=anomaly_scores,
        metrics=metrics,
    )
