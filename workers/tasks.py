"""Celery tasks. Each takes ids, claims its job atomically in the service and is safe to
run twice (``acks_late``: a task whose worker died is delivered again)."""

from __future__ import annotations

from celery import shared_task

import workers.signals  # noqa: F401  (connects the worker hooks)
from webapp.assets import video_services
from webapp.detectors import services


@shared_task(name="workers.train_version", acks_late=True)
def train_version(version_id: int) -> None:
    services.run_training(version_id=version_id)


@shared_task(name="workers.score_chunk", acks_late=True)
def score_chunk(chunk_id: int) -> None:
    services.score_chunk(chunk_id=chunk_id)


@shared_task(name="workers.extract_video", acks_late=True)
def extract_video(video_id: int) -> None:
    video_services.extract_video(video_id=video_id)
