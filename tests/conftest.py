"""Shared fixtures: API clients per role, and a real Celery worker process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import SiteFactory, member
from webapp.sites.roles import Role

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    """Test users are made by the dozen: 1,000,000 PBKDF2 rounds each (Django's default,
    kept in production) cost seconds per test and test nothing; sign-in works the same."""
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture
def site(db):  # type: ignore[no-untyped-def]
    return SiteFactory(slug="park", name="City park")


@pytest.fixture
def users(site):  # type: ignore[no-untyped-def]
    """One user per role on ``site``, plus an outsider who is a member of nothing."""
    from tests.factories import UserFactory

    people = {role: member(site, role, username=role) for role in Role.values}
    people["outsider"] = UserFactory(username="outsider")
    return people


def client_for(user) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api(users) -> Callable[[str], APIClient]:  # type: ignore[no-untyped-def]
    """``api("admin")`` is a token-authenticated client of the user with that role."""
    return lambda who: client_for(users[who])


def wait_for(predicate: Callable[[], Any], *, timeout: float = 120, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy (the worker is asynchronous)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _database_url() -> str:
    """The URL of the test database this process uses, for the worker subprocess."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.fixture
def start_worker(transactional_db, tmp_path) -> Iterator[Callable[..., subprocess.Popen]]:  # type: ignore[no-untyped-def]
    """Starts real ``celery worker`` processes on the real broker, using the test database.

    Tasks enqueued by the test (after commit) are executed by them, exactly as in
    production. ``start_worker(**env)`` adds environment variables; ``pool="prefork"``
    runs tasks in a pool process (one), as ``make run`` and production do, instead of in
    the worker process itself. Every worker still running at the end is stopped, with its
    pool. The log of the latest one is ``worker.log``.
    """
    from workers.celery_app import app

    app.control.purge()  # messages left by an earlier run would only be noise
    processes: list[subprocess.Popen] = []
    log_path = tmp_path / "worker.log"

    def start(pool: str = "solo", **extra_env: str) -> subprocess.Popen:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=_database_url(),
            MEDIA_ROOT=str(settings.MEDIA_ROOT),
            CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
            CELERY_TASK_ALWAYS_EAGER="0",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra_env)  # may replace the above (e.g. a worker with its own MEDIA_ROOT)
        command = [
            sys.executable, "-m", "celery", "-A", "workers", "worker",
            "-Q", "cpu,gpu", "--pool", pool, "--concurrency", "1", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle",
            "--hostname", f"test-{os.getpid()}-{len(processes)}@%h",
        ]  # fmt: skip
        with log_path.open("w") as log:
            process = subprocess.Popen(
                command,
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the pool goes with it
            )
        processes.append(process)
        wait_for(
            lambda: "ready." in log_path.read_text() or process.poll() is not None,
            timeout=90,
            what="the celery worker to start",
        )
        if process.poll() is not None:
            raise AssertionError(f"worker exited at start:\n{log_path.read_text()[-4000:]}")
        return process

    try:
        yield start
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # pool processes left behind
            process.wait()
        if os.environ.get("SHOW_WORKER_LOG") and log_path.exists():
            print(log_path.read_text()[-8000:])


@pytest.fixture
def worker(start_worker) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    """One real worker process, started before the test."""
    return start_worker()


@pytest.fixture
def worker_log(tmp_path) -> Callable[[], str]:  # type: ignore[no-untyped-def]
    return lambda: (tmp_path / "worker.log").read_text()


@pytest.fixture
def run_tasks(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """Run the tasks a block enqueues, in-process, when the block's transaction commits.

    For API tests that need a trained version or scores without a worker process; the
    end-to-end tests use the real ``worker`` instead.
    """
    from contextlib import contextmanager

    from workers.celery_app import app

    @contextmanager
    def runner():  # type: ignore[no-untyped-def]
        previous = app.conf.task_always_eager
        app.conf.task_always_eager = True
        try:
            with django_capture_on_commit_callbacks(execute=True):
                yield
        finally:
            app.conf.task_always_eager = previous

    return runner
