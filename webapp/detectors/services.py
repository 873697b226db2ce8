"""Writes on detector versions and scoring jobs: train, activate, score.

Tasks in ``workers/`` call :func:`run_training` and :func:`score_chunk` with ids only.
Both claim their row atomically (a conditional update from queued, or from running when
its worker is gone: see ``webapp.common.jobs``), so a redelivered task does nothing twice;
artefacts are written under a fresh name and only recorded on success; scores are upserts.
A transient fault (database or broker away) gives the claim back and re-raises, for the
task to retry; any other error fails the job with its reason.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from detection.base import Detector, DetectorError, ParamsError
from detection.registry import create_detector, detector_class, load_detector
from detection.training import (
    TrainingOutcome,
    fit_and_calibrate,
    fit_and_calibrate_clips,
    score_in_chunks,
)
from detection.video_io import sampled_indices
from detection.video_metrics import UNKNOWN, labels_from_truth, video_metrics
from webapp.assets.models import Asset, MediaType, Purpose, Video
from webapp.assets.selectors import AssetImages, image_assets, read_mask
from webapp.common.errors import Conflict
from webapp.common.jobs import (
    Heartbeat,
    JobStatus,
    claim,
    failure_reason,
    gave_up_reason,
    is_transient,
    release,
    run_claimed,
    stale_before,
    take_back_gone,
)
from webapp.detectors.models import (
    DetectorVersion,
    ScoringChunk,
    ScoringJob,
    ThresholdMethod,
)
from webapp.hooks import payloads
from webapp.hooks.models import WebhookEvent
from webapp.hooks.services import emit
from webapp.objects.selectors import count_boxes, labelled_boxes
from webapp.objects.services import describe_detections
from webapp.review.selectors import confirmed_anomalies, normal_training_assets
from webapp.review.services import flag_segments, hand_queue_to, record_scores
from webapp.sites import audit
from webapp.sites.models import AuditAction, Site

logger = logging.getLogger(__name__)

MIN_NORMAL_IMAGES = 5


def queue_for_kind(kind: str) -> str:
    """Kinds that profit from a GPU go to the ``gpu`` queue, the rest to ``cpu``."""
    return "gpu" if detector_class(kind).uses_gpu else "cpu"


# --- training ----------------------------------------------------------------------------


def request_training(
    *,
    site: Site,
    user: AbstractBaseUser | None,
    kind: str,
    params: dict[str, Any] | None = None,
    threshold_method: str = ThresholdMethod.FPR,
    target_fpr: float | None = None,
    fixed_threshold: float | None = None,
) -> DetectorVersion:
    """Create a queued version and enqueue its training after commit."""
    try:
        detector = create_detector(kind, params or {})
    except ParamsError as exc:
        field = "kind" if "kind" in str(exc) and "unknown detector kind" in str(exc) else "params"
        raise ValidationError({field: str(exc)}) from None
    if threshold_method not in ThresholdMethod.values:
        raise ValidationError(
            {"threshold_method": f"choose one of {', '.join(ThresholdMethod.values)}."}
        )
    if threshold_method == ThresholdMethod.FIXED and fixed_threshold is None:
        raise ValidationError({"fixed_threshold": "a fixed threshold needs a value."})
    target_fpr = settings.DEFAULT_TARGET_FPR if target_fpr is None else float(target_fpr)
    if not 0.0 < target_fpr < 0.5:
        raise ValidationError({"target_fpr": "target_fpr must be between 0 and 0.5."})
    n_normal = normal_training_assets(site).count()
    if n_normal < MIN_NORMAL_IMAGES:
        raise ValidationError(
            f"Training needs at least {MIN_NORMAL_IMAGES} known-normal images; site "
            f"'{site.slug}' has {n_normal}. Upload images with purpose 'train' first."
        )
    if detector.needs_boxes and not count_boxes(list(normal_training_assets(site))):
        raise ValidationError(
            f"The {kind} kind learns from labelled boxes, and none of the site's "
            f"{n_normal} known-normal images has one yet. Label some objects (or import a "
            "COCO file) first."
        )
    with transaction.atomic():
        Site.objects.select_for_update().filter(pk=site.pk).first()
        number = (site.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = DetectorVersion.objects.create(
            site=site,
            number=number,
            kind=kind,
            params=detector.params.to_dict(),
            threshold_method=threshold_method,
            target_fpr=target_fpr,
            fixed_threshold=fixed_threshold,
            created_by=user,
        )
        audit.record(
            site=site,
            actor=user,
            action=AuditAction.TRAINING_REQUESTED,
            object_type="version",
            object_id=version.pk,
            summary=f"requested training of version {number} ({kind})",
            details={"number": number, "kind": kind, "params": version.params},
        )
        transaction.on_commit(lambda: _enqueue_training(version))
    return version


def _enqueue_training(version: DetectorVersion) -> None:
    from workers.tasks import train_version

    train_version.apply_async(args=[version.pk], queue=queue_for_kind(version.kind))


def requeue_stale_jobs(*, include_queued: bool = False) -> tuple[int, int]:
    """Send again the jobs whose worker is gone (:func:`webapp.common.jobs.holder_gone`).

    Each such job goes back to ``queued`` (a conditional update, so only one watchdog
    wins) and a new message is sent; the atomic claim makes any duplicate delivery
    harmless. ``include_queued`` also re-sends jobs queued for longer than the stale delay,
    for when a broker without persistence lost its messages (``manage.py requeue_jobs``).
    Returns the numbers of (versions, chunks) re-sent.
    """
    version_ids = set(take_back_gone(DetectorVersion))
    chunk_ids = set(take_back_gone(ScoringChunk))
    if include_queued:
        version_ids |= set(
            DetectorVersion.objects.filter(
                status=JobStatus.QUEUED, created_at__lt=stale_before()
            ).values_list("pk", flat=True)
        )
        chunk_ids |= set(
            ScoringChunk.objects.filter(
                status=JobStatus.QUEUED, job__created_at__lt=stale_before()
            ).values_list("pk", flat=True)
        )
    for version in DetectorVersion.objects.filter(pk__in=version_ids):
        _enqueue_training(version)
    by_queue: dict[str, list[int]] = {}
    for chunk in ScoringChunk.objects.filter(pk__in=chunk_ids).select_related("job__version"):
        by_queue.setdefault(queue_for_kind(chunk.job.version.kind), []).append(chunk.pk)
    for queue, ids in by_queue.items():
        _enqueue_chunks(ids, queue)
    return len(version_ids), len(chunk_ids)


class _ProgressReporter:
    """Writes training progress (and the heartbeat) at most once a second."""

    def __init__(self, version_id: int) -> None:
        self.version_id = version_id
        self.last_write = 0.0

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - self.last_write < 1.0 and fraction < 1.0:
            return
        self.last_write = now
        DetectorVersion.objects.filter(pk=self.version_id).update(
            progress=max(0.0, min(1.0, float(fraction))),
            progress_message=message[:200],
            heartbeat_at=timezone.now(),
        )


def run_training(*, version_id: int) -> None:
    """Fit, calibrate and store one version; failures mark it failed with the reason.

    The site's active version is never touched by a failure. The first version of a site
    that succeeds becomes active by itself, and scores what is waiting.
    """
    if not run_claimed(DetectorVersion, version_id, _train_claimed):
        logger.info("version %s held by a live worker or finished; nothing to do", version_id)


def record_training_failure(version_id: int, reason: str) -> None:
    """Mark a training failed with the reason users see; the site's active version stays."""
    with transaction.atomic():
        failed = DetectorVersion.objects.filter(
            pk=version_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
        ).update(status=JobStatus.FAILED, error=reason[:5000], finished_at=timezone.now())
        version = DetectorVersion.objects.select_related("site").filter(pk=version_id).first()
        if failed and version is not None:
            audit.record(
                site=version.site,
                actor=None,
                action=AuditAction.TRAINING_FAILED,
                object_type="version",
                object_id=version_id,
                summary=f"training of version {version.number} failed: {reason[:300]}",
                details={"number": version.number, "kind": version.kind},
            )
            emit(
                site_id=version.site_id,
                event=WebhookEvent.TRAINING_FAILED,
                data=lambda: payloads.version_data(version_id),
            )


