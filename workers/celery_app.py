"""The Celery application, configured from Django settings (``CELERY_*``).

Two queues: ``cpu`` for light work and ``gpu`` for kinds that profit from CUDA. The
embedded default runs one worker on both; production runs GPU workers with ``-Q gpu``.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("anomaly_review")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("cpu"), Queue("gpu"))
app.autodiscover_tasks(["workers"], related_name="tasks")
