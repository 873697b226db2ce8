"""Writes on uploads: validate every file, keep the valid ones, say why others were refused."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO

import cv2
import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction

from detection.images import looks_like_mask
from detection.video_io import is_video_name
from webapp.assets import video_services
from webapp.assets.archives import ArchiveError, is_zip, iter_zip_members
from webapp.assets.image_validation import InvalidImage, sha256_hex, validate_image
from webapp.assets.models import Asset, MediaType, Purpose, Upload
from webapp.assets.selectors import companion_asset, name_key
from webapp.assets.video_validation import InvalidVideo
from webapp.sites import audit
from webapp.sites.models import AuditAction, Site

logger = logging.getLogger(__name__)

MASK_SUFFIX = "_mask"


@dataclasses.dataclass(frozen=True)
class IncomingFile:
    """One file of a request: its name and a readable binary handle."""

    name: str
    handle: IO[bytes]
    size: int | None = None


@dataclasses.dataclass
class UploadResult:
    upload: Upload | None
    assets: list[Asset]
    rejected: list[dict[str, str]]
    #: Assets that received a defect mask (``NAME_mask.png`` beside ``NAME.jpg``).
    masked: list[Asset] = dataclasses.field(default_factory=list)

    @property
    def videos(self) -> list[Asset]:
        return [asset for asset in self.assets if asset.media_type == MediaType.VIDEO]


@dataclasses.dataclass(frozen=True)
class _Candidate:
    filename: str
    data: bytes | None = None
    error: str | None = None
    #: A video is never held in memory: it waits in a temporary file to be probed.
    path: Path | None = None


def _expand(files: Iterable[IncomingFile], scratch: Path) -> Iterator[_Candidate]:
    """Each image or video of the request, zip archives opened member by member."""
    for incoming in files:
        name = PurePosixPath(incoming.name).name or "unnamed"
        head = incoming.handle.read(4)
        incoming.handle.seek(0)
        if is_zip(name, head):
            try:
                for member in iter_zip_members(
                    incoming.handle,
                    max_members=settings.MAX_ZIP_MEMBERS,
                    max_total_bytes=settings.MAX_ZIP_TOTAL_BYTES,
                    max_member_bytes=settings.MAX_IMAGE_BYTES,
                    max_ratio=settings.MAX_ZIP_RATIO,
                    max_video_bytes=settings.MAX_VIDEO_BYTES,
                ):
                    label = f"{name}/{member.name}"
                    if member.data is not None and is_video_name(member.name):
                        path = _scratch_file(scratch, member.name)
                        path.write_bytes(member.data)
                        yield _Candidate(label, path=path)
                    else:
                        yield _Candidate(label, data=member.data, error=member.error)
            except ArchiveError as exc:
                yield _Candidate(name, error=str(exc))
            continue
        if is_video_name(name):
            yield _video_candidate(incoming, name, scratch)
            continue
        if incoming.size is not None and incoming.size > settings.MAX_IMAGE_BYTES:
            yield _Candidate(name, error=_too_big(incoming.size))
            continue
        data = incoming.handle.read(settings.MAX_IMAGE_BYTES + 1)
        if len(data) > settings.MAX_IMAGE_BYTES:
            yield _Candidate(name, error=_too_big(None))
        else:
            yield _Candidate(name, data=data)


def _scratch_file(scratch: Path, name: str) -> Path:
    return scratch / f"{uuid.uuid4().hex}{PurePosixPath(name).suffix.lower()}"


def _video_candidate(incoming: IncomingFile, name: str, scratch: Path) -> _Candidate:
    """Copy the video to a temporary file in chunks, stopping at the size cap."""
    limit = settings.MAX_VIDEO_BYTES
    if incoming.size is not None and incoming.size > limit:
        return _Candidate(name, error=_too_big(incoming.size, video=True))
    path = _scratch_file(scratch, name)
    copied = 0
    with path.open("wb") as out:
        while chunk := incoming.handle.read(1024**2):
            copied += len(chunk)
            if copied > limit:
                return _Candidate(name, error=_too_big(None, video=True))
            out.write(chunk)
    return _Candidate(name, path=path)


def _too_big(size: int | None, *, video: bool = False) -> str:
    limit = (settings.MAX_VIDEO_BYTES if video else settings.MAX_IMAGE_BYTES) / 1024**2
    shown = f" ({size / 1024**2:.1f} MiB)" if size else ""
    kind = "video" if video else "image"
    return f"file too large{shown}; the limit per {kind} is {limit:.0f} MiB"


def create_upload(
    *,
    site: Site,
    user: AbstractBaseUser | None,
    purpose: str,
    files: Iterable[IncomingFile],
) -> UploadResult:
    """Store every valid image and video of ``files`` as an asset of a new upload.

    Invalid files (corrupt, not an image or video, over a cap, duplicates, hostile archive
    members) are listed in ``rejected`` with the reason; valid files in the same request
    are kept. Files are validated and stored one at a time (never all in memory, no long
    lock on the database). When nothing at all is valid, no upload is created and
    ``ValidationError`` is raised. Score uploads are then queued for scoring by the site's
    active version; videos are only probed here and queued for frame extraction, whose
    worker queues their frames for scoring when it is done.
    """
    if purpose not in Purpose.values:
        raise ValidationError({"purpose": f"purpose must be one of {', '.join(Purpose.values)}."})
    files = list(files)
    if not files:
        raise ValidationError({"files": "No files were sent; attach one or more images or a .zip."})

    upload: Upload | None = None
    assets: list[Asset] = []
    rejected: list[dict[str, str]] = []
    stored: dict[str, str] = {}  # checksum -> filename, within this upload
    masks: dict[str, _Candidate] = {}  # image key -> mask candidate, attached at the end
    truths: dict[str, _Candidate] = {}  # video key -> frame truth, attached at the end
    #: black-and-white NAME.png files: masks if a NAME.<other> photo comes in the upload too
    maybe_masks: list[_Candidate] = []
    with tempfile.TemporaryDirectory(prefix="upload-") as scratch:
        for candidate in _expand(files, Path(scratch)):
            error = candidate.error
            if error is None and mask_key(candidate.filename) is not None:
                masks[mask_key(candidate.filename)] = candidate  # type: ignore[index]
                continue
            if error is None and _maybe_sibling_mask(candidate):
                maybe_masks.append(candidate)
                continue
            if error is None and truth_key(candidate.filename) is not None:
                truths[truth_key(candidate.filename)] = candidate  # type: ignore[index]
                continue
            try:
                if error is None and candidate.path is not None:
                    upload, asset = video_services.store_video(
                        site=site,
                        purpose=purpose,
                        user=user,
                        upload=upload,
                        filename=candidate.filename,
                        path=candidate.path,
                        stored=stored,
                    )
                    assets.append(asset)
                    continue
                if error is None and candidate.data is not None:
                    upload, asset = _store_candidate(site, purpose, user, upload, candidate, stored)
                    assets.append(asset)
                    continue
            except (InvalidImage, InvalidVideo) as exc:
                error = str(exc)
            rejected.append({"filename": candidate.filename, "error": error or "empty file"})
        for candidate in maybe_masks:
            key = name_key(candidate.filename)
            if any(a.media_type == MediaType.IMAGE and name_key(a.filename) == key for a in assets):
                masks.setdefault(key, candidate)  # an explicit NAME_mask.png wins
                continue
            try:  # no photo of that name: a black-and-white image, stored as one
                upload, asset = _store_candidate(site, purpose, user, upload, candidate, stored)
                assets.append(asset)
            except InvalidImage as exc:
                rejected.append({"filename": candidate.filename, "error": str(exc)})

    masked = _attach_masks(site, assets, masks, rejected)
    masked += video_services.attach_truth_files(site, assets, truths, rejected)
    if upload is None and masked:  # masks or frame truth only, for assets uploaded earlier
        upload = Upload.objects.create(site=site, purpose=purpose, created_by=user)
    if upload is None:
        details = "; ".join(f"{r['filename']}: {r['error']}" for r in rejected[:20])
        raise ValidationError({"files": f"None of the files could be stored. {details}"})
    upload.rejected = rejected
    upload.save(update_fields=["rejected"])
    audit.record(
        site=site,
        actor=user,
        action=AuditAction.UPLOAD,
        object_type="upload",
        object_id=upload.pk,
        summary=f"uploaded {len(assets)} files for {purpose} ({len(rejected)} refused)",
        details={
            "purpose": purpose,
            "stored": len(assets),
            "rejected": len(rejected),
            "masked": len(masked),
            "filenames": [a.filename for a in assets[:50]],
        },
    )
    images = [asset for asset in assets if asset.media_type == MediaType.IMAGE]
    if purpose == Purpose.SCORE and site.active_version_id and images:
        from webapp.detectors.services import request_scoring

        request_scoring(site=site, version=site.active_version, assets=images)
    logger.info(
        "upload %s to %s: %d stored, %d rejected", upload.pk, site.slug, len(assets), len(rejected)
    )
    return UploadResult(upload=upload, assets=assets, rejected=rejected, masked=masked)


def mask_key(filename: str) -> str | None:
    """``dir/NAME`` for a mask file named ``dir/NAME_mask.<ext>``, else None."""
    path = PurePosixPath(filename)
    if not path.stem.endswith(MASK_SUFFIX):
        return None
    return str(path.with_name(path.stem[: -len(MASK_SUFFIX)]))


def _maybe_sibling_mask(candidate: _Candidate) -> bool:
    """A ``.png`` that is black and white: the mask of ``NAME.jpg`` if that comes too."""
    return (
        candidate.data is not None
        and PurePosixPath(candidate.filename).suffix.lower() == ".png"
        and looks_like_mask(candidate.data)
    )


def truth_key(filename: str) -> str | None:
    """``dir/NAME`` for frame truth named ``dir/NAME.truth.csv`` (or ``.truth.json``)."""
    path = PurePosixPath(filename)
    if path.suffix.lower() not in (".csv", ".json") or not path.stem.endswith(".truth"):
        return None
    return str(path.with_name(path.stem[: -len(".truth")]))


def _attach_masks(
    site: Site, assets: list[Asset], masks: dict[str, _Candidate], rejected: list[dict[str, str]]
) -> list[Asset]:
    """Give each mask to the image of the same name: in this upload, else already stored."""
    masked = []
    for key, candidate in masks.items():
        asset = companion_asset(site, key, MediaType.IMAGE, assets)
        try:
            if asset is None:
                raise InvalidImage(
                    f"no image named {PurePosixPath(key).name}.* for this mask, in this upload "
                    "or earlier ones"
                )
            attach_mask(asset=asset, data=candidate.data or b"")
            masked.append(asset)
        except InvalidImage as exc:
            rejected.append({"filename": candidate.filename, "error": str(exc)})
    return masked


def attach_mask(*, asset: Asset, data: bytes) -> Asset:
    """Store a defect mask for ``asset`` (any non-black pixel = defect), replacing any other.

    Raises InvalidImage when it does not decode or its size differs from the image's.
    """
    validate_image(  # the same guards as images: format, pixel cap, decodable
        data,
        filename="mask",
        max_pixels=settings.MAX_IMAGE_PIXELS,
        max_bytes=settings.MAX_IMAGE_BYTES,
    )
    mask = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if mask.shape != (asset.height, asset.width):
        raise InvalidImage(
            f"mask is {mask.shape[1]}x{mask.shape[0]} but the image is {asset.width}x{asset.height}"
        )
    _, png = cv2.imencode(".png", np.where(mask > 0, 255, 0).astype(np.uint8))
    if asset.mask:
        asset.mask.delete(save=False)
    asset.mask.save("mask.png", ContentFile(png.tobytes()), save=False)
    asset.save(update_fields=["mask"])
    return asset


def remove_mask(*, asset: Asset) -> Asset:
    if asset.mask:
        asset.mask.delete(save=False)
        asset.save(update_fields=["mask"])
    return asset


def _store_candidate(
    site: Site,
    purpose: str,
    user: AbstractBaseUser | None,
    upload: Upload | None,
    candidate: _Candidate,
    stored: dict[str, str],
) -> tuple[Upload, Asset]:
    """Validate one image and store it as an asset; raises InvalidImage with the reason."""
    data = candidate.data or b""
    info = validate_image(
        data,
        filename=candidate.filename,
        max_pixels=settings.MAX_IMAGE_PIXELS,
        max_bytes=settings.MAX_IMAGE_BYTES,
    )
    checksum = sha256_hex(data)
    if checksum in stored:
        raise InvalidImage(f"duplicate of {stored[checksum]} in this upload")
    existing = (
        Asset.objects.filter(site=site, checksum=checksum)
        .exclude(media_type=MediaType.FRAME)
        .values_list("id", flat=True)
        .first()
    )
    if existing is not None:
        raise InvalidImage(f"duplicate: this image is already asset {existing} of this site")
    with transaction.atomic():
        if upload is None:
            upload = Upload.objects.create(site=site, purpose=purpose, created_by=user)
        asset = Asset(
            site=site,
            upload=upload,
            purpose=purpose,
            filename=candidate.filename[:255],
            checksum=checksum,
            size_bytes=len(data),
            width=info.width,
            height=info.height,
            image_format=info.format,
        )
        asset.file.save(candidate.filename, ContentFile(data), save=False)
        asset.save()
    stored[checksum] = candidate.filename
    return upload, asset


@transaction.atomic
def set_asset_label(*, asset: Asset, label: str) -> Asset:
    asset.label = label.strip()[:100]
    asset.save(update_fields=["label"])
    return asset
