"""Celery tasks. Each takes ids, claims its job atomically in the service and is safe to
run twice (``acks_late``: a task whose worker died is delivered again).

Every task is a :class:`JobTask`: transient faults (database or broker briefly away) are
retried with exponential backoff, a bounded number of times; the soft and hard time limits
are sized per task type in settings; whatever ends a task for good (retries spent, the
hard limit, an error outside the service's own handling) is recorded on its job, with the
reason users see.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Task, shared_task
from django.conf import settings

import workers.signals  # noqa: F401  (connects the worker hooks)
from webapp.assets import video_services
from webapp.common.jobs import TRANSIENT_ERRORS, failure_reason, is_transient
from webapp.detectors import services
from webapp.hooks import services as hook_services

logger = logging.getLogger(__name__)


class JobTask(Task):
    """A task that runs one job: retries transient faults, records its final failure."""

    acks_late = True
    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = 2
    retry_backoff_max = settings.JOB_RETRY_BACKOFF_MAX
    retry_jitter = True
    max_retries = settings.JOB_MAX_RETRIES
    #: records ``(job id, reason)`` on the job; set per task
    record_failure: Callable[[int, str], None]

    def apply_async(self, *args: Any, **options: Any) -> Any:
        # No limits in the message: the worker that runs the job applies its own settings.
        options.setdefault("time_limit", None)
        options.setdefault("soft_time_limit", None)
        return super().apply_async(*args, **options)

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        job_id = args[0] if args else next(iter(kwargs.values()))
        reason = failure_reason(exc, time_limit=self.soft_time_limit)
        if is_transient(exc):
            reason = f"gave up after {self.max_retries} retries: {reason}"
        logger.error("%s[%s] failed for good: %s", self.name, task_id, reason)
        type(self).record_failure(int(job_id), reason)


@shared_task(
    base=JobTask,
    name="workers.train_version",
    record_failure=services.record_training_failure,
    soft_time_limit=settings.TRAINING_SOFT_TIME_LIMIT,
    time_limit=settings.TRAINING_TIME_LIMIT,
)
def train_version(version_id: int) -> None:
    services.run_training(version_id=version_id)


@shared_task(
    base=JobTask,
    name="workers.score_chunk",
    record_failure=services.record_chunk_failure,
    soft_time_limit=settings.SCORING_SOFT_TIME_LIMIT,
    time_limit=settings.SCORING_TIME_LIMIT,
)
def score_chunk(chunk_id: int) -> None:
    services.score_chunk(chunk_id=chunk_id)


@shared_task(
    base=JobTask,
    name="workers.extract_video",
    record_failure=video_services.record_extraction_failure,
    soft_time_limit=settings.EXTRACTION_SOFT_TIME_LIMIT,
    time_limit=settings.EXTRACTION_TIME_LIMIT,
)
def extract_video(video_id: int) -> None:
    video_services.extract_video(video_id=video_id)


@shared_task(
    base=JobTask,
    name="workers.deliver_webhook",
    record_failure=hook_services.record_delivery_failure,
    # one POST: the answer timeout per socket operation, a few of them, and some slack
    soft_time_limit=int(4 * settings.WEBHOOK_TIMEOUT_SECONDS + 30),
    time_limit=int(4 * settings.WEBHOOK_TIMEOUT_SECONDS + 60),
)
def deliver_webhook(delivery_id: int) -> None:
    hook_services.deliver(delivery_id=delivery_id)
