"""Job plumbing shared by every background job: claims, holders, heartbeats, failures.

A job row (a training version, a scoring chunk, a video extraction) has a ``status`` of
:class:`JobStatus`, a ``heartbeat_at`` and the worker that holds it (:class:`ClaimedJob`:
host and process id). A worker starts a job only after :func:`claim` moved it to running
in one conditional update, so a task delivered twice does its work once; while it runs,
:class:`Heartbeat` keeps ``heartbeat_at`` fresh.

A claim is taken over as soon as its holder is *gone* (:func:`holder_gone`): on the
holder's own host, when its process no longer exists (a killed pool process is replaced
within seconds, by the redelivered task or by the watchdog); from any host, when its
heartbeat is older than ``JOB_STALE_AFTER_SECONDS`` (a short window: heartbeats come every
``JOB_HEARTBEAT_SECONDS``, whatever the job does). A job that hangs with a live heartbeat
is ended by the task time limits instead (``workers/tasks.py``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, models
from django.db.models import F
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerOperationalError

logger = logging.getLogger(__name__)


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


def _transient_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [
        OperationalError,
        InterfaceError,
        BrokerOperationalError,
        ConnectionError,
        TimeoutError,
    ]
    try:  # the Redis client is there whenever the broker is Redis
        import redis.exceptions

        errors += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    except ImportError:  # pragma: no cover
        pass
    try:  # S3-compatible media storage briefly away (boto3 comes with django-storages[s3])
        import botocore.exceptions

        errors += [botocore.exceptions.ConnectionError, botocore.exceptions.ReadTimeoutError]
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


#: Faults that pass by themselves (database, broker or object storage briefly away):
#: retried, not failed.
TRANSIENT_ERRORS = _transient_errors()


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT_ERRORS)


class ClaimedJob(models.Model):
    """Which worker holds a running job, so others can tell when it is gone."""

    claimed_by_host = models.CharField(max_length=255, blank=True)
    claimed_by_pid = models.PositiveIntegerField(null=True, blank=True)
    takeovers = models.PositiveSmallIntegerField(
        default=0, help_text="Times a worker took this job over from one that died."
    )

    class Meta:
        abstract = True


def this_worker() -> tuple[str, int]:
    """(host, process id) of the calling process: what a claim records."""
    return socket.gethostname(), os.getpid()


#: (model label, pk) of the jobs this process is running now; a claim recorded for this
#: process but not in here is a leftover of an earlier attempt (e.g. before a retry).
_running: set[tuple[str, int]] = set()
_running_lock = threading.Lock()


def _key(model: type[models.Model], pk: int) -> tuple[str, int]:
    return model._meta.label_lower, int(pk)


def pid_alive(pid: int) -> bool:
    """Whether a process of that id exists on this host (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(0) said it exists


def stale_before() -> datetime:
    return timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER_SECONDS)


def holder_gone(
    model: type[models.Model],
    pk: int,
    *,
    host: str,
    pid: int | None,
    heartbeat_at: datetime | None,
) -> bool:
    """The one rule for "the worker holding this running job is gone".

    Gone when its heartbeat is older than the staleness window (any host), or, on the
    holder's own host, at once when its process no longer exists, or when the holder is
    this very process but it is not running the job (left over from an earlier attempt).
    """
    if heartbeat_at is None or heartbeat_at < stale_before():
        return True
    my_host, my_pid = this_worker()
    if not host or pid is None or host != my_host:
        return False
    if pid == my_pid:
        with _running_lock:
            return _key(model, pk) not in _running
    return not pid_alive(pid)


_HOLDER_FIELDS = ("claimed_by_host", "claimed_by_pid", "heartbeat_at")


def _held_by(row: dict[str, Any]) -> dict[str, Any]:
    """A filter that matches the row only while it still has the holder we saw."""
    return {field: row[field] for field in _HOLDER_FIELDS}


def _is_me(row: dict[str, Any]) -> bool:
    return (row["claimed_by_host"], row["claimed_by_pid"]) == this_worker()


def claim(model: type[models.Model], pk: int) -> bool:
    """Atomically make this process the holder of a job; False if a live worker has it.

    Claims a queued job, or takes over a running one whose holder is gone
    (:func:`holder_gone`; counted in ``takeovers`` unless it was this process's own).
    """
    manager = model._default_manager
    host, pid = this_worker()
    mine = {
        "status": JobStatus.RUNNING,
        "heartbeat_at": timezone.now(),
        "claimed_by_host": host,
        "claimed_by_pid": pid,
    }
    claimed = manager.filter(pk=pk, status=JobStatus.QUEUED).update(**mine)
    if not claimed:
        row = manager.filter(pk=pk, status=JobStatus.RUNNING).values(*_HOLDER_FIELDS).first()
        if row is None or not holder_gone(
            model,
            pk,
            host=row["claimed_by_host"],
            pid=row["claimed_by_pid"],
            heartbeat_at=row["heartbeat_at"],
        ):
            return False
        takeovers = F("takeovers") if _is_me(row) else F("takeovers") + 1
        claimed = manager.filter(pk=pk, status=JobStatus.RUNNING, **_held_by(row)).update(
            takeovers=takeovers, **mine
        )
        if claimed:
            logger.warning(
                "took over %s %s from %s pid %s (gone)",
                model.__name__,
                pk,
                row["claimed_by_host"] or "an unknown worker",
                row["claimed_by_pid"],
            )
    if claimed:
        with _running_lock:
            _running.add(_key(model, pk))
    return bool(claimed)


