"""Uploads (batches) and the assets in them: images, videos and the frames kept of videos.

A video is an asset too (so ``/api/assets/{id}/...`` works for it), with its facts and its
extraction job in :class:`Video`. Each kept frame is an asset of media type ``frame``
linked to its video: every image detector trains on and scores frames as images. Which
assets hold pixels is decided in one place, ``webapp.assets.selectors.image_assets``.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from django.conf import settings
from django.db import models
from django.db.models import Q

from webapp.common.jobs import ClaimedJob, JobStatus
from webapp.sites.models import Site


class Purpose(models.TextChoices):
    TRAIN = "train", "Train (known normal)"
    SCORE = "score", "Score (new data to check)"


class MediaType(models.TextChoices):
    IMAGE = "image", "Image"
    VIDEO = "video", "Video"
    FRAME = "frame", "Video frame"


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
    """Content-addressed path: the same image is never stored twice per site.

    Frames are stored per video and index instead: a static camera gives byte-identical
    frames, which must still be distinct assets.
    """
    suffix = PurePosixPath(filename).suffix.lower() or ".img"
    if asset.media_type == MediaType.FRAME:
        return f"sites/{asset.site.slug}/videos/{asset.source_video_id}/frames/{filename}"
    return f"sites/{asset.site.slug}/assets/{asset.checksum[:2]}/{asset.checksum}{suffix}"


def preview_path(video: Video, filename: str) -> str:
    return f"sites/{video.asset.site.slug}/videos/{video.asset_id}/{filename}"


def mask_path(asset: Asset, filename: str) -> str:
    return f"sites/{asset.site.slug}/masks/{asset.checksum[:2]}/{asset.checksum}.png"


class Asset(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="assets")
    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="assets")
    purpose = models.CharField(max_length=8, choices=Purpose.choices, db_index=True)
    media_type = models.CharField(
        max_length=8, choices=MediaType.choices, default=MediaType.IMAGE, db_index=True
    )
    #: For frames: the video asset they were taken from, their 0-based index in decoding
    #: order and their time in the video.
    source_video = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="frames"
    )
    frame_index = models.PositiveIntegerField(null=True, blank=True)
    timestamp_s = models.FloatField(null=True, blank=True)
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
            models.UniqueConstraint(
                fields=["site", "checksum"],
                condition=~Q(media_type="frame"),
                name="unique_image_per_site",
            ),
            # Extraction stores each frame once, however often it is run or resumed.
            models.UniqueConstraint(
                fields=["source_video", "frame_index"],
                condition=Q(source_video__isnull=False),
                name="unique_frame_per_video",
            ),
        ]
        indexes = [
            models.Index(fields=["site", "purpose"]),
            models.Index(fields=["source_video", "frame_index"]),
        ]

    def __str__(self) -> str:
        return f"{self.filename} ({self.site.slug})"


class Video(ClaimedJob):
    """What a video asset holds, how its frames were sampled, and its extraction job.

    ``status`` is the extraction job's (:class:`JobStatus`, claimed like every job);
    the API and pages say ``extracting`` / ``ready`` / ``failed``
    (:attr:`extraction_status`).
    """

    asset = models.OneToOneField(
        Asset, primary_key=True, on_delete=models.CASCADE, related_name="video"
    )
    fps = models.FloatField()
    frame_count = models.PositiveIntegerField()
    duration_s = models.FloatField()
    codec = models.CharField(max_length=16)
    sample_fps = models.FloatField(help_text="Frames kept per second (0 = every frame).")
    expected_frames = models.PositiveIntegerField(help_text="How many frames the sampling keeps.")

    status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    #: Downscaled WebM (VP8) of the kept frames for the browser: Chromium plays it, while
    #: OpenCV here cannot write the H.264 an mp4 would need.
    preview = models.FileField(upload_to=preview_path, max_length=300, blank=True)
    preview_fps = models.FloatField(default=0.0)
    #: Frame truth, ``{"frame index": 0 or 1}`` (1 = abnormal), for evaluation.
    truth = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"video {self.asset_id} ({self.status})"

    @property
    def extraction_status(self) -> str:
        if self.status == JobStatus.SUCCEEDED:
            return "ready"
        if self.status == JobStatus.FAILED:
            return "failed"
        return "extracting"
