"""Reads for the health endpoint and the "no worker" banner.

A worker is alive while its heartbeat row is younger than ``JOB_STALE_AFTER_SECONDS``
(the same window after which its jobs would be taken over). Reading the database is
quick and works on every broker, where Celery's remote ping does not (SQLite broker).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Max

from webapp.assets.models import Video
from webapp.common.jobs import JobStatus, stale_before
from webapp.detectors.models import DetectorVersion, ScoringChunk
from webapp.health.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_S = 2.0
_JOB_MODELS = (DetectorVersion, ScoringChunk, Video)


def live_workers() -> Any:
    return WorkerHeartbeat.objects.filter(seen_at__gte=stale_before())


def waiting_jobs() -> dict[str, int]:
    """How many jobs (trainings, scoring chunks, frame extractions) are queued or running."""
    counts = {JobStatus.QUEUED.value: 0, JobStatus.RUNNING.value: 0}
    for model in _JOB_MODELS:
        for status in counts:
            counts[status] += model.objects.filter(status=status).count()
    return counts


def workers_down_with_jobs_waiting() -> bool:
    """True when jobs wait for a worker and none is alive: the pages' banner."""
    if live_workers().exists():
        return False
    waiting = [JobStatus.QUEUED, JobStatus.RUNNING]
    return any(model.objects.filter(status__in=waiting).exists() for model in _JOB_MODELS)


def _database_ok() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


def _broker_ok() -> bool:
    from workers.celery_app import app

    url = settings.CELERY_BROKER_URL
    with app.connection_for_write(url, connect_timeout=BROKER_TIMEOUT_S) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_S)
    return True


def _check(name: str, probe: Any) -> dict[str, Any]:
    try:
        return {"ok": bool(probe())}
    except Exception as exc:  # any failure is the answer; its text may hold a URL: type only
        logger.warning("health: %s unavailable: %s", name, exc)
        return {"ok": False, "error": type(exc).__name__}


def health_report() -> dict[str, Any]:
    """Database, broker and workers: ``status`` is ``down`` without a database (nothing
    works), ``degraded`` without a broker or a live worker (pages work, jobs wait)."""
    database = _check("database", _database_ok)
    broker = _check("broker", _broker_ok)
    workers: dict[str, Any] = {"ok": False, "alive": 0, "last_seen": None}
    jobs: dict[str, int] | None = None
    if database["ok"]:
        try:
            alive = live_workers()
            workers["alive"] = alive.count()
            workers["ok"] = workers["alive"] > 0
            last = WorkerHeartbeat.objects.aggregate(at=Max("seen_at"))["at"]
            workers["last_seen"] = last.isoformat() if last else None
            jobs = waiting_jobs()
        except Exception as exc:
            logger.warning("health: workers unknown: %s", exc)
            workers["error"] = type(exc).__name__
    workers["stale_after_s"] = settings.JOB_STALE_AFTER_SECONDS
    if not database["ok"]:
        status = "down"
    elif broker["ok"] and workers["ok"]:
        status = "ok"
    else:
        status = "degraded"
    return {
        "status": status,
        "database": database,
        "broker": broker,
        "workers": workers,
        "jobs": jobs,
    }
