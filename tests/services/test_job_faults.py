"""Trust under faults, at the service level: who may take over a claim, time limits recorded
as failures with their reason, transient faults retried and permanent ones failed at once."""

from __future__ import annotations

import subprocess
import time
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from django.db import OperationalError
from django.utils import timezone

from tests.conftest import wait_for
from tests.factories import normal_images, odd_images, upload_images
from webapp.common import jobs
from webapp.detectors import services
from webapp.detectors.models import DetectorVersion, JobStatus, ScoringChunk, ScoringJob
from webapp.review.models import Flag, Score
from workers import tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued_version(site, users):  # type: ignore[no-untyped-def]
    upload_images(site, users["uploader"], "train", normal_images(12))
    return services.request_training(site=site, user=users["admin"], kind="histogram_iforest")


@pytest.fixture
def dead_pid() -> int:
    """The id of a process of this host that has exited (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.fixture
def live_pid():  # type: ignore[no-untyped-def]
    process = subprocess.Popen(["sleep", "60"])
    yield process.pid
    process.kill()
    process.wait()


def _hold(version: DetectorVersion, *, host: str, pid: int, beat_age_s: float = 0) -> None:
    DetectorVersion.objects.filter(pk=version.pk).update(
        status=JobStatus.RUNNING,
        claimed_by_host=host,
        claimed_by_pid=pid,
        heartbeat_at=timezone.now() - timedelta(seconds=beat_age_s),
    )


def _train(version: DetectorVersion) -> DetectorVersion:
    services.run_training(version_id=version.pk)
    version.refresh_from_db()
    return version


# --- the takeover rule ---------------------------------------------------------------------


def test_claim_records_the_holder(queued_version):
    assert jobs.claim(DetectorVersion, queued_version.pk)
    held = DetectorVersion.objects.get(pk=queued_version.pk)
    assert (held.claimed_by_host, held.claimed_by_pid) == jobs.this_worker()
    assert held.status == JobStatus.RUNNING and held.takeovers == 0
    jobs.release(DetectorVersion, queued_version.pk)


def test_dead_process_on_this_host_is_taken_over_at_once(queued_version, dead_pid):
    host, _ = jobs.this_worker()
    _hold(queued_version, host=host, pid=dead_pid)  # heartbeat fresh: only the pid tells
    version = _train(queued_version)
    assert version.status == JobStatus.SUCCEEDED
    assert version.takeovers == 1
    assert version.claimed_by_pid == jobs.this_worker()[1]


def test_live_process_on_this_host_keeps_its_claim(queued_version, live_pid):
    host, _ = jobs.this_worker()
    _hold(queued_version, host=host, pid=live_pid)
    version = _train(queued_version)
    assert (version.status, version.claimed_by_pid, version.takeovers) == (
        JobStatus.RUNNING,
        live_pid,
        0,
    )


def test_other_host_keeps_its_claim_while_it_beats(queued_version, settings):
    _hold(
        queued_version, host="gpu-box-7", pid=4242, beat_age_s=settings.JOB_STALE_AFTER_SECONDS / 2
    )
    assert _train(queued_version).status == JobStatus.RUNNING


def test_other_host_with_a_stale_heartbeat_is_taken_over(queued_version, settings):
    _hold(
        queued_version, host="gpu-box-7", pid=4242, beat_age_s=settings.JOB_STALE_AFTER_SECONDS + 1
    )
    version = _train(queued_version)
    assert version.status == JobStatus.SUCCEEDED
    assert version.takeovers == 1


def test_a_live_holder_with_a_stale_heartbeat_is_taken_over_too(queued_version, live_pid, settings):
    host, _ = jobs.this_worker()
    _hold(queued_version, host=host, pid=live_pid, beat_age_s=settings.JOB_STALE_AFTER_SECONDS + 1)
    assert _train(queued_version).status == JobStatus.SUCCEEDED


def test_own_leftover_claim_is_taken_back_without_counting_a_takeover(queued_version):
    host, pid = jobs.this_worker()
    _hold(queued_version, host=host, pid=pid)  # e.g. a retry whose release did not get through
    version = _train(queued_version)
    assert version.status == JobStatus.SUCCEEDED and version.takeovers == 0


def test_watchdog_uses_the_same_rule(queued_version, dead_pid, live_pid, monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(services, "_enqueue_training", lambda version: sent.append(version.pk))
    host, _ = jobs.this_worker()
    _hold(queued_version, host=host, pid=live_pid)
    assert services.requeue_stale_jobs() == (0, 0)
    _hold(queued_version, host="gpu-box-7", pid=dead_pid)  # that pid means nothing there
    assert services.requeue_stale_jobs() == (0, 0)
    _hold(queued_version, host=host, pid=dead_pid)
    assert services.requeue_stale_jobs() == (1, 0)
    version = DetectorVersion.objects.get(pk=queued_version.pk)
    assert (version.status, version.takeovers, sent) == (JobStatus.QUEUED, 1, [version.pk])


@pytest.mark.django_db(transaction=True)  # the heartbeat thread has its own connection
def test_heartbeat_keeps_a_claim_fresh_only_for_its_holder(queued_version, settings):
    settings.JOB_HEARTBEAT_SECONDS = 0.5
    assert jobs.claim(DetectorVersion, queued_version.pk)
    old = timezone.now() - timedelta(seconds=30)
    DetectorVersion.objects.filter(pk=queued_version.pk).update(heartbeat_at=old)
    with jobs.Heartbeat(DetectorVersion, queued_version.pk):
        wait_for(
            lambda: DetectorVersion.objects.get(pk=queued_version.pk).heartbeat_at > old,
            timeout=20,
            what="a heartbeat",
        )
        _hold(queued_version, host="gpu-box-7", pid=1, beat_age_s=30)  # taken over meanwhile
        taken_at = DetectorVersion.objects.get(pk=queued_version.pk).heartbeat_at
        time.sleep(1.5)
        assert DetectorVersion.objects.get(pk=queued_version.pk).heartbeat_at == taken_at


def test_a_job_whose_workers_keep_dying_is_failed_with_the_reason(
    queued_version, dead_pid, settings
):
    host, _ = jobs.this_worker()
    DetectorVersion.objects.filter(pk=queued_version.pk).update(
        takeovers=settings.JOB_MAX_TAKEOVERS
    )
    _hold(queued_version, host=host, pid=dead_pid)
    version = _train(queued_version)
    assert version.status == JobStatus.FAILED
    assert f"died {settings.JOB_MAX_TAKEOVERS + 1} times" in version.error


# --- time limits ---------------------------------------------------------------------------


@pytest.fixture
def active_version(queued_version, site):  # type: ignore[no-untyped-def]
    version = _train(queued_version)
    site.refresh_from_db()
    assert site.active_version_id == version.pk
    return version


def test_soft_time_limit_fails_the_training_with_the_reason(
    active_version, site, users, monkeypatch, settings
):
    settings.TRAINING_SOFT_TIME_LIMIT = 7200

    def hangs(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(services, "fit_and_calibrate", hangs)
    second = services.request_training(site=site, user=users["admin"], kind="histogram_iforest")
    second = _train(second)
    assert second.status == JobStatus.FAILED
    assert second.error == "stopped: it ran past its time limit of 2 h 00 min"
    assert second.finished_at is not None
    site.refresh_from_db()
    assert site.active_version_id == active_version.pk  # the site is as it was


def test_hard_time_limit_is_recorded_by_the_task(active_version, site, users):
    second = services.request_training(site=site, user=users["admin"], kind="histogram_iforest")
    assert jobs.claim(DetectorVersion, second.pk)  # the process that ran it was ended
    task = tasks.train_version._get_current_object()
    task.on_failure(TimeLimitExceeded(300), "task-id", (second.pk,), {}, None)
    second.refresh_from_db()
    assert second.status == JobStatus.FAILED
    assert "hard time limit of 5 min 00 s" in second.error
    site.refresh_from_db()
    assert site.active_version_id == active_version.pk


def test_soft_time_limit_fails_a_scoring_chunk_and_keeps_other_scores(
    active_version, site, users, monkeypatch
):
    assets = upload_images(site, users["uploader"], "score", odd_images(3))
    monkeypatch.setattr(
        services, "record_scores", lambda **kw: (_ for _ in ()).throw(SoftTimeLimitExceeded())
    )
    job = services.request_scoring(site=site, version=active_version, assets=assets)
    chunk = ScoringChunk.objects.get(job=job)
    services.score_chunk(chunk_id=chunk.pk)
    chunk.refresh_from_db()
    job.refresh_from_db()
    assert chunk.status == job.status == JobStatus.FAILED
    assert job.error.startswith("stopped: it ran past its time limit")


# --- transient and permanent faults --------------------------------------------------------


@pytest.fixture
def eager(settings):  # type: ignore[no-untyped-def]
    from workers.celery_app import app

    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, False  # retries run too
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


def _fails_once(function, error: Exception):  # type: ignore[no-untyped-def]
    calls = []

    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            raise error
        return function(*args, **kwargs)

    return wrapper, calls


def test_training_retries_a_database_blip_then_succeeds(queued_version, monkeypatch, eager):
    fit, calls = _fails_once(services.fit_and_calibrate, OperationalError("server closed"))
    monkeypatch.setattr(services, "fit_and_calibrate", fit)
    tasks.train_version.apply(args=[queued_version.pk])
    queued_version.refresh_from_db()
    assert len(calls) == 2
    assert queued_version.status == JobStatus.SUCCEEDED, queued_version.error
    assert queued_version.error == "" and queued_version.takeovers == 0


def test_scoring_retries_a_broker_blip_and_scores_each_asset_once(
    active_version, site, users, monkeypatch, eager
):
    from kombu.exceptions import OperationalError as BrokerError

    assets = upload_images(site, users["uploader"], "score", odd_images(3))
    record, calls = _fails_once(services.record_scores, BrokerError("connection refused"))
    monkeypatch.setattr(services, "record_scores", record)
    job = services.request_scoring(site=site, version=active_version, assets=assets)
    chunk = ScoringChunk.objects.get(job=job)
    tasks.score_chunk.apply(args=[chunk.pk])
    job.refresh_from_db()
    assert len(calls) == 2
    assert job.status == JobStatus.SUCCEEDED
    assert Score.objects.filter(asset__in=assets, version=active_version).count() == 3
    assert Flag.objects.filter(score__asset__in=assets).count() == 3


def test_retries_are_bounded_and_then_recorded(queued_version, monkeypatch, eager, settings):
    def always(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("database is away")

    monkeypatch.setattr(services, "fit_and_calibrate", always)
    result = tasks.train_version.apply(args=[queued_version.pk])
    assert isinstance(result.result, OperationalError)
    queued_version.refresh_from_db()
    assert queued_version.status == JobStatus.FAILED
    assert queued_version.error == (
        f"gave up after {settings.JOB_MAX_RETRIES} retries: OperationalError: database is away"
    )


def test_permanent_error_fails_at_once_with_its_message(queued_version, monkeypatch, eager):
    calls = []

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        raise ValueError("matrix is singular")

    monkeypatch.setattr(services, "fit_and_calibrate", broken)
    tasks.train_version.apply(args=[queued_version.pk])
    queued_version.refresh_from_db()
    assert len(calls) == 1
    assert queued_version.status == JobStatus.FAILED
    assert queued_version.error == "ValueError: matrix is singular"
    assert not ScoringJob.objects.exists()
