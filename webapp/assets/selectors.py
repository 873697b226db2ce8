"""Reads on uploads and assets, and loading asset images for the detectors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath
from typing import Any, overload

import cv2
import numpy as np
from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from detection.images import decode_image
from webapp.assets.models import Asset, MediaType, Upload
from webapp.common.jobs import JobStatus
from webapp.review.models import Flag, Score
from webapp.sites.models import Site


def image_assets(site: Site) -> QuerySet[Asset]:
    """The assets detectors read as images: images, and the frames of extracted videos.

    The one place for that rule: training sets, scoring and the review labels all start
    here, so a video file is never decoded as an image, and the frames of a video whose
    extraction is still running (or failed) are not used until it is done.
    """
    return Asset.objects.filter(site=site).filter(
        Q(media_type=MediaType.IMAGE)
        | Q(media_type=MediaType.FRAME, source_video__video__status=JobStatus.SUCCEEDED)
    )


def assets_of(
    site: Site,
    *,
    purpose: str | None = None,
    flag_status: str | None = None,
    media_type: str | None = None,
) -> QuerySet[Asset]:
    """A site's assets for lists: images and videos; frames only when asked for.

    A video's frames are listed with it (``/api/assets/{id}/frame-scores/``), not one by
    one among the images.
    """
    assets = (
        Asset.objects.filter(site=site)
        .select_related("video")
        .annotate(n_frames=Count("frames", distinct=True))
    )
    if media_type:
        assets = assets.filter(media_type=media_type)
    else:
        assets = assets.exclude(media_type=MediaType.FRAME)
    if purpose:
        assets = assets.filter(purpose=purpose)
    if flag_status:
        assets = assets.filter(
            Exists(Flag.objects.filter(score__asset=OuterRef("pk"), status=flag_status))
            | Exists(Flag.objects.filter(video=OuterRef("pk"), status=flag_status))
        )
    return assets.order_by("-id")


def uploads_of(site: Site) -> QuerySet[Upload]:
    return Upload.objects.filter(site=site).order_by("-id")


def assets_of_upload(upload: Upload) -> QuerySet[Asset]:
    """An upload's images and videos, without the frames extracted from its videos."""
    return upload.assets.exclude(media_type=MediaType.FRAME).order_by("id")


def recent_uploads(site: Site, limit: int = 10) -> list[Upload]:
    """The latest uploads of a site, each with ``n_assets`` (how many files were stored;
    a video counts once, not once per extracted frame)."""
    files = Count("assets", filter=~Q(assets__media_type=MediaType.FRAME))
    uploads = uploads_of(site).select_related("created_by").annotate(n_assets=files)
    return list(uploads[:limit])


def filenames_of(site: Site, asset_ids: Iterable[int]) -> dict[int, str]:
    """``{asset id: filename}`` for those of ``asset_ids`` that belong to ``site``."""
    rows = Asset.objects.filter(site=site, pk__in=list(asset_ids)).values_list("id", "filename")
    return dict(rows)


def read_asset_bytes(asset: Asset) -> bytes:
    with asset.file.open("rb") as handle:
        return handle.read()


class AssetImages(Sequence[np.ndarray]):
    """A lazy sequence of asset images: each is read from storage when indexed.

    Detectors index into it batch by batch, so training on 10,000 images never holds them
    all in memory.
    """

    def __init__(self, assets: Sequence[Asset]) -> None:
        self.assets = list(assets)

    def __len__(self) -> int:
        return len(self.assets)

    @overload
    def __getitem__(self, index: int) -> np.ndarray: ...
    @overload
    def __getitem__(self, index: slice) -> AssetImages: ...
    def __getitem__(self, index: int | slice) -> np.ndarray | AssetImages:
        if isinstance(index, slice):
            return AssetImages(self.assets[index])
        return decode_image(read_asset_bytes(self.assets[index]))


def asset_with_site(asset_id: int) -> Asset | None:
    return (
        Asset.objects.select_related("site", "upload", "video", "source_video")
        .filter(pk=asset_id)
        .first()
    )


def frames_of(video: Asset) -> QuerySet[Asset]:
    """The kept frames of a video asset, in time order."""
    return Asset.objects.filter(source_video=video).order_by("frame_index")


