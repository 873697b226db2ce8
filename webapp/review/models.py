"""Scores given by detector versions, and the flags reviewers decide on."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


def heatmap_path(score: Score, filename: str) -> str:
    return f"heatmaps/site-{score.asset.site_id}/v{score.version_id}/{filename}"


class Score(models.Model):
    """One version's raw score of one asset (upserted: unique per asset and version)."""

    asset = models.ForeignKey("assets.Asset", on_delete=models.CASCADE, related_name="scores")
    version = models.ForeignKey(
        "detectors.DetectorVersion", on_delete=models.CASCADE, related_name="scores"
    )
    score = models.FloatField(help_text="Raw score; higher = more abnormal.")
    threshold = models.FloatField(help_text="The version's threshold when this was scored.")
    is_flagged = models.BooleanField(default=False)
    #: Overlay PNG of where the image looks abnormal (kinds with heatmaps; flagged only).
    heatmap = models.FileField(upload_to=heatmap_path, max_length=300, blank=True)
    #: Object kinds: {"boxes": [detected objects], "reasons": [site rules broken]}.
    details = models.JSONField(default=dict, blank=True)
    scored_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["asset", "version"], name="unique_score_per_version")
        ]
        indexes = [models.Index(fields=["version", "is_flagged"])]

    def __str__(self) -> str:
        return f"{self.asset_id} by v{self.version_id}: {self.score:.4g}"


class FlagStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CONFIRMED = "confirmed", "Confirmed anomaly"
    REJECTED = "rejected", "Rejected (normal)"
    SUPERSEDED = "superseded", "Superseded (a newer model scored it)"


#: Statuses that carry a reviewer's decision: the asset's label. A superseded flag is kept
#: for the record (and may still be reviewed) but labels nothing until it is.
REVIEWED = (FlagStatus.CONFIRMED, FlagStatus.REJECTED)


class Decision(models.TextChoices):
    CONFIRM = "confirm", "Confirm (it is an anomaly)"
    REJECT = "reject", "Reject (it is normal)"


DECISION_STATUS = {Decision.CONFIRM: FlagStatus.CONFIRMED, Decision.REJECT: FlagStatus.REJECTED}


class Flag(models.Model):
    """A score above threshold that waits for, or has, a reviewer's decision.

    For images, the flag is the asset's. For video, one flag stands for an event segment:
    it hangs on the Score of the segment's peak frame and names the video and the first
    and last frame indices (inclusive); a decision on it labels every frame in between.

    A pending flag is never deleted because another model took over: it becomes
    ``superseded`` with the newer model's score beside it (``superseded_by``), and becomes
    pending again if its own model is made active again.
    """

    #: (indexed by ``flag_site_id`` and the other indexes below, which all begin with it)
    site = models.ForeignKey(
        "sites.Site", on_delete=models.CASCADE, related_name="flags", db_index=False
    )
    score = models.OneToOneField(Score, on_delete=models.CASCADE, related_name="flag")
    #: A copy of ``score.score``: the queue's order (highest first) read from one index of
    #: this table, so a page of 50 out of 100,000 pending flags is an index scan with a
    #: LIMIT instead of a join and a sort of them all. Kept in step by the services that
    #: write scores (and filled from ``score`` by :meth:`save` when not given).
    score_value = models.FloatField(help_text="The flag's score (a copy of score.score).")
    status = models.CharField(
        max_length=12, choices=FlagStatus.choices, default=FlagStatus.PENDING, db_index=True
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    video = models.ForeignKey(
        "assets.Asset",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="segment_flags",
        help_text="For an event segment: the video it is in.",
    )
    start_frame = models.PositiveIntegerField(null=True, blank=True)
    end_frame = models.PositiveIntegerField(null=True, blank=True)
    superseded_by = models.ForeignKey(
        Score,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="For a superseded flag: the newer model's score of the same image or peak frame.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["video", "start_frame", "end_frame"]),
            # a site's flags, and its newest one (where the live queue starts polling)
            models.Index(fields=["site", "id"], name="flag_site_id"),
            # the queue: a site's flags of one status, highest score first
            models.Index(fields=["site", "status", "-score_value", "id"], name="flag_queue_order"),
            # the same as a reviewer with an open known-answer check sees it (pending OR
            # that flag): scanned in order and filtered, as the OR rules out the one above
            models.Index(fields=["site", "-score_value", "id"], name="flag_site_order"),
            # pending counts (every queue page shows one) from a small index alone
            models.Index(
                fields=["site", "id"],
                condition=models.Q(status="pending"),
                name="flag_pending",
            ),
        ]
        ordering = ["-score_value", "id"]

    def __str__(self) -> str:
        return f"flag {self.pk} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.score_value is None and self.score_id is not None:
            self.score_value = self.score.score
        super().save(*args, **kwargs)

    @property
    def is_segment(self) -> bool:
        return self.video_id is not None


class PendingFlagCount(models.Model):
    """A part of a site's pending-flag count: the site's rows add up to it.

    Every queue page, the live queue's poll and the API's first page show this number;
    counting 100,000 pending flags took longer than the rest of such a request. Triggers
    on ``review_flag`` (migration ``0008``) add a row with the change of every insert,
    update and delete, whichever way it comes (``bulk_create``, ``update()``, cascades, raw
    SQL), so no code path can forget it. Rows, not one counter per site: a counter row
    would be locked by each transaction that changes a flag until it commits, so a
    scoring chunk superseding a flag that a reviewer is deciding would deadlock with
    them. Reading compacts a site's rows into one (:func:`webapp.review.selectors.
    pending_counts`). No foreign key: a site's deletion removes its flags (whose trigger
    adds a row) before the site, and then its rows (``webapp.sites.deletion``).
    """

    site = models.ForeignKey(
        "sites.Site",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    pending = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.pending:+d} pending on site {self.site_id}"


class KnownAnswerCheck(models.Model):
    """A flag a site admin decided, served to one reviewer as if it were still pending.

    The reviewer's answer is kept here and nowhere else: it never changes the flag, its
    label, the training data or any count of decisions. Whether it agrees is read against
    the flag's current decision (:func:`webapp.review.selectors.reviewer_quality`), so an
    admin who changes their mind changes the score too. One per flag and reviewer: nobody
    gets the same check twice. ``answer`` is empty while the check waits in the queue.
    """

    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="checks")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="known_answer_checks"
    )
    served_at = models.DateTimeField(auto_now_add=True)
    answer = models.CharField(max_length=8, choices=Decision.choices, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flag", "reviewer"], name="one_check_per_reviewer")
        ]
        indexes = [models.Index(fields=["reviewer", "answered_at"])]

    def __str__(self) -> str:
        return f"check of flag {self.flag_id} for {self.reviewer_id}: {self.answer or 'open'}"


class Opinion(models.Model):
    """One reviewer's decision on a flag when the site asks for a second opinion.

    The flag's status stays the resolved label: it settles when two reviewers agree (a
    majority of at least two), or when an admin decides. One per flag and reviewer.
    """

    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="opinions")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_opinions"
    )
    decision = models.CharField(max_length=8, choices=Decision.choices)
    note = models.TextField(blank=True)
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flag", "reviewer"], name="one_opinion_per_reviewer")
        ]
        ordering = ["decided_at", "id"]

    def __str__(self) -> str:
        return f"{self.reviewer_id} on flag {self.flag_id}: {self.decision}"
