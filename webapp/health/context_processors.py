"""Puts ``workers_down`` in every page's context: the banner shown when jobs wait and no
worker is alive. A callable, so only pages that show it (signed in) query for it."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from webapp.health.selectors import workers_down_with_jobs_waiting


def worker_status(request: HttpRequest) -> dict[str, Any]:
    return {"workers_down": workers_down_with_jobs_waiting}