def frame_scores(video: Asset, version_id: int) -> list[tuple[int, int, float, float]]:
    """``(frame asset id, frame index, timestamp s, score)`` of a video's frames by a version."""
    rows = (
        Score.objects.filter(asset__source_video=video, version_id=version_id)
        .order_by("asset__frame_index")
        .values_list("asset_id", "asset__frame_index", "asset__timestamp_s", "score")
    )
    return list(rows)


def versions_that_scored(video: Asset) -> list[int]:
    """Ids of the versions that scored frames of the video, newest first."""
    return list(
        Score.objects.filter(asset__source_video=video)
        .order_by("-version__number")
        .values_list("version_id", flat=True)
        .distinct()
    )


def scores_of(asset: Asset) -> list[Score]:
    """Every version's score of the asset, newest version first, with its flag if any."""
    return list(
        Score.objects.filter(asset=asset)
        .select_related("version", "flag", "flag__reviewer")
        .order_by("-version__number")
    )


def read_mask(asset: Asset) -> np.ndarray | None:
    """The asset's defect mask as a 0/255 uint8 array, or None when it has none."""
    if not asset.mask:
        return None
    with asset.mask.open("rb") as handle:
        data = np.frombuffer(handle.read(), np.uint8)
    return cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)


def frame_scores_payload(video: Asset, version_id: str | int | None) -> dict[str, Any]:
    """The score curve of a video: every kept frame with its score by one version (the
    one asked for, else the newest that scored it), the threshold and the segments."""
    from webapp.detectors.models import DetectorVersion

    info = video.video
    scored_by = versions_that_scored(video)
    version = None
    if version_id not in (None, ""):
        try:
            wanted = int(version_id)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValidationError({"version": "version must be a version id"}) from None
        version = DetectorVersion.objects.filter(pk=wanted, site_id=video.site_id).first()
        if version is None:
            raise ValidationError({"version": f"no version {wanted} on this site"})
    elif scored_by:
        version = DetectorVersion.objects.get(pk=scored_by[0])
    scores = (
        dict(
            Score.objects.filter(asset__source_video=video, version=version).values_list(
                "asset_id", "score"
            )
        )
        if version
        else {}
    )
    frames = [
        {"asset": pk, "index": index, "t": t, "score": scores.get(pk)}
        for pk, index, t in frames_of(video).values_list("id", "frame_index", "timestamp_s")
    ]
    flags = Flag.objects.filter(video=video).select_related("score__asset", "score__version")
    segments = [
        {
            "flag": flag.pk,
            "status": flag.status,
            "version": flag.score.version_id,
            "start_frame": flag.start_frame,
            "end_frame": flag.end_frame,
            "peak_frame": flag.score.asset.frame_index,
            "peak_score": flag.score.score,
            "start_s": (flag.start_frame or 0) / info.fps,
            "end_s": ((flag.end_frame or 0) + 1) / info.fps,
        }
        for flag in flags.order_by("start_frame", "id")
    ]
    return {
        "video": video.pk,
        "version": version.pk if version else None,
        "version_number": version.number if version else None,
        "threshold": version.threshold if version else None,
        "fps": info.fps,
        "duration_s": info.duration_s,
        "versions": scored_by,
        "frames": frames,
        "segments": segments,
    }


def name_key(filename: str) -> str:
    """``dir/NAME`` of ``dir/NAME.ext``: how a mask or truth file finds its asset."""
    path = PurePosixPath(filename)
    return str(path.with_name(path.stem))


def companion_asset(
    site: Site, key: str, media_type: str, in_upload: Iterable[Asset]
) -> Asset | None:
    """The asset of ``media_type`` named ``key``.* a side file (mask, frame truth) belongs to.

    One in the same upload first; else the only one stored earlier on the site (None when
    there is none, or several and the name does not say which).
    """
    for asset in in_upload:
        if asset.media_type == media_type and name_key(asset.filename) == key:
            return asset
    earlier = [
        a
        for a in Asset.objects.filter(
            site=site, media_type=media_type, filename__startswith=f"{key}."
        )
        if name_key(a.filename) == key
    ]
    return earlier[0] if len(earlier) == 1 else None
