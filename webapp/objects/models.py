"""Objects in a site's images: the site's class list and the boxes people drew.

A box belongs to one asset and one class of the asset's site; coordinates are image pixels,
``x``/``y`` the top-left corner (as :class:`detection.objects.LabelledBox` and COCO). Boxes
are rows (not a JSON list on the asset) so that classes can be renamed in one place, a
class in use cannot vanish under its boxes, and "images nobody has labelled" is a query.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower

from webapp.sites.models import Site

colour_validator = RegexValidator(r"^#[0-9a-fA-F]{6}$", "a colour is #rrggbb, e.g. #1f77b4")


class ObjectClass(models.Model):
    """One class of object a site knows, with the site's rules for it per image."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="object_classes")
    name = models.CharField(max_length=100)
    colour = models.CharField(max_length=7, validators=[colour_validator])
    expected = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="How many of this class every image should show (empty: any number).",
    )
    forbidden = models.BooleanField(
        default=False, help_text="Seeing this class at all flags the image."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]  # creation order: number keys 1-9 on the labelling page
        constraints = [
            models.UniqueConstraint("site", Lower("name"), name="unique_object_class_name_per_site")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.site.slug})"


class Box(models.Model):
    """A labelled object in an asset, in image pixels."""

    asset = models.ForeignKey("assets.Asset", on_delete=models.CASCADE, related_name="boxes")
    object_class = models.ForeignKey(ObjectClass, on_delete=models.PROTECT, related_name="boxes")
    x = models.FloatField()
    y = models.FloatField()
    w = models.FloatField()
    h = models.FloatField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["asset", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(w__gt=0, h__gt=0, x__gte=0, y__gte=0),
                name="box_positive_inside",
            )
        ]

    def __str__(self) -> str:
        return f"{self.object_class.name} at ({self.x:g}, {self.y:g}) in asset {self.asset_id}"
