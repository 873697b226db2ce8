"""Flags with chosen opening and decision times, made in bulk for the dashboard's tests.

The dashboard reads rows only (no pixels), so assets here are rows without files: a
thousand flags take a second, not the minutes that real uploads and scoring would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from webapp.assets.models import Asset, MediaType, Purpose, Upload
from webapp.detectors.models import DetectorVersion, JobStatus
from webapp.review.models import Flag, FlagStatus, Score
from webapp.sites.models import Site


@dataclass(frozen=True)
class FlagSpec:
    opened: datetime
    status: str = FlagStatus.PENDING
    reviewer: object = None  # a user, for confirmed and rejected flags
    decided: datetime | None = None


def bare_assets(
    site: Site,
    count: int,
    *,
    purpose: str = Purpose.SCORE,
    media_type: str = MediaType.IMAGE,
    created: datetime | None = None,
) -> list[Asset]:
    """``count`` asset rows without files (enough for counting), in one upload."""
    upload = Upload.objects.create(site=site, purpose=purpose)
    first = Asset.objects.filter(site=site).count()
    assets = Asset.objects.bulk_create(
        Asset(
            site=site,
            upload=upload,
            purpose=purpose,
            media_type=media_type,
            file=f"bare/{site.slug}/{first + i}.png",
            filename=f"photo-{first + i:05d}.png",
            checksum=f"{site.pk:08x}{first + i:056x}",
            size_bytes=1,
            width=8,
            height=8,
            image_format="PNG",
        )
        for i in range(count)
    )
    if created is not None:
        for asset in assets:
            asset.created_at = created
        Asset.objects.bulk_update(assets, ["created_at"])
    return assets


def version_of(site: Site, number: int = 1, **fields: object) -> DetectorVersion:
    values: dict[str, object] = {
        "kind": "histogram_iforest",
        "status": JobStatus.SUCCEEDED,
        "progress": 1.0,
        "threshold": 0.5,
    }
    values.update(fields)
    return DetectorVersion.objects.create(site=site, number=number, **values)


def make_flags(site: Site, version: DetectorVersion, specs: list[FlagSpec]) -> list[Flag]:
    """One flag per spec on a new bare image (uploaded when its flag opened), opened and
    decided when the spec says."""
    assets = bare_assets(site, len(specs))
    scores = Score.objects.bulk_create(
        Score(asset=asset, version=version, score=0.9, threshold=0.5, is_flagged=True)
        for asset in assets
    )
    flags = Flag.objects.bulk_create(
        Flag(
            site=site,
            score=score,
            status=spec.status,
            reviewer=spec.reviewer,
            reviewed_at=spec.decided,
            score_value=score.score,
        )
        for score, spec in zip(scores, specs, strict=True)
    )
    # auto_now_add set "now" on create; bulk_update writes the chosen times as they are
    for asset, flag, spec in zip(assets, flags, specs, strict=True):
        asset.created_at = flag.created_at = spec.opened
    Asset.objects.bulk_update(assets, ["created_at"])
    Flag.objects.bulk_update(flags, ["created_at"])
    return flags
