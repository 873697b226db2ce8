"""Django project of the anomaly review product."""

# Load the Celery app with Django so that tasks enqueued from web requests use its broker.
from workers.celery_app import app as celery_app

__all__ = ["celery_app"]
