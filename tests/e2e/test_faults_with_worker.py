"""Trust under faults with real worker processes: a pool process killed in the middle of a
training or of a scoring chunk, a worker killed whole, a training that outlives its time
limit. Each wait is on the job's own status, never on how long the work takes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.conftest import client_for, wait_for
from tests.factories import UserFactory, normal_images, odd_images
from webapp.assets.models import Asset
from webapp.detectors import services
from webapp.detectors.models import DetectorVersion, JobStatus, ScoringChunk, ScoringJob
from webapp.review.models import Flag, FlagStatus, Score
from webapp.sites.services import create_site

pytestmark = pytest.mark.worker

#: From the kill to the job's end, whatever the job: the takeover must not wait for a timeout.
TAKEOVER_BUDGET_S = 60
FINISHED = {JobStatus.SUCCEEDED, JobStatus.FAILED}
#: Trees enough for a training to last a few seconds here (it is killed in its first second).
SLOW_FOREST = {
    "kind": "histogram_iforest",
    "params": {"estimator": "isolation_forest", "n_estimators": 2000},
}


def _upload(client, purpose, named):  # type: ignore[no-untyped-def]
    files = [SimpleUploadedFile(name, data) for name, data in named]
    response = client.post(
        "/api/sites/meadow/uploads/", {"purpose": purpose, "files": files}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def _train(client, body: dict) -> int:  # type: ignore[type-arg]
    response = client.post("/api/sites/meadow/versions/", body, format="json")
    assert response.status_code == 202, response.json()
    return response.json()["id"]


def _holder_pid(model, pk: int) -> int:  # type: ignore[no-untyped-def]
    """The pool process that claimed the job, once it has (the job says who holds it)."""

    def claimed() -> int | None:
        row = model.objects.filter(pk=pk, status=JobStatus.RUNNING).first()
        return row.claimed_by_pid if row else None

    return wait_for(claimed, timeout=120, what=f"{model.__name__} {pk} to be claimed")


def _kill(pid: int, worker: subprocess.Popen) -> float:
    assert pid != worker.pid, "the job ran in the worker process, not in a pool process"
    os.kill(pid, signal.SIGKILL)
    return time.monotonic()


def _finished_within_budget(what: str, done, killed_at: float, log) -> None:  # type: ignore[no-untyped-def]
    left = TAKEOVER_BUDGET_S - (time.monotonic() - killed_at)
    try:
        wait_for(done, timeout=max(1.0, left), what=f"{what} to finish after the kill")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{log()[-4000:]}") from None


@contextlib.contextmanager
def stalled_read(asset: Asset) -> Iterator[None]:
    """The asset's file becomes a FIFO: a worker that reads it waits, mid-chunk, until the
    block ends, when the real file is back (a storage stall, deterministic)."""
    path = Path(asset.file.path)
    data = path.read_bytes()
    path.unlink()
    os.mkfifo(path)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):  # a reader still blocked (test failed): let it go
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            os.set_blocking(fd, True)
            os.write(fd, data)
            os.close(fd)
        spare = path.with_suffix(".restore")
        spare.write_bytes(data)
        os.replace(spare, path)


def _site_snapshot() -> dict:  # type: ignore[type-arg]
    """What must be neither lost nor duplicated: assets, scores, flags and their reviews."""
    return {
        "assets": sorted(Asset.objects.values_list("pk", "checksum")),
        "scores": sorted(Score.objects.values_list("asset_id", "version_id")),
        "flags": sorted(
            Flag.objects.values_list("score__asset_id", "status", "reviewer_id", "note")
        ),
    }


def test_killed_pool_process_is_replaced_within_a_minute(start_worker, worker_log):
    """SIGKILL the pool process mid-training, then mid-chunk: no timeout is waited for,
    and nothing is lost or duplicated."""
    admin = UserFactory(username="curator")
    create_site(creator=admin, slug="meadow", name="Meadow")
    client = client_for(admin)
    _upload(client, "train", normal_images(40))
    scored = _upload(client, "score", [*odd_images(3), *normal_images(3, start=500)])
    worker = start_worker(pool="prefork")

    # 1. mid-training: the redelivered task (or the watchdog) takes over at once
    version_id = _train(client, SLOW_FOREST)
    first_pid = _holder_pid(DetectorVersion, version_id)
    killed_at = _kill(first_pid, worker)
    _finished_within_budget(
        "the training",
        lambda: DetectorVersion.objects.get(pk=version_id).status in FINISHED,
        killed_at,
        worker_log,
    )
    version = DetectorVersion.objects.get(pk=version_id)
    assert version.status == JobStatus.SUCCEEDED, f"{version.error}\n{worker_log()[-3000:]}"
    assert version.takeovers == 1 and version.claimed_by_pid != first_pid
    assert len(version.manifest["fit"]) + len(version.manifest["holdout"]) == 40
    assert DetectorVersion.objects.count() == 1

    # its activation scored the waiting uploads; review two of the flags
    wait_for(
        lambda: ScoringJob.objects.filter(status=JobStatus.SUCCEEDED).exists(),
        timeout=120,
        what="the first scoring job",
    )
    flags = client.get("/api/sites/meadow/flags/?status=pending").json()["results"]
    odd_ids = {a["id"] for a in scored["assets"] if a["filename"].startswith("odd")}
    assert odd_ids <= {f["asset"] for f in flags}
    for flag, decision in ((flags[0], "confirm"), (flags[-1], "reject")):
        response = client.post(
            f"/api/flags/{flag['id']}/review/", {"decision": decision, "note": "seen"}
        )
        assert response.status_code == 200
    before = _site_snapshot()

    # 2. mid-chunk: the chunk's worker is stuck reading an image when it is killed
    first_asset = Asset.objects.get(pk=min(a["id"] for a in scored["assets"]))
    with stalled_read(first_asset):
        response = client.post("/api/sites/meadow/rescore/")
        assert response.status_code in {200, 202}, response.json()
        job = ScoringJob.objects.latest("id")
        chunk = ScoringChunk.objects.get(job=job)
        chunk_pid = _holder_pid(ScoringChunk, chunk.pk)
        killed_at = _kill(chunk_pid, worker)
        time.sleep(0.5)  # the kill lands while the chunk is still running
        assert ScoringChunk.objects.get(pk=chunk.pk).status != JobStatus.SUCCEEDED
    _finished_within_budget(
        "the scoring job",
        lambda: ScoringJob.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED,
        killed_at,
        worker_log,
    )
    chunk.refresh_from_db()
    assert chunk.takeovers >= 1 and chunk.claimed_by_pid != chunk_pid
    assert _site_snapshot() == before  # rescored in place: nothing lost, nothing doubled
    assert Flag.objects.filter(status=FlagStatus.CONFIRMED).count() == 1
    assert Flag.objects.filter(status=FlagStatus.REJECTED).count() == 1
    assert worker.poll() is None  # the worker itself lived on


def test_killed_worker_is_replaced_by_the_next_one_at_once(start_worker, worker_log):
    """The whole worker dies (solo pool): the next worker on this host sees its process
    gone and takes the training over, without waiting for the heartbeat to go stale."""
    admin = UserFactory(username="curator")
    create_site(creator=admin, slug="meadow", name="Meadow")
    client = client_for(admin)
    _upload(client, "train", normal_images(40))
    first = start_worker()
    version_id = _train(client, SLOW_FOREST)
    _holder_pid(DetectorVersion, version_id)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    killed_at = time.monotonic()
    assert DetectorVersion.objects.get(pk=version_id).status == JobStatus.RUNNING

    start_worker()
    _finished_within_budget(
        "the training",
        lambda: DetectorVersion.objects.get(pk=version_id).status in FINISHED,
        killed_at,
        worker_log,
    )
    version = DetectorVersion.objects.get(pk=version_id)
    assert version.status == JobStatus.SUCCEEDED, f"{version.error}\n{worker_log()[-3000:]}"
    assert version.takeovers == 1


def test_training_past_its_time_limit_fails_with_the_reason(start_worker, worker_log):
    """A job that hangs with a live heartbeat ends too; the site keeps its active version."""
    admin = UserFactory(username="curator")
    create_site(creator=admin, slug="meadow", name="Meadow")
    client = client_for(admin)
    _upload(client, "train", normal_images(40))
    first_id = _train(client, {"kind": "histogram_iforest"})
    services.run_training(version_id=first_id)  # here, before the worker (whose limit is short)
    assert client.get("/api/sites/meadow/").json()["active_version"] == first_id
    start_worker(pool="prefork", TRAINING_SOFT_TIME_LIMIT="2", TRAINING_TIME_LIMIT="30")
    slow_id = _train(
        client, {**SLOW_FOREST, "params": {**SLOW_FOREST["params"], "n_estimators": 5000}}
    )
    wait_for(
        lambda: (
            DetectorVersion.objects.get(pk=slow_id).status != JobStatus.RUNNING
            and DetectorVersion.objects.get(pk=slow_id).status != JobStatus.QUEUED
        ),
        timeout=120,
        what="the slow training to end",
    )
    slow = client.get(f"/api/versions/{slow_id}/").json()
    assert slow["status"] == "failed", worker_log()[-3000:]
    assert slow["error"] == "stopped: it ran past its time limit of 2 s"
    assert client.get("/api/sites/meadow/").json()["active_version"] == first_id
