"""Writes on videos: store an uploaded video, extract its frames in a worker, frame truth.

The upload only probes a video (cheap) and queues :func:`extract_video` on the ``cpu``
queue. Extraction claims the video's job atomically, beats a heartbeat, and stores each
kept frame as an asset under a unique (video, frame index) constraint, one frame per
small transaction: a worker killed at any point leaves whole frames behind, and the next
run resumes at the first kept frame not stored yet, so no frame is missing or doubled.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
import uuid
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from detection.video_io import VideoError, iter_frames, read_frame_truth, sampled_indices
from detection.video_preview import PreviewError, PreviewWriter
from webapp.assets.image_validation import InvalidImage
from webapp.assets.models import Asset, MediaType, Upload, Video
from webapp.assets.selectors import companion_asset
from webapp.assets.video_validation import InvalidVideo, VideoLimits, validate_video
from webapp.common.jobs import (
    JobStatus,
    failure_reason,
    gave_up_reason,
    is_transient,
    run_claimed,
    stale_before,
    take_back_gone,
)
from webapp.sites.models import Site

logger = logging.getLogger(__name__)

JPEG_QUALITY = 92
#: Share of the kept frames that must decode for a video whose end is damaged to count.
_COMPLETE_SHARE = 0.95
#: Frames saved per transaction during extraction.
FRAME_BATCH = 32


def video_limits() -> VideoLimits:
    return VideoLimits(
        max_bytes=settings.MAX_VIDEO_BYTES,
        max_duration_s=settings.MAX_VIDEO_DURATION_S,
        max_pixels=settings.MAX_VIDEO_PIXELS,
        max_frames=settings.MAX_VIDEO_FRAMES,
    )


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024**2):
            digest.update(chunk)
    return digest.hexdigest()


def store_video(
    *,
    site: Site,
    purpose: str,
    user: AbstractBaseUser | None,
    upload: Upload | None,
    filename: str,
    path: Path,
    stored: dict[str, str],
) -> tuple[Upload, Asset]:
    """Validate one video file and store it as a video asset queued for extraction.

    Raises InvalidVideo (or InvalidImage for a duplicate) with the reason.
    """
    info = validate_video(path, size_bytes=path.stat().st_size, limits=video_limits())
    checksum = _sha256_of(path)
    if checksum in stored:
        raise InvalidImage(f"duplicate of {stored[checksum]} in this upload")
    existing = (
        Asset.objects.filter(site=site, checksum=checksum)
        .exclude(media_type=MediaType.FRAME)
        .values_list("id", flat=True)
        .first()
    )
    if existing is not None:
        raise InvalidImage(f"duplicate: this video is already asset {existing} of this site")
    sample_fps = float(site.video_sample_fps or 0.0)
    expected = len(sampled_indices(info.frame_count, info.fps, sample_fps or None))
    with transaction.atomic():
        if upload is None:
            upload = Upload.objects.create(site=site, purpose=purpose, created_by=user)
        asset = Asset(
            site=site,
            upload=upload,
            purpose=purpose,
            media_type=MediaType.VIDEO,
            filename=filename[:255],
            checksum=checksum,
            size_bytes=path.stat().st_size,
            width=info.width,
            height=info.height,
            image_format=PurePosixPath(filename).suffix.lower().lstrip(".")[:16],
        )
        with path.open("rb") as handle:
            asset.file.save(PurePosixPath(filename).name, File(handle), save=False)
        asset.save()
        video = Video.objects.create(
            asset=asset,
            fps=info.fps,
            frame_count=info.frame_count,
            duration_s=info.duration_s,
            codec=info.codec[:16],
            sample_fps=sample_fps,
            expected_frames=expected,
        )
        transaction.on_commit(lambda: _enqueue_extraction(video.pk))
    stored[checksum] = filename
    return upload, asset


def _enqueue_extraction(video_id: int) -> None:
    from workers.tasks import extract_video as extract_video_task

    extract_video_task.apply_async(args=[video_id], queue="cpu")


# --- frame truth ---------------------------------------------------------------------------


def set_frame_truth(*, asset: Asset, text: str) -> Video:
    """Replace the video's frame truth (CSV ``frame_index,label`` or JSON; 1 = abnormal).

    Raises InvalidVideo when it does not parse or names frames the video does not have.
    """
    video = Video.objects.filter(asset=asset).first()
    if video is None:
        raise InvalidVideo(f"asset {asset.pk} is not a video; frame labels belong to videos")
    try:
        truth = read_frame_truth(text)
    except VideoError as exc:
        raise InvalidVideo(str(exc)) from None
    beyond = [index for index in truth if index >= video.frame_count]
    if beyond:
        raise InvalidVideo(
            f"frame {min(beyond)} is beyond the end of the video ({video.frame_count} frames, "
            f"indices 0 to {video.frame_count - 1})"
        )
    video.truth = {str(index): label for index, label in sorted(truth.items())}
    video.save(update_fields=["truth"])
    return video


def attach_truth_files(
    site: Site,
    assets: list[Asset],
    truths: dict[str, object],
    rejected: list[dict[str, str]],
) -> list[Asset]:
    """Give each ``NAME.truth.csv`` to the video ``NAME.*``: in this upload, else earlier."""
    labelled = []
    for key, candidate in truths.items():
        filename = candidate.filename  # type: ignore[attr-defined]
        data = candidate.data or b""  # type: ignore[attr-defined]
        asset = companion_asset(site, key, MediaType.VIDEO, assets)
        try:
            if asset is None:
                raise InvalidVideo(
                    f"no video named {PurePosixPath(key).name}.* for this frame truth, in this "
                    "upload or earlier ones"
                )
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise InvalidVideo("frame labels are not UTF-8 text") from None
            set_frame_truth(asset=asset, text=text)
            labelled.append(asset)
        except InvalidVideo as exc:
            rejected.append({"filename": filename, "error": str(exc)})
    return labelled


# --- extraction ------------------------------------------------------------------------------


def extract_video(*, video_id: int) -> None:
    """Store the kept frames of a video as frame assets, then its browser preview.

    Safe to run twice or after a killed run (claim + resume). When the video was uploaded
    for scoring and the site has an active version, its frames are queued for scoring.
    """
    if not run_claimed(Video, video_id, _extract_claimed):
        logger.info("video %s held by a live worker or extracted; nothing to do", video_id)


def record_extraction_failure(video_id: int, reason: str) -> None:
    """Mark an extraction failed with the reason users see (frames stored so far stay)."""
    Video.objects.filter(pk=video_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).update(
        status=JobStatus.FAILED, error=reason[:5000]
    )


def _extract_claimed(video_id: int) -> None:
    video = Video.objects.select_related("asset", "asset__site", "asset__upload").get(pk=video_id)
    gave_up = gave_up_reason(video.takeovers)
    if gave_up:
        record_extraction_failure(video_id, gave_up)
        return
    try:
        with tempfile.TemporaryDirectory(prefix="extract-") as tmp:
            source = Path(tmp) / f"source{PurePosixPath(video.asset.file.name).suffix}"
            with video.asset.file.open("rb") as handle, source.open("wb") as out:
                while chunk := handle.read(1024**2):
                    out.write(chunk)
            preview = Path(tmp) / "preview.webm"
            stored = _store_frames(video, source, preview)
            if stored == 0:
                raise VideoError("no frame could be extracted from the video")
            _save_preview(video, preview)
    except Exception as exc:
        if is_transient(exc):
            raise
        logger.exception("extraction of video %s failed", video_id)
        record_extraction_failure(
            video_id,
            failure_reason(
                exc, time_limit=settings.EXTRACTION_SOFT_TIME_LIMIT, shown_as_is=(VideoError,)
            ),
        )
        return
    with transaction.atomic():
        Video.objects.filter(pk=video_id).update(
            status=JobStatus.SUCCEEDED, progress=1.0, preview=video.preview.name
        )
        transaction.on_commit(lambda: _score_extracted(video_id))


def _store_frames(video: Video, source: Path, preview: Path) -> int:
    """Store every kept frame not stored yet, and write the preview to ``preview``.

    Returns how many frames the video has now. Frames are saved :data:`FRAME_BATCH` at a
    time (one transaction each). On a first run the preview is encoded from the decoded
    frames on a second thread as they pass; a resumed run rebuilds it from the stored
    frames afterwards.
    """
    asset = video.asset
    done = set(Asset.objects.filter(source_video=asset).values_list("frame_index", flat=True))
    wanted = sampled_indices(video.frame_count, video.fps, video.sample_fps or None)
    missing = [index for index in wanted if index not in done]
    total = max(1, len(wanted))
    writer = None if done else _preview_writer(video, preview)
    batch: list[Asset] = []

    def flush() -> None:
        _save_frames(batch)
        done.update(frame.frame_index for frame in batch)  # type: ignore[misc]
        batch.clear()
        Video.objects.filter(pk=video.pk).update(
            progress=min(0.99, len(done) / total), heartbeat_at=timezone.now()
        )

    with writer or contextlib.nullcontext():
        try:
            for index, timestamp, frame in iter_frames(
                source, target_fps=video.sample_fps or None, start=missing[0] if missing else 0
            ):
                if index in done:
                    continue
                batch.append(_store_frame(asset, index, timestamp, frame))
                if writer:
                    writer.add(frame)
                if len(batch) >= FRAME_BATCH:
                    flush()
        except PreviewError:
            raise
        except VideoError:
            # The end of the file is damaged: whole frames until there are kept when
            # nearly all decoded (the upload accepted the file on the same rule).
            if len(done) + len(batch) < _COMPLETE_SHARE * len(wanted):
                raise
            logger.warning(
                "video %s ends early: %d of %d frames", video.pk, len(done) + len(batch), total
            )
        flush()
    if writer is None:
        _preview_from_stored(video, preview)
    return len(done)


def _store_frame(video_asset: Asset, index: int, timestamp: float, frame: np.ndarray) -> Asset:
    """One kept frame as a JPEG in storage and its asset row, not saved yet."""
    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise VideoError(f"frame {index} could not be encoded as JPEG")
    data = encoded.tobytes()
    height, width = frame.shape[:2]
    frame_asset = Asset(
        site=video_asset.site,
        upload=video_asset.upload,
        purpose=video_asset.purpose,
        media_type=MediaType.FRAME,
        source_video=video_asset,
        frame_index=index,
        timestamp_s=timestamp,
        filename=f"{video_asset.filename}:{index:06d}"[:255],
        checksum=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        width=width,
        height=height,
        image_format="jpeg",
    )
    frame_asset.file.save(f"{index:06d}-{uuid.uuid4().hex[:8]}.jpg", ContentFile(data), save=False)
    return frame_asset


def _save_frames(frames: list[Asset]) -> None:
    """Insert stored frames in one transaction; a frame stored meanwhile by a run we took
    for dead keeps that run's row, and our copy of its file is removed."""
    try:
        with transaction.atomic():
            Asset.objects.bulk_create(frames)
        return
    except IntegrityError:
        pass
    for frame in frames:  # rare: another run got there first; one at a time
        try:
            with transaction.atomic():
                frame.save()
        except IntegrityError:
            frame.file.delete(save=False)


