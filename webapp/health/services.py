"""Writes of worker liveness, called by the worker's own hooks (``workers/signals.py``)."""

from __future__ import annotations

from django.utils import timezone

from webapp.common.jobs import this_worker
from webapp.health.models import WorkerHeartbeat


def beat_worker(*, name: str, queues: str = "") -> None:
    """Record that the worker ``name`` is alive now (its first beat records its start)."""
    host, pid = this_worker()
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        name=name,
        defaults={"host": host, "pid": pid, "queues": queues[:255], "seen_at": now},
        create_defaults={
            "host": host,
            "pid": pid,
            "queues": queues[:255],
            "seen_at": now,
            "started_at": now,
        },
    )


def forget_worker(*, name: str) -> None:
    """A worker that stops cleanly says so at once (one that dies just stops beating)."""
    WorkerHeartbeat.objects.filter(name=name).delete()
