"""Worker lifecycle hooks: a watchdog that resumes the jobs of workers that died."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)
_stop = threading.Event()


def _watch() -> None:
    """Every few seconds, re-send the jobs whose worker is gone (``holder_gone``'s rule)."""
    from webapp.assets.video_services import requeue_stale_extractions
    from webapp.detectors.services import requeue_stale_jobs

    interval = max(0.5, settings.JOB_WATCHDOG_SECONDS)
    try:
        while not _stop.wait(interval):
            try:
                versions, chunks = requeue_stale_jobs()
                videos = requeue_stale_extractions()
            except Exception:  # a database hiccup must not kill the watchdog
                logger.exception("watchdog could not check for dead jobs")
                continue
            if versions or chunks:
                logger.warning(
                    "re-sent %s training and %s scoring jobs of a dead worker", versions, chunks
                )
            if videos:
                logger.warning("re-sent %s frame extractions of a dead worker", videos)
    finally:
        connection.close()


@worker_ready.connect
def start_watchdog(**_: Any) -> None:
    _stop.clear()
    threading.Thread(target=_watch, name="job-watchdog", daemon=True).start()


@worker_shutdown.connect
def stop_watchdog(**_: Any) -> None:
    _stop.set()
