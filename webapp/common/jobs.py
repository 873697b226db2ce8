"""Job plumbing shared by every background job: atomic claims and heartbeats.

A job row (a training version, a scoring chunk, a video extraction) has a ``status`` of
:class:`JobStatus` and a ``heartbeat_at``. A worker starts it only after :func:`claim`
moved it from queued (or from running with a stale heartbeat, when its worker died) to
running in one conditional update, so a task delivered twice does its work once; while it
runs, :class:`Heartbeat` keeps ``heartbeat_at`` fresh so it never looks dead.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, models
from django.db.models import Q
from django.utils import timezone

logger = logging.getLogger(__name__)


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


def stale_before() -> timezone.datetime:
    return timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER_SECONDS)


def dead_jobs() -> Q:
    """Running jobs whose heartbeat stopped: their worker died."""
    return Q(status=JobStatus.RUNNING, heartbeat_at__lt=stale_before())


def claim(model: type[models.Model], pk: int) -> bool:
    """Atomically move a job to running; False if another worker has it (or it is done)."""
    claimable = Q(status=JobStatus.QUEUED) | dead_jobs()
    return bool(
        model._default_manager.filter(claimable, pk=pk).update(
            status=JobStatus.RUNNING, heartbeat_at=timezone.now()
        )
    )


class Heartbeat:
    """Beats every few seconds while a job runs, even inside a long library call.

    A job whose heartbeat is older than ``JOB_STALE_AFTER_SECONDS`` is taken for dead and
    may be claimed again, so a live worker must never look stale.
    """

    def __init__(self, model: type[models.Model], pk: int) -> None:
        self.model, self.pk = model, pk
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"heartbeat-{pk}", daemon=True)

    def _run(self) -> None:
        interval = max(1.0, settings.JOB_STALE_AFTER_SECONDS / 10)
        try:
            while not self.stop.wait(interval):
                try:
                    self.model._default_manager.filter(pk=self.pk, status=JobStatus.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except DatabaseError:  # busy or briefly unreachable: beat again next time
                    logger.warning("heartbeat of %s %s missed", self.model.__name__, self.pk)
        finally:
            connection.close()  # this thread's own connection

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
