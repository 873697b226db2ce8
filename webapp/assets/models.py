"""Uploads (batches) and the assets (images) in them."""

from __future__ import annotations

from pathlib import PurePosixPath

from django.conf import settings
from django.db import models

from webapp.sites.models import Site


class Purpose(models.TextChoices):
    TRAIN = "train", "Train (known normal)"
    SCORE = "score", "Score (new data to check)"


class Upload(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="uploads")
    purpose = models.CharField(max_length=8, choices=Purpose.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    #: [{filename, error}] for files that were refused, kept so the page can show them later.
    rejected = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"upload {self.pk} ({self.purpose}) to {self.site.slug}"


def asset_path(asset: Asset, filename: str) -> str:
    """Content-addressed path: the same image is never stored twice per site."""
    suffix = PurePosixPath(filename).suffix.lower() or ".img"
    return f"sites/{asset.site.slug}/assets/{asset.checksum[:2]}/{asset.checksum}{suffix}"


def mask_path(asset: Asset, filename: str) -> str:
    return f"sites/{asset.site.slug}/masks/{asset.checksum[:2]}/{asset.checksum}.png"


class Asset(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="assets")
    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="assets")
    purpose = models.CharField(max_length=8, choices=Purpose.choices, db_index=True)
    file = models.FileField(upload_to=asset_path, max_length=300)
    filename = models.CharField(max_length=255, help_text="Name as uploaded (path inside a zip).")
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the file bytes.")
    size_bytes = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    image_format = models.CharField(max_length=16)
    label = models.CharField(
        max_length=100, blank=True, help_text="Optional class label (e.g. plant species)."
    )
    #: Where the defect is (white) when known: for pixel-level evaluation of heatmaps.
    mask = models.FileField(upload_to=mask_path, max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["site", "checksum"], name="unique_image_per_site")
        ]
        indexes = [models.Index(fields=["site", "purpose"])]

    def __str__(self) -> str:
        return f"{self.filename} ({self.site.slug})"
