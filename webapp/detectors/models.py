"""Detector versions (one trained model of a site) and scoring jobs."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from webapp.common.jobs import ClaimedJob, JobStatus
from webapp.sites.models import Site

__all__ = ["DetectorVersion", "JobStatus", "ScoringChunk", "ScoringJob", "ThresholdMethod"]


class ThresholdMethod(models.TextChoices):
    FPR = "fpr", "Target false-alarm rate, guaranteed on unseen normals"
    F1 = "f1", "F1-optimal on calibration normals and confirmed anomalies"
    FIXED = "fixed", "Fixed by the admin"


def artefact_path(version: DetectorVersion, filename: str) -> str:
    return f"sites/{version.site.slug}/versions/{version.pk}/{filename}"


class DetectorVersion(ClaimedJob):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(help_text="1, 2, 3... per site.")
    kind = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True)
    threshold_method = models.CharField(
        max_length=8, choices=ThresholdMethod.choices, default=ThresholdMethod.FPR
    )
    target_fpr = models.FloatField(default=0.01)
    fixed_threshold = models.FloatField(null=True, blank=True)

    status = models.CharField(
        max_length=12, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    error = models.TextField(blank=True)
    progress = models.FloatField(default=0.0, help_text="0 to 1.")
    progress_message = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    artefact = models.FileField(upload_to=artefact_path, max_length=300, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    #: {"fit": [asset ids], "holdout": [...], "anomalies": [...]}: what it learnt from;
    #: "holdout" are normals it never saw (empty when calibrated by cross-fitting).
    manifest = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    #: {"holdout": [[asset id, score], ...], "anomalies": [...]}: for plots and reviews;
    #: "holdout" holds every calibration normal, scored by a model that never saw it.
    evaluation = models.JSONField(default=dict, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["site", "number"], name="unique_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.site.slug} v{self.number} ({self.kind})"

    @property
    def chosen_kind(self) -> str | None:
        """The kind an ``auto`` version chose, once trained (None for every other kind)."""
        return ((self.metrics or {}).get("auto") or {}).get("chosen")

    @property
    def is_active(self) -> bool:
        return self.site.active_version_id == self.pk


class ScoringJob(models.Model):
    """Scoring of a set of assets by one version, split into chunks for the workers."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="scoring_jobs")
    version = models.ForeignKey(DetectorVersion, on_delete=models.CASCADE, related_name="jobs")
    status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"scoring job {self.pk} ({self.status})"


class ScoringChunk(ClaimedJob):
    """One task's worth of a scoring job; claimed atomically so redelivery is harmless."""

    job = models.ForeignKey(ScoringJob, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    asset_ids = models.JSONField()
    status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.QUEUED)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="unique_chunk_index")]

    def __str__(self) -> str:
        return f"chunk {self.index} of job {self.job_id} ({self.status})"
