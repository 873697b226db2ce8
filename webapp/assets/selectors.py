"""Reads on uploads and assets, and loading asset images for the detectors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import overload

import cv2
import numpy as np
from django.db.models import Count, Exists, OuterRef, QuerySet

from detection.images import decode_image
from webapp.assets.models import Asset, Upload
from webapp.review.models import Flag, Score
from webapp.sites.models import Site


def assets_of(
    site: Site, *, purpose: str | None = None, flag_status: str | None = None
) -> QuerySet[Asset]:
    assets = Asset.objects.filter(site=site)
    if purpose:
        assets = assets.filter(purpose=purpose)
    if flag_status:
        assets = assets.filter(
            Exists(Flag.objects.filter(score__asset=OuterRef("pk"), status=flag_status))
        )
    return assets.order_by("-id")


def uploads_of(site: Site) -> QuerySet[Upload]:
    return Upload.objects.filter(site=site).order_by("-id")


def recent_uploads(site: Site, limit: int = 10) -> list[Upload]:
    """The latest uploads of a site, each with ``n_assets`` (how many files were stored)."""
    uploads = uploads_of(site).select_related("created_by").annotate(n_assets=Count("assets"))
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
    return Asset.objects.select_related("site", "upload").filter(pk=asset_id).first()


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
