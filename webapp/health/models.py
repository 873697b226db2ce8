"""Worker liveness: each worker beats a row, so the web server knows whether any is up."""

from __future__ import annotations

from django.db import models


class WorkerHeartbeat(models.Model):
    """One running Celery worker; its watchdog refreshes ``seen_at`` every few seconds."""

    name = models.CharField(max_length=255, unique=True, help_text="Celery node name.")
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    queues = models.CharField(max_length=255, blank=True)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"worker {self.name}"