def release(model: type[models.Model], pk: int) -> None:
    """Give a job this process holds back to the queue (before a retry of its task).

    If the database is away too, the claim stays recorded; this process (and, after the
    staleness window, any worker) still sees it as gone, so the retry can take it back.
    """
    host, pid = this_worker()
    try:
        model._default_manager.filter(
            pk=pk, status=JobStatus.RUNNING, claimed_by_host=host, claimed_by_pid=pid
        ).update(status=JobStatus.QUEUED)
    except DatabaseError:
        logger.warning("could not release %s %s; its retry takes it back", model.__name__, pk)
    finally:
        with _running_lock:
            _running.discard(_key(model, pk))


def take_back_gone(model: type[models.Model]) -> list[int]:
    """Put back to queued every running job whose holder is gone; returns their ids.

    For the watchdog, which then sends them again. Each is a conditional update on the
    holder seen, so a holder that beats meanwhile keeps its job and only one watchdog wins.
    """
    manager = model._default_manager
    taken = []
    for row in manager.filter(status=JobStatus.RUNNING).values("pk", *_HOLDER_FIELDS):
        gone = holder_gone(
            model,
            row["pk"],
            host=row["claimed_by_host"],
            pid=row["claimed_by_pid"],
            heartbeat_at=row["heartbeat_at"],
        )
        if gone and manager.filter(pk=row["pk"], status=JobStatus.RUNNING, **_held_by(row)).update(
            status=JobStatus.QUEUED,
            takeovers=F("takeovers") if _is_me(row) else F("takeovers") + 1,
        ):
            taken.append(row["pk"])
    return taken


def gave_up_reason(takeovers: int) -> str | None:
    """Why a job is failed instead of run again, when its workers keep dying under it."""
    if takeovers <= settings.JOB_MAX_TAKEOVERS:
        return None
    return (
        f"its worker died {takeovers} times while running it (out of memory, or killed): "
        "not tried again; see the worker log"
    )


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def failure_reason(
    exc: BaseException,
    *,
    time_limit: float | None = None,
    shown_as_is: tuple[type[BaseException], ...] = (),
) -> str:
    """The reason a failed job shows its users.

    ``time_limit`` is the job's soft limit in seconds (for the message when it ran out);
    errors of the ``shown_as_is`` types already speak to users, others get their type.
    """
    if isinstance(exc, SoftTimeLimitExceeded):
        limit = f" of {_duration(time_limit)}" if time_limit else ""
        return f"stopped: it ran past its time limit{limit}"
    if isinstance(exc, TimeLimitExceeded):
        limit = f" of {_duration(float(exc.args[0]))}" if exc.args else ""
        return f"stopped: it ran past its hard time limit{limit}; the worker process was ended"
    if isinstance(exc, shown_as_is):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class Heartbeat:
    """Beats every ``JOB_HEARTBEAT_SECONDS`` while a job runs, even inside a long library call.

    A job whose heartbeat is older than ``JOB_STALE_AFTER_SECONDS`` may be taken over, so
    a live worker must never look stale: it beats several times per window. It beats only
    while this process still holds the claim, and on exit the job no longer counts as
    running in this process.
    """

    def __init__(self, model: type[models.Model], pk: int) -> None:
        self.model, self.pk = model, pk
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"heartbeat-{pk}", daemon=True)

    def _run(self) -> None:
        interval = max(
            0.5, min(settings.JOB_HEARTBEAT_SECONDS, settings.JOB_STALE_AFTER_SECONDS / 3)
        )
        host, pid = this_worker()
        try:
            while not self.stop.wait(interval):
                try:
                    self.model._default_manager.filter(
                        pk=self.pk,
                        status=JobStatus.RUNNING,
                        claimed_by_host=host,
                        claimed_by_pid=pid,
                    ).update(heartbeat_at=timezone.now())
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
        with _running_lock:
            _running.discard(_key(self.model, self.pk))


def run_claimed(model: type[models.Model], pk: int, work: Callable[[int], None]) -> bool:
    """Claim job ``pk`` of ``model``, run ``work(pk)`` with its heartbeat; False if not ours.

    A transient fault gives the claim back before it propagates, so the task's retry can
    claim the job again at once instead of waiting for the holder to look gone.
    """
    if not claim(model, pk):
        return False
    with Heartbeat(model, pk):
        try:
            work(pk)
        except Exception as exc:
            if is_transient(exc):
                release(model, pk)  # for the task's retry
            raise
    return True