def _train_claimed(version_id: int) -> None:
    gave_up = gave_up_reason(DetectorVersion.objects.get(pk=version_id).takeovers)
    if gave_up:
        record_training_failure(version_id, gave_up)
        return
    DetectorVersion.objects.filter(pk=version_id).update(
        started_at=timezone.now(), progress=0.0, error="", progress_message="loading images"
    )
    version = DetectorVersion.objects.select_related("site").get(pk=version_id)
    site = version.site
    try:
        normal = list(normal_training_assets(site))
        anomalies = list(confirmed_anomalies(site))
        if len(normal) < MIN_NORMAL_IMAGES:
            raise DetectorError(
                f"training needs at least {MIN_NORMAL_IMAGES} known-normal images; "
                f"the site has {len(normal)}"
            )
        needs_boxes = detector_class(version.kind).needs_boxes
        if detector_class(version.kind).temporal:
            outcome, normal, anomalies = _fit_temporal(version, normal, anomalies)
        else:
            # Object kinds: each normal image's labelled boxes (none = background only), and
            # the confirmed anomalies' boxes, whose classes the detector may not know
            # (open-set metrics).
            outcome = fit_and_calibrate(
                version.kind,
                version.params,
                AssetImages(normal),
                AssetImages(anomalies),
                labels=[a.label for a in normal]
                if detector_class(version.kind).needs_labels
                else None,
                boxes=labelled_boxes(normal) if needs_boxes else None,
                anomaly_boxes=labelled_boxes(anomalies) if needs_boxes else None,
                anomaly_masks=[read_mask(a) for a in anomalies],
                target_fpr=version.target_fpr,
                threshold_method=version.threshold_method,
                fixed_threshold=version.fixed_threshold,
                progress=_ProgressReporter(version_id),
            )
        video = _video_metrics(site, outcome.detector, outcome.threshold)
        if video is not None:
            outcome.metrics["video"] = video
        evaluation = {
            "holdout": [
                [normal[i].pk, float(score)]
                for i, score in zip(outcome.holdout_indices, outcome.holdout_scores, strict=True)
            ],
            "anomalies": [
                [asset.pk, float(score)]
                for asset, score in zip(anomalies, outcome.anomaly_scores, strict=True)
            ],
        }
        fitted = set(outcome.fit_indices)
        manifest = {
            "fit": [normal[i].pk for i in outcome.fit_indices],
            # normals the model never saw (none when every one calibrated out of fold)
            "holdout": [normal[i].pk for i in sorted(set(outcome.holdout_indices) - fitted)],
            "anomalies": [a.pk for a in anomalies],
        }
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.zip"
            outcome.detector.save(path)
            with path.open("rb") as handle:
                version.artefact.save(
                    f"model-{uuid.uuid4().hex[:12]}.zip", File(handle), save=False
                )
    except Exception as exc:
        if is_transient(exc):
            raise
        logger.exception("training of version %s failed", version_id)
        record_training_failure(
            version_id,
            failure_reason(
                exc, time_limit=settings.TRAINING_SOFT_TIME_LIMIT, shown_as_is=(DetectorError,)
            ),
        )
        return
    with transaction.atomic():
        DetectorVersion.objects.filter(pk=version_id).update(
            status=JobStatus.SUCCEEDED,
            artefact=version.artefact.name,
            threshold=float(outcome.threshold),
            manifest=manifest,
            evaluation=evaluation,
            metrics=_jsonable(outcome.metrics),
            progress=1.0,
            progress_message="done",
            finished_at=timezone.now(),
        )
        audit.record(
            site=site,
            actor=None,
            action=AuditAction.TRAINING_SUCCEEDED,
            object_type="version",
            object_id=version_id,
            summary=f"version {version.number} ({version.kind}) trained, threshold "
            f"{float(outcome.threshold):.4g}",
            details={"number": version.number, "kind": version.kind, "fit": len(manifest["fit"])},
        )
        site = Site.objects.select_for_update().get(pk=site.pk)
        if site.active_version_id is None:
            version.refresh_from_db()
            activate_version(version=version)
        emit(
            site_id=site.pk,
            event=WebhookEvent.TRAINING_SUCCEEDED,
            data=lambda: payloads.version_data(version_id),
        )


