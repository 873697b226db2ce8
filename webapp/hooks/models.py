"""Webhooks a site admin registers, and the log of their deliveries.

A :class:`Delivery` is one event sent to one hook: a job like a training (claimed, held,
retried; ``webapp.common.jobs``) whose body is fixed when the event happens, so every
attempt sends the same bytes. Each try is a :class:`DeliveryAttempt` row, for the log.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from webapp.common.jobs import ClaimedJob, JobStatus
from webapp.sites.models import Site


class WebhookEvent(models.TextChoices):
    FLAG_CREATED = "flag.created", "Flags created (new in the review queue)"
    FLAG_REVIEWED = "flag.reviewed", "Flag reviewed (confirmed or rejected)"
    FLAG_REVIEW_UNDONE = "flag.review_undone", "Review of a flag undone"
    TRAINING_SUCCEEDED = "training.succeeded", "Training finished"
    TRAINING_FAILED = "training.failed", "Training failed"
    SCORING_FINISHED = "scoring.finished", "Scoring job finished (or failed)"


#: The event of "send test event": sent to one hook whatever it subscribes to.
PING_EVENT = "ping"


class Webhook(models.Model):
    """A URL that receives the site's events of the kinds in ``events``, signed.

    The secret is kept as it is (not hashed): signing needs it. It is shown to the admin
    once, at creation and on rotation, and never listed again.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list, help_text="Event names (WebhookEvent values).")
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True, help_text="Inactive hooks are sent nothing.")
    secret = models.CharField(max_length=128)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["site", "id"]

    def __str__(self) -> str:
        return f"webhook {self.pk} of {self.site_id}: {self.url}"


class Delivery(ClaimedJob):
    """One event for one hook: queued, running (being sent), succeeded or failed."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32)
    #: Sent as X-Anomaly-Delivery, the same on every attempt: receivers drop duplicates.
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    body = models.TextField(help_text="The JSON body, exactly as sent (and signed).")
    status = models.CharField(
        max_length=12, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["webhook", "-created_at"])]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.event}, {self.status})"


class DeliveryAttempt(models.Model):
    """One POST of a delivery: its answer's status code, or the error it ran into."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="unique_attempt_number")
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"
