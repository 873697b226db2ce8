"""``GET /api/health/``: database, broker and workers, for monitors; and the pages' banner
when jobs wait while no worker is alive."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import SiteFactory, member
from webapp.detectors.models import DetectorVersion, JobStatus
from webapp.health import selectors
from webapp.health.models import WorkerHeartbeat
from webapp.health.services import beat_worker, forget_worker

pytestmark = pytest.mark.django_db


def _health() -> tuple[int, dict]:  # type: ignore[type-arg]
    response = APIClient().get("/api/health/")  # no sign-in needed
    return response.status_code, response.json()


def _queued_training(site) -> DetectorVersion:  # type: ignore[no-untyped-def]
    return DetectorVersion.objects.create(site=site, number=1, kind="histogram_iforest")


def test_health_reports_a_live_worker_and_the_waiting_jobs(site):
    _queued_training(site)
    beat_worker(name="celery@box", queues="cpu,gpu")
    code, body = _health()
    assert code == 200
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True}
    assert body["broker"] == {"ok": True}
    assert body["workers"]["ok"] is True and body["workers"]["alive"] == 1
    assert body["workers"]["last_seen"]
    assert body["jobs"] == {"queued": 1, "running": 0}


def test_health_is_degraded_when_the_worker_stopped_beating(settings):
    beat_worker(name="celery@box")
    WorkerHeartbeat.objects.update(
        seen_at=timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER_SECONDS + 1)
    )
    code, body = _health()
    assert (code, body["status"], body["workers"]["alive"]) == (200, "degraded", 0)
    assert body["workers"]["ok"] is False


def test_a_worker_that_stops_cleanly_is_gone_at_once():
    beat_worker(name="celery@box")
    forget_worker(name="celery@box")
    assert _health()[1]["workers"]["alive"] == 0


def test_health_says_the_broker_is_down_without_its_address(settings):
    beat_worker(name="celery@box")
    settings.CELERY_BROKER_URL = "redis://:secret@127.0.0.1:9/0"  # nothing listens there
    code, body = _health()
    assert code == 200 and body["status"] == "degraded"
    assert body["broker"]["ok"] is False and body["broker"]["error"]
    assert "secret" not in str(body)


def test_health_is_503_without_a_database(monkeypatch):
    def unreachable() -> bool:
        raise OperationalError("connection refused")

    monkeypatch.setattr(selectors, "_database_ok", unreachable)
    code, body = _health()
    assert code == 503
    assert body["status"] == "down"
    assert body["database"] == {"ok": False, "error": "OperationalError"}


def _page(user) -> str:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def test_banner_when_jobs_wait_and_no_worker_is_alive():
    site = SiteFactory(slug="meadow")
    viewer = member(site, "viewer")
    assert 'id="workers-down"' not in _page(viewer)  # nothing waits: nothing to say
    version = _queued_training(site)
    page = _page(viewer)
    assert 'id="workers-down"' in page and "No worker is running" in page
    beat_worker(name="celery@box")
    assert 'id="workers-down"' not in _page(viewer)  # a live worker will take it
    WorkerHeartbeat.objects.all().delete()
    DetectorVersion.objects.filter(pk=version.pk).update(status=JobStatus.RUNNING)
    assert 'id="workers-down"' in _page(viewer)  # running, but nobody runs it


def test_no_banner_for_visitors_who_are_not_signed_in(site):
    _queued_training(site)
    response = Client().get("/login/")
    assert response.status_code == 200
    assert b'id="workers-down"' not in response.content