def _clips(frames: Sequence[Asset]) -> list[list[Asset]]:
    """Frames grouped in clips: per video, in time order, split where kept frames are missing.

    Rejected segments of a score video are normal frames with gaps between them; a
    temporal kind must not learn the jump from one to the next as motion.
    """
    by_video: dict[int, list[Asset]] = {}
    for frame in frames:
        by_video.setdefault(frame.source_video_id, []).append(frame)  # type: ignore[arg-type]
    videos = {v.pk: v for v in Video.objects.filter(pk__in=list(by_video))}
    clips: list[list[Asset]] = []
    for video_id, members in by_video.items():
        info = videos[video_id]
        kept = sampled_indices(info.frame_count, info.fps, info.sample_fps or None)
        position = {index: at for at, index in enumerate(kept)}
        members.sort(key=lambda a: a.frame_index or 0)
        clip: list[Asset] = []
        for frame in members:
            here = position.get(frame.frame_index or 0, -1)
            if clip and here != position.get(clip[-1].frame_index or 0, -2) + 1:
                clips.append(clip)
                clip = []
            clip.append(frame)
        if clip:
            clips.append(clip)
    return clips


def _fit_temporal(
    version: DetectorVersion, normal: list[Asset], anomalies: list[Asset]
) -> tuple[TrainingOutcome, list[Asset], list[Asset]]:
    """Train a temporal kind on clips of normal frames (images are not clips: skipped).

    Returns the outcome and the normal and anomalous frames in the order its indices use
    (the concatenation of the clips).
    """
    normal_clips = _clips([a for a in normal if a.media_type == MediaType.FRAME])
    anomalous_clips = _clips([a for a in anomalies if a.media_type == MediaType.FRAME])
    if not normal_clips:
        raise DetectorError(
            f"kind '{version.kind}' learns from video: upload normal videos with purpose 'train'"
        )
    site = version.site
    first_video = Video.objects.get(pk=normal_clips[0][0].source_video_id)
    outcome = fit_and_calibrate_clips(
        version.kind,
        version.params,
        [AssetImages(clip) for clip in normal_clips],
        [AssetImages(clip) for clip in anomalous_clips],
        fps=_kept_rate(first_video),
        min_length=max(1, site.segment_min_length),
        max_gap=site.segment_max_gap,
        target_fpr=version.target_fpr,
        threshold_method=version.threshold_method,
        fixed_threshold=version.fixed_threshold,
        progress=_ProgressReporter(version.pk),
    )
    return (
        outcome,
        [frame for clip in normal_clips for frame in clip],
        [frame for clip in anomalous_clips for frame in clip],
    )


