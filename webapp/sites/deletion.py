"""Deleting assets, uploads, detector versions and whole sites, with what goes with them.

What a deletion takes with it:

- an **asset**: its file and defect mask; a video also its preview and every extracted
  frame (with their files); the scores of all of these (heatmaps included), the flags on
  them and their reviews, the boxes drawn on them. Versions that trained on or were
  evaluated against the asset keep its id in their manifest and evaluation: they are
  history, and the id then names nothing.
- an **upload**: every asset of it, as above.
- a **version**: its artefact file, its scores and their heatmaps, the flags it raised
  (with their reviews) and its scoring jobs. The site's active version is refused (409):
  activate another first.
- a **site**: everything under it (members, uploads, assets, versions, flags, classes and
  boxes), files included.

Running jobs: a deletion is refused (409) while a job is *running* on what it would take
(a training of the site for assets, uploads and the site; a scoring chunk of the assets or
the version; a video's frame extraction). Jobs still *queued* are cancelled cleanly: their
rows go with the deletion, and a worker that later receives the task finds nothing to claim
(chunks skip assets that are gone).

Files are removed from storage only after the transaction commits
(``transaction.on_commit``), so a deletion that rolls back loses nothing. Every deletion
writes an audit entry naming what was deleted and the counts.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q, QuerySet

from webapp.assets.models import Asset, MediaType, Upload, Video
from webapp.common.errors import Conflict
from webapp.common.jobs import JobStatus
from webapp.detectors.models import DetectorVersion, ScoringChunk
from webapp.objects.models import Box
from webapp.review.models import REVIEWED, Flag, PendingFlagCount, Score
from webapp.sites import audit
from webapp.sites.models import AuditAction, Site

logger = logging.getLogger(__name__)

Actor = AbstractBaseUser | AnonymousUser | None


@dataclasses.dataclass(frozen=True)
class Impact:
    """What a deletion would take with it, shown on the confirmation page and audited."""

    images: int = 0
    videos: int = 0
    frames: int = 0
    scores: int = 0
    flags: int = 0
    reviews: int = 0
    versions: int = 0
    uploads: int = 0
    members: int = 0
    files: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


# --- what goes --------------------------------------------------------------------------


def _with_frames(assets: QuerySet[Asset]) -> QuerySet[Asset]:
    """The assets and the frames of the videos among them."""
    ids = list(assets.values_list("pk", flat=True))
    return Asset.objects.filter(Q(pk__in=ids) | Q(source_video_id__in=ids))


def _asset_files(assets: QuerySet[Asset]) -> list[str]:
    names: list[str] = []
    for file, mask in assets.values_list("file", "mask"):
        names += [file, mask]
    names += Video.objects.filter(asset__in=assets).values_list("preview", flat=True)
    names += Score.objects.filter(asset__in=assets).values_list("heatmap", flat=True)
    return [name for name in names if name]


def _flags_of_assets(assets: QuerySet[Asset]) -> QuerySet[Flag]:
    return Flag.objects.filter(Q(score__asset__in=assets) | Q(video__in=assets))


def _assets_impact(assets: QuerySet[Asset]) -> tuple[Impact, list[str]]:
    flags = _flags_of_assets(assets)
    files = _asset_files(assets)
    impact = Impact(
        images=assets.filter(media_type=MediaType.IMAGE).count(),
        videos=assets.filter(media_type=MediaType.VIDEO).count(),
        frames=assets.filter(media_type=MediaType.FRAME).count(),
        scores=Score.objects.filter(asset__in=assets).count(),
        flags=flags.count(),
        reviews=flags.filter(status__in=REVIEWED).count(),
        files=len(files),
    )
    return impact, files


def asset_impact(asset: Asset) -> Impact:
    return _assets_impact(_with_frames(Asset.objects.filter(pk=asset.pk)))[0]


def upload_impact(upload: Upload) -> Impact:
    return _assets_impact(_with_frames(upload.assets.all()))[0]


def _version_files(version: DetectorVersion) -> list[str]:
    names = [version.artefact.name or ""]
    names += Score.objects.filter(version=version).values_list("heatmap", flat=True)
    return [name for name in names if name]


def version_impact(version: DetectorVersion) -> Impact:
    flags = Flag.objects.filter(score__version=version)
    return Impact(
        scores=Score.objects.filter(version=version).count(),
        flags=flags.count(),
        reviews=flags.filter(status__in=REVIEWED).count(),
        files=len(_version_files(version)),
    )


def _site_files(site: Site) -> list[str]:
    names = _asset_files(Asset.objects.filter(site=site))
    names += DetectorVersion.objects.filter(site=site).values_list("artefact", flat=True)
    return [name for name in names if name]


def site_impact(site: Site) -> Impact:
    assets = Asset.objects.filter(site=site)
    flags = Flag.objects.filter(site=site)
    return Impact(
        images=assets.filter(media_type=MediaType.IMAGE).count(),
        videos=assets.filter(media_type=MediaType.VIDEO).count(),
        frames=assets.filter(media_type=MediaType.FRAME).count(),
        scores=Score.objects.filter(asset__site=site).count(),
        flags=flags.count(),
        reviews=flags.filter(status__in=REVIEWED).count(),
        versions=site.versions.count(),
        uploads=site.uploads.count(),
        members=site.memberships.count(),
        files=len(_site_files(site)),
    )


# --- guards -----------------------------------------------------------------------------


def _lock_site(site: Site) -> Site:
    """Lock the site row: training requests and activations wait for the deletion."""
    return Site.objects.select_for_update().get(pk=site.pk)


def _refuse_while_training(site: Site, what: str) -> None:
    running = site.versions.filter(status=JobStatus.RUNNING).order_by("number").first()
    if running is not None:
        raise Conflict(
            f"Version {running.number} of '{site.slug}' is training and may be reading "
            f"{what}; wait until it has finished or failed, then delete."
        )


def _refuse_while_used(site: Site, assets: QuerySet[Asset], what: str) -> None:
    """409 while a job is running on any of ``assets``; queued jobs are just dropped."""
    _refuse_while_training(site, what)
    extracting = Video.objects.filter(asset__in=assets, status=JobStatus.RUNNING).first()
    if extracting is not None:
        raise Conflict(
            f"The frames of video {extracting.asset_id} are being extracted; wait until "
            "extraction has finished or failed, then delete."
        )
    ids = set(assets.values_list("pk", flat=True))
    for chunk in ScoringChunk.objects.filter(job__site=site, status=JobStatus.RUNNING):
        if ids.intersection(chunk.asset_ids):
            raise Conflict(
                f"Scoring job {chunk.job_id} is scoring {what} right now; wait until it has "
                "finished, then delete."
            )


def _remove_files_after_commit(names: Iterable[str]) -> None:
    """Delete the files from storage once the deletion has committed (never before)."""
    unique = sorted(set(names))
    if not unique:
        return

    def remove() -> None:
        for name in unique:
            try:
                default_storage.delete(name)
            except Exception:  # a file already gone or storage hiccup: the rows are gone
                logger.warning("could not delete %s from storage", name, exc_info=True)

    transaction.on_commit(remove)


def _delete_assets(assets: QuerySet[Asset]) -> list[str]:
    """Delete the rows (frames, scores, flags, boxes go with them); returns their files."""
    files = _asset_files(assets)
    ids = list(assets.values_list("pk", flat=True))
    _flags_of_assets(Asset.objects.filter(pk__in=ids)).delete()
    Asset.objects.filter(source_video_id__in=ids).delete()  # frames before their video
    Asset.objects.filter(pk__in=ids).delete()
    return files


# --- deletions ----------------------------------------------------------------------------


@transaction.atomic
def delete_asset(*, asset: Asset, actor: Actor) -> Impact:
    """Delete one asset (a video with its frames) and all that hangs on it."""
    site = _lock_site(asset.site)
    assets = _with_frames(Asset.objects.filter(pk=asset.pk))
    _refuse_while_used(site, assets, f"asset {asset.pk}")
    impact, _ = _assets_impact(assets)
    upload_id = asset.upload_id
    _remove_files_after_commit(_delete_assets(assets))
    audit.record(
        site=site,
        actor=actor,
        action=AuditAction.DELETION,
        object_type="asset",
        object_id=asset.pk,
        summary=f"deleted {asset.media_type} {asset.filename} (asset {asset.pk})",
        details={"filename": asset.filename, "upload": upload_id, **impact.as_dict()},
    )
    return impact


@transaction.atomic
def delete_upload(*, upload: Upload, actor: Actor) -> Impact:
    """Delete an upload with every asset in it (e.g. a wrong 'train' batch)."""
    site = _lock_site(upload.site)
    assets = _with_frames(upload.assets.all())
    _refuse_while_used(site, assets, f"upload {upload.pk}")
    impact, _ = _assets_impact(assets)
    files = _delete_assets(assets)
    upload_id, purpose = upload.pk, upload.purpose
    upload.delete()
    _remove_files_after_commit(files)
    audit.record(
        site=site,
        actor=actor,
        action=AuditAction.DELETION,
        object_type="upload",
        object_id=upload_id,
        summary=f"deleted {purpose} upload {upload_id} ({impact.images} images, "
        f"{impact.videos} videos, {impact.flags} flags)",
        details={"purpose": purpose, **impact.as_dict()},
    )
    return impact


@transaction.atomic
def delete_version(*, version: DetectorVersion, actor: Actor) -> Impact:
    """Delete a version with its artefact, scores and flags; never the active one."""
    site = _lock_site(version.site)
    version = DetectorVersion.objects.select_for_update().get(pk=version.pk)
    if site.active_version_id == version.pk:
        raise Conflict(
            f"Version {version.number} is the site's active version; activate another "
            "version first, then delete this one."
        )
    if version.status == JobStatus.RUNNING:
        raise Conflict(
            f"Version {version.number} is training; wait until it has finished or failed, "
            "then delete."
        )
    if ScoringChunk.objects.filter(job__version=version, status=JobStatus.RUNNING).exists():
        raise Conflict(
            f"Version {version.number} is scoring right now; wait until its scoring jobs "
            "have finished, then delete."
        )
    impact = version_impact(version)
    files = _version_files(version)
    number, kind, pk = version.number, version.kind, version.pk
    version.delete()
    _remove_files_after_commit(files)
    audit.record(
        site=site,
        actor=actor,
        action=AuditAction.DELETION,
        object_type="version",
        object_id=pk,
        summary=f"deleted version {number} ({kind})",
        details={"number": number, "kind": kind, **impact.as_dict()},
    )
    return impact


def confirm_slug(site: Site, confirmation: str | None) -> None:
    """A site is only deleted when its slug is typed out: 400 saying so otherwise."""
    if (confirmation or "").strip() != site.slug:
        raise ValidationError(
            {
                "confirm": f"To delete site '{site.slug}' and everything in it, confirm with "
                f"its slug: confirm={site.slug} (query string, form field or JSON body)."
            }
        )


@transaction.atomic
def delete_site(*, site: Site, actor: Actor, confirmation: str | None) -> Impact:
    """Delete a site and everything under it, files included; needs its slug typed out."""
    confirm_slug(site, confirmation)
    site = _lock_site(site)
    _refuse_while_training(site, "its images")
    busy: Any = (
        Video.objects.filter(asset__site=site, status=JobStatus.RUNNING).exists()
        or ScoringChunk.objects.filter(job__site=site, status=JobStatus.RUNNING).exists()
    )
    if busy:
        raise Conflict(
            f"Site '{site.slug}' has jobs running (scoring or frame extraction); wait until "
            "they have finished, then delete."
        )
    impact = site_impact(site)
    files = _site_files(site)
    # The entry outlives the site: its site link is set to NULL, site_slug keeps the name.
    audit.record(
        site=site,
        actor=actor,
        action=AuditAction.DELETION,
        object_type="site",
        object_id=site.slug,
        summary=f"deleted site {site.slug} ({site.name})",
        details={"name": site.name, **impact.as_dict()},
    )
    Box.objects.filter(asset__site=site).delete()  # boxes protect their classes
    Site.objects.filter(pk=site.pk).update(active_version=None)
    Flag.objects.filter(site=site).delete()
    Asset.objects.filter(site=site, source_video__isnull=False).delete()
    site_id = site.pk
    site.delete()
    PendingFlagCount.objects.filter(site_id=site_id).delete()  # (no foreign key: see there)
    _remove_files_after_commit(files)
    return impact
