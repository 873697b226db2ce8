"""Worker lifecycle hooks: a watchdog that resumes the jobs of workers that died, and the
worker's own heartbeat (``webapp.health``), which tells the web server a worker is up.

Both run in the worker's main process, which outlives its pool processes: when a pool
process is killed, this watchdog sees the process gone and sends its job again at once.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import connection

from webapp.common.jobs import this_worker

logger = logging.getLogger(__name__)
_stop = threading.Event()
_name: dict[str, str] = {}


def _beat(name: str, queues: str) -> None:
    from webapp.health.services import beat_worker

    try:
        beat_worker(name=name, queues=queues)
    except Exception:  # the database is away: the next beat will tell
        logger.warning("worker heartbeat missed", exc_info=True)


def _watch(name: str, queues: str) -> None:
    """Every few seconds: beat, then re-send the jobs (and deliveries) whose worker is gone."""
    from webapp.assets.video_services import requeue_stale_extractions
    from webapp.detectors.services import requeue_stale_jobs
    from webapp.hooks.services import requeue_stale_deliveries

    interval = max(0.5, settings.JOB_WATCHDOG_SECONDS)
    try:
        _beat(name, queues)
        while not _stop.wait(interval):
            _beat(name, queues)
            try:
                versions, chunks = requeue_stale_jobs()
                videos = requeue_stale_extractions()
                deliveries = requeue_stale_deliveries()
            except Exception:  # a database hiccup must not kill the watchdog
                logger.exception("watchdog could not check for dead jobs")
                continue
            if versions or chunks:
                logger.warning(
                    "re-sent %s training and %s scoring jobs of a dead worker", versions, chunks
                )
            if videos:
                logger.warning("re-sent %s frame extractions of a dead worker", videos)
            if deliveries:
                logger.warning("re-sent %s webhook deliveries of a dead worker", deliveries)
    finally:
        connection.close()


def _queues(sender: Any) -> str:
    try:
        return ",".join(sorted(q.name for q in sender.task_consumer.queues))
    except AttributeError:
        return ""


@worker_ready.connect
def start_watchdog(sender: Any = None, **_: Any) -> None:
    host, pid = this_worker()
    name = getattr(sender, "hostname", None) or f"worker@{host}:{pid}"
    _name["current"] = name
    _stop.clear()
    threading.Thread(
        target=_watch, args=(name, _queues(sender)), name="job-watchdog", daemon=True
    ).start()


@worker_shutdown.connect
def stop_watchdog(**_: Any) -> None:
    _stop.set()
    name = _name.pop("current", None)
    if name:
        from webapp.health.services import forget_worker

        try:
            forget_worker(name=name)
        except Exception:
            logger.warning("could not record the worker's stop", exc_info=True)
