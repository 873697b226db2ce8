"""Celery app and tasks: thin wrappers that call webapp services with ids."""

from workers.celery_app import app

__all__ = ["app"]