def _kept_rate(video: Video) -> float:
    """Kept frames per second of a video (its sampling, or its own rate for every frame)."""
    return video.sample_fps if 0 < video.sample_fps < video.fps else video.fps


def _video_metrics(site: Site, detector: Detector, threshold: float) -> dict[str, Any] | None:
    """Frame AUROC/AP, event recall and false alarms per hour on the videos with truth.

    Each video with frame truth is scored whole by the new detector (its kept frames in
    time order); frames its truth does not mention are left out.
    """
    clips, normal_seconds = [], 0.0
    videos = Video.objects.filter(asset__site=site, status=JobStatus.SUCCEEDED).exclude(truth={})
    for video in videos.select_related("asset"):
        frames = list(Asset.objects.filter(source_video=video.asset).order_by("frame_index"))
        truth = {int(index): label for index, label in video.truth.items()}
        labels = labels_from_truth(
            {at: truth[f.frame_index] for at, f in enumerate(frames) if f.frame_index in truth},
            len(frames),
            default=UNKNOWN,
        )
        if not frames or (labels == UNKNOWN).all():
            continue
        if detector.temporal:
            scores = detector.score(AssetImages(frames)).scores
        else:
            scores, _ = score_in_chunks(detector, AssetImages(frames), keep_heatmaps=False)
        clips.append((np.asarray(scores), labels))
        normal_seconds += int((labels == 0).sum()) / _kept_rate(video)
    if not clips:
        return None
    metrics = video_metrics(
        clips, threshold, min_length=max(1, site.segment_min_length), max_gap=site.segment_max_gap
    )
    # Videos may be kept at different rates: hours of normal video counted per video.
    hours = normal_seconds / 3600
    metrics["normal_hours"] = hours
    metrics["false_alarms_per_hour"] = metrics["false_alarms"] / hours if hours else None
    metrics["n_videos"] = len(clips)
    metrics["n_frames_with_truth"] = int(sum((labels != UNKNOWN).sum() for _, labels in clips))
    return metrics


