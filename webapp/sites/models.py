"""Sites (a park, a production line, a camera) and who may do what there."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from webapp.sites.roles import Role


class Site(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    active_version = models.ForeignKey(
        "detectors.DetectorVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The version that scores new uploads; admins may switch (roll back).",
    )
    #: Frames kept per second of video (0 = every frame). Changing it applies to videos
    #: uploaded afterwards; each video records the rate its frames were taken at.
    video_sample_fps = models.FloatField(
        default=5.0, help_text="Frames kept per second of uploaded video; 0 keeps every frame."
    )
    segment_min_length = models.PositiveIntegerField(
        default=2, help_text="Event segments shorter than this many kept frames are dropped."
    )
    segment_max_gap = models.PositiveIntegerField(
        default=2,
        help_text="Up to this many frames below threshold inside an event do not split it.",
    )
    #: Reviewer quality (see webapp/review/quality.py): flags a site admin decided are
    #: mixed, unannounced, into reviewers' queues, about one in ``known_answer_every``.
    known_answer_checks = models.BooleanField(
        default=False, help_text="Mix flags an admin decided into reviewers' queues, unannounced."
    )
    known_answer_every = models.PositiveIntegerField(
        default=10, help_text="About one known-answer check in this many flags a reviewer sees."
    )
    second_opinion = models.BooleanField(
        default=False,
        help_text="Each flag needs two reviewers who agree (or an admin) before it counts.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="site_memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "user"], name="unique_membership_per_site")
        ]
        ordering = ["site", "user"]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.site}"


class AuditAction(models.TextChoices):
    UPLOAD = "upload", "Upload"
    TRAINING_REQUESTED = "training_requested", "Training requested"
    TRAINING_SUCCEEDED = "training_succeeded", "Training finished"
    TRAINING_FAILED = "training_failed", "Training failed"
    ACTIVATION = "activation", "Version activated"
    REVIEW_CONFIRM = "review_confirm", "Flag confirmed"
    REVIEW_REJECT = "review_reject", "Flag rejected"
    REVIEW_UNDO = "review_undo", "Review undone"
    DELETION = "deletion", "Deletion"
    MEMBER_ADDED = "member_added", "Member added"
    MEMBER_CHANGED = "member_changed", "Member role changed"
    MEMBER_REMOVED = "member_removed", "Member removed"
    SETTINGS_CHANGED = "settings_changed", "Settings changed"
    WEBHOOK_ADDED = "webhook_added", "Webhook added"
    WEBHOOK_CHANGED = "webhook_changed", "Webhook changed"
    WEBHOOK_REMOVED = "webhook_removed", "Webhook deleted"
    WEBHOOK_SECRET_ROTATED = "webhook_secret_rotated", "Webhook secret rotated"
    #: Reviewer quality: kept apart from REVIEW_*, which count decisions (the dashboard).
    CHECK_ANSWERED = "check_answered", "Known-answer check answered"
    CHECK_UNDONE = "check_undone", "Known-answer check answer undone"
    OPINION_GIVEN = "opinion_given", "Review given (awaits a second opinion)"
    OPINION_UNDONE = "opinion_undone", "Second-opinion review undone"


class AuditEntry(models.Model):
    """Who did what on a site, kept as plain text and ids so it outlives what it describes.

    ``site`` is nullable and set to NULL when the site is deleted (``site_slug`` keeps its
    name), so the record of a site's deletion survives it (visible in Django's admin);
    ``actor`` is NULL for the worker (training results) and for users since deleted.
    """

    site = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries"
    )
    site_slug = models.CharField(max_length=64)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True, help_text="Empty: the system.")
    action = models.CharField(max_length=32, choices=AuditAction.choices, db_index=True)
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64, blank=True)
    summary = models.CharField(max_length=500)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["site", "action"])]

    def __str__(self) -> str:
        return f"{self.site_slug}: {self.summary}"
