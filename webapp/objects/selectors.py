"""Reads on a site's object classes and the boxes of its assets."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Count, Exists, OuterRef, QuerySet

from detection.objects import ClassRule, LabelledBox
from webapp.assets.models import Asset
from webapp.objects.models import Box, ObjectClass
from webapp.sites.models import Site


def classes_of(site: Site) -> QuerySet[ObjectClass]:
    """The site's classes in creation order, each with ``n_boxes`` (boxes drawn of it)."""
    return ObjectClass.objects.filter(site=site).annotate(n_boxes=Count("boxes")).order_by("id")


def class_with_site(class_id: int) -> ObjectClass | None:
    return ObjectClass.objects.select_related("site").filter(pk=class_id).first()


def class_names(site: Site) -> list[str]:
    return list(ObjectClass.objects.filter(site=site).order_by("id").values_list("name", flat=True))


def class_rules(site: Site) -> dict[str, ClassRule]:
    """The site's rules per class name (classes without a rule are left out)."""
    rows = ObjectClass.objects.filter(site=site).exclude(expected=None, forbidden=False)
    return {
        row.name: ClassRule(expected=row.expected, forbidden=row.forbidden)
        for row in rows.order_by("id")
    }


def boxes_of(asset: Asset) -> list[Box]:
    return list(Box.objects.filter(asset=asset).select_related("object_class").order_by("id"))


def labelled_boxes(assets: Sequence[Asset]) -> list[list[LabelledBox]]:
    """The boxes of each asset as ``LabelledBox`` lists, in the assets' order (one query)."""
    by_asset: dict[int, list[LabelledBox]] = {asset.pk: [] for asset in assets}
    rows = (
        Box.objects.filter(asset_id__in=list(by_asset))
        .order_by("asset_id", "id")
        .values_list("asset_id", "object_class__name", "x", "y", "w", "h")
    )
    for asset_id, label, x, y, w, h in rows:
        by_asset[asset_id].append(LabelledBox(label, x, y, w, h))
    return [by_asset[asset.pk] for asset in assets]


def count_boxes(assets: Sequence[Asset]) -> int:
    return Box.objects.filter(asset__in=list(assets)).count()


def assets_with_box_counts(site: Site) -> QuerySet[Asset]:
    return Asset.objects.filter(site=site).annotate(n_boxes=Count("boxes")).order_by("id")


def neighbour_unlabelled(asset: Asset) -> tuple[int | None, int | None]:
    """Ids of the previous and next asset of the same site that has no box yet."""
    unlabelled = Asset.objects.filter(site_id=asset.site_id).exclude(
        Exists(Box.objects.filter(asset=OuterRef("pk")))
    )
    previous = unlabelled.filter(pk__lt=asset.pk).order_by("-pk").values_list("pk", flat=True)
    following = unlabelled.filter(pk__gt=asset.pk).order_by("pk").values_list("pk", flat=True)
    return previous.first(), following.first()


def neighbour_assets(asset: Asset) -> tuple[int | None, int | None]:
    """Ids of the previous and next asset of the same site (labelled or not)."""
    same_site = Asset.objects.filter(site_id=asset.site_id)
    previous = same_site.filter(pk__lt=asset.pk).order_by("-pk").values_list("pk", flat=True)
    following = same_site.filter(pk__gt=asset.pk).order_by("pk").values_list("pk", flat=True)
    return previous.first(), following.first()


def unlabelled_count(site: Site) -> int:
    return (
        Asset.objects.filter(site=site)
        .exclude(Exists(Box.objects.filter(asset=OuterRef("pk"))))
        .count()
    )


def first_unlabelled(site: Site) -> int | None:
    return (
        Asset.objects.filter(site=site)
        .exclude(Exists(Box.objects.filter(asset=OuterRef("pk"))))
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )


#: The object figures of a version's metrics (``metrics["objects"]``), in the order shown.
OBJECT_METRICS = (
    ("map_50", "Known classes: mAP@0.5", "COCO mAP of the known classes on held-out images."),
    ("map_50_95", "Known classes: mAP@[.5:.95]", "COCO mAP averaged over IoU 0.5 to 0.95."),
    (
        "unknown_image_auroc",
        "Unknown objects: image AUROC",
        "How well the image score tells images with an unknown object apart.",
    ),
    (
        "unknown_recall",
        "Unknown objects: recall",
        "Share of unknown objects found and located above the threshold.",
    ),
    (
        "open_set_error",
        "Open-set error",
        "Unknown objects taken for a known class (absolute count).",
    ),
    ("n_known_objects", "Known objects evaluated", ""),
    ("n_unknown_objects", "Unknown objects evaluated", ""),
)


def object_metric_rows(metrics: dict | None) -> list[dict]:
    """``[{key, title, help, value}]`` of an object kind's version metrics; [] for others.

    Unknown-object figures need confirmed anomalies with boxes of classes the version did
    not learn; they are ``None`` (shown as "—") until reviewers have given some.
    """
    objects = (metrics or {}).get("objects")
    if not isinstance(objects, dict):
        return []
    return [
        {"key": key, "title": title, "help": help_text, "value": objects.get(key)}
        for key, title, help_text in OBJECT_METRICS
    ]