def _preview_format(video: Video) -> tuple[float, tuple[int, int]]:
    """The preview's frame rate (that of the kept frames) and its even (width, height)."""
    rate = video.sample_fps if 0 < video.sample_fps < video.fps else video.fps
    side = settings.VIDEO_PREVIEW_SIDE
    scale = min(1.0, side / max(video.asset.width, video.asset.height))
    size = (
        max(2, round(video.asset.width * scale) // 2 * 2),
        max(2, round(video.asset.height * scale) // 2 * 2),
    )
    return rate, size


def _preview_writer(video: Video, path: Path) -> PreviewWriter:
    rate, size = _preview_format(video)
    return PreviewWriter(path, rate=rate, size=size)


def _preview_from_stored(video: Video, path: Path) -> None:
    """The preview of a resumed extraction, from the frames in storage."""
    with _preview_writer(video, path) as writer:
        frames = Asset.objects.filter(source_video=video.asset).order_by("frame_index")
        for frame_asset in frames.iterator():
            with frame_asset.file.open("rb") as handle:
                image = cv2.imdecode(np.frombuffer(handle.read(), np.uint8), cv2.IMREAD_COLOR)
            writer.add(image)


def _save_preview(video: Video, path: Path) -> None:
    rate, _ = _preview_format(video)
    if video.preview:
        video.preview.delete(save=False)
    with path.open("rb") as handle:
        video.preview.save(f"preview-{uuid.uuid4().hex[:8]}.webm", File(handle), save=False)
    Video.objects.filter(pk=video.pk).update(preview=video.preview.name, preview_fps=rate)


def _score_extracted(video_id: int) -> None:
    video = Video.objects.select_related("asset__site__active_version").get(pk=video_id)
    site = video.asset.site
    if video.asset.purpose != "score" or site.active_version is None:
        return
    from webapp.detectors.services import request_scoring

    frames = list(Asset.objects.filter(source_video=video.asset).order_by("frame_index"))
    request_scoring(site=site, version=site.active_version, assets=frames)


def requeue_stale_extractions(*, include_queued: bool = False) -> int:
    """Send again the extractions whose worker is gone (see ``requeue_stale_jobs``)."""
    video_ids = set(take_back_gone(Video))
    if include_queued:
        video_ids |= set(
            Video.objects.filter(
                status=JobStatus.QUEUED, asset__created_at__lt=stale_before()
            ).values_list("pk", flat=True)
        )
    for video_id in sorted(video_ids):
        _enqueue_extraction(video_id)
    return len(video_ids)