def _jsonable(value: Any) -> Any:
    """Metrics as plain JSON (numpy scalars and NaN do not survive JSONField)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


# --- activation and scoring ----------------------------------------------------------------


@transaction.atomic
def activate_version(
    *, version: DetectorVersion, actor: AbstractBaseUser | None = None
) -> DetectorVersion:
    """Make ``version`` the one that scores the site's uploads (also a rollback).

    Score assets it has not scored yet are queued for scoring; the review queue is handed
    to it (:func:`hand_queue_to`: older flags are superseded, not
    deleted). ``actor`` None: the first version that succeeds, activated by the worker.
    """
    if version.status != JobStatus.SUCCEEDED:
        raise Conflict(
            f"Version {version.number} is {version.status}; only a succeeded version can be "
            "activated."
        )
    site = Site.objects.select_for_update().get(pk=version.site_id)
    previous = site.active_version_id
    site.active_version = version
    site.save(update_fields=["active_version"])
    audit.record(
        site=site,
        actor=actor,
        action=AuditAction.ACTIVATION,
        object_type="version",
        object_id=version.pk,
        summary=f"activated version {version.number} ({version.kind})",
        details={"number": version.number, "previous_version": previous},
    )
    version.site = site
    hand_queue_to(version)
    unscored = image_assets(site).filter(purpose=Purpose.SCORE).exclude(scores__version=version)
    request_scoring(site=site, version=version, assets=list(unscored.order_by("id")))
    return version


def rescore_site(*, site: Site) -> ScoringJob | None:
    """Score every score-purpose asset of the site again with its active version.

    Idempotent while a scoring by that version runs: assets already queued are not queued
    twice (see :func:`request_scoring`).
    """
    if site.active_version is None:
        raise Conflict(f"Site '{site.slug}' has no active version; train one first.")
    assets = list(image_assets(site).filter(purpose=Purpose.SCORE).order_by("id"))
    return request_scoring(site=site, version=site.active_version, assets=assets)


def request_scoring(
    *, site: Site, version: DetectorVersion, assets: Sequence[Asset]
) -> ScoringJob | None:
    """Create a scoring job split in chunks and enqueue them after commit.

    Assets that an unfinished job of the same version will already score are left out, so
    activation followed by "Re-score" (or two clicks) scores each asset once; when all
    are, the running job is returned instead of a new one.
    """
    with transaction.atomic():
        unfinished = list(
            ScoringJob.objects.select_for_update()
            .filter(version=version, status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
            .order_by("id")
        )
        queued: set[int] = set()
        for chunk_ids_of_job in ScoringChunk.objects.filter(job__in=unfinished).values_list(
            "asset_ids", flat=True
        ):
            queued.update(chunk_ids_of_job)
        assets = [asset for asset in assets if asset.pk not in queued]
        if not assets:
            return unfinished[-1] if unfinished else None
        temporal = detector_class(version.kind).temporal
        job = ScoringJob.objects.create(site=site, version=version, total=len(assets))
        chunks = ScoringChunk.objects.bulk_create(
            ScoringChunk(job=job, index=i, asset_ids=ids)
            for i, ids in enumerate(_chunked_ids(assets, temporal=temporal))
        )
        chunk_ids = [chunk.pk for chunk in chunks] or list(
            job.chunks.order_by("index").values_list("pk", flat=True)
        )
        queue = queue_for_kind(version.kind)
        transaction.on_commit(lambda: _enqueue_chunks(chunk_ids, queue))
    return job


def _chunked_ids(assets: Sequence[Asset], *, temporal: bool) -> list[list[int]]:
    """Asset ids per chunk: images as they come, frames per video in time order.

    A chunk never mixes videos, so the video whose last frames it scores is known. For a
    temporal kind a chunk is one whole video, since each frame's score needs its
    neighbours; an image kind scores frames in chunks like images.
    """
    size = settings.SCORING_CHUNK_SIZE
    images = [a.pk for a in assets if a.media_type != MediaType.FRAME]
    chunks = [images[start : start + size] for start in range(0, len(images), size)]
    by_video: dict[int, list[Asset]] = {}
    for asset in assets:
        if asset.media_type == MediaType.FRAME:
            by_video.setdefault(asset.source_video_id, []).append(asset)  # type: ignore[arg-type]
    for frames in by_video.values():
        ids = [a.pk for a in sorted(frames, key=lambda a: a.frame_index or 0)]
        step = len(ids) if temporal else size
        chunks += [ids[start : start + step] for start in range(0, len(ids), step)]
    return chunks


def _enqueue_chunks(chunk_ids: list[int], queue: str) -> None:
    from workers.tasks import score_chunk as score_chunk_task

    for chunk_id in chunk_ids:
        score_chunk_task.apply_async(args=[chunk_id], queue=queue)


_detector_cache: OrderedDict[tuple[int, str], Detector] = OrderedDict()


def load_version_detector(version: DetectorVersion) -> Detector:
    """The fitted detector of a version, cached per worker process (two at most)."""
    key = (version.pk, version.artefact.name)
    if key in _detector_cache:
        _detector_cache.move_to_end(key)
        return _detector_cache[key]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.zip"
        with version.artefact.open("rb") as source:
            path.write_bytes(source.read())
        detector = load_detector(path)
    _detector_cache[key] = detector
    while len(_detector_cache) > 2:
        _detector_cache.popitem(last=False)
    return detector


def score_chunk(*, chunk_id: int) -> None:
    """Score one chunk of a job; the last chunk to finish closes the job."""
    if not claim(ScoringChunk, chunk_id):
        logger.info("chunk %s held by a live worker or finished; nothing to do", chunk_id)
        return
    with Heartbeat(ScoringChunk, chunk_id):
        try:
            _score_claimed(chunk_id)
        except Exception as exc:
            if is_transient(exc):
                release(ScoringChunk, chunk_id)  # for the task's retry
            raise


@transaction.atomic
def record_chunk_failure(chunk_id: int, reason: str) -> None:
    """Mark a chunk and its scoring job failed with the reason; scores already kept stay."""
    unfinished = [JobStatus.QUEUED, JobStatus.RUNNING]
    ScoringChunk.objects.filter(pk=chunk_id, status__in=unfinished).update(
        status=JobStatus.FAILED, error=reason[:5000]
    )
    job = ScoringJob.objects.filter(chunks__pk=chunk_id).values("pk", "site_id").first()
    if job and ScoringJob.objects.filter(pk=job["pk"], status__in=unfinished).update(
        status=JobStatus.FAILED, error=reason[:5000], finished_at=timezone.now()
    ):
        _emit_scoring_finished(job["site_id"], job["pk"])


def _emit_scoring_finished(site_id: int, job_id: int) -> None:
    emit(
        site_id=site_id,
        event=WebhookEvent.SCORING_FINISHED,
        data=lambda: payloads.scoring_job_data(job_id),
    )


def _score_claimed(chunk_id: int) -> None:
    chunk = ScoringChunk.objects.select_related("job", "job__version").get(pk=chunk_id)
    job = chunk.job
    gave_up = gave_up_reason(chunk.takeovers)
    if gave_up:
        record_chunk_failure(chunk_id, gave_up)
        return
    ScoringJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(status=JobStatus.RUNNING)
    try:
        version = job.version
        by_id = {a.pk: a for a in Asset.objects.filter(pk__in=chunk.asset_ids)}
        assets = [by_id[pk] for pk in chunk.asset_ids if pk in by_id]  # (frames in time order)
        if assets:
            detector = load_version_detector(version)
            result = detector.score(AssetImages(assets))
            details = None
            if result.boxes is not None:  # object kinds: what was found, and the site's rules
                details = describe_detections(
                    site=job.site,
                    threshold=version.threshold,
                    boxes=result.boxes,
                    min_confidence=getattr(detector.params, "score_threshold", 0.3),
                )
            record_scores(
                version=version,
                assets=assets,
                scores=result.scores.tolist(),
                heatmaps=result.heatmaps,
                details=details,
            )
            videos = {a.source_video_id for a in assets if a.media_type == MediaType.FRAME}
            for video_id in videos:
                _flag_segments_when_scored(version, video_id)  # type: ignore[arg-type]
    except Exception as exc:
        if is_transient(exc):
            raise
        logger.exception("scoring chunk %s failed", chunk_id)
        record_chunk_failure(
            chunk_id,
            failure_reason(
                exc, time_limit=settings.SCORING_SOFT_TIME_LIMIT, shown_as_is=(DetectorError,)
            ),
        )
        return
    ScoringChunk.objects.filter(pk=chunk_id).update(status=JobStatus.SUCCEEDED)
    if not job.chunks.exclude(status=JobStatus.SUCCEEDED).exists():
        with transaction.atomic():
            closed = ScoringJob.objects.filter(
                pk=job.pk, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
            ).update(status=JobStatus.SUCCEEDED, finished_at=timezone.now())
            if closed:  # the one chunk that closed the job tells the webhooks
                _emit_scoring_finished(job.site_id, job.pk)


def _flag_segments_when_scored(version: DetectorVersion, video_id: int) -> None:
    """Once the version has scored every kept frame of the video, flag its event segments."""
    frames = Asset.objects.filter(source_video_id=video_id)
    if frames.exclude(scores__version=version).exists():
        return  # other chunks of this video are still to come
    flag_segments(version=version, video=Asset.objects.get(pk=video_id))
