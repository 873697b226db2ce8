"""Locust users for ``benchmarks/speed.py`` (run by it, headless, against 127.0.0.1 only).

Each class asks for one thing again and again; the benchmark picks the classes of a run
on the command line and reads the per-name percentiles from locust's CSV. ``Static`` is
the physical reference of each run: a small file served by the same server under the same
load, so what a page costs beyond the bare HTTP round trip shows beside it. Everything a
user needs (token, session cookie, slug, ids) comes in ``SPEED_*`` environment variables.
"""

from __future__ import annotations

import os
import random
import time

import gevent
from locust import HttpUser, task

SLUG = os.environ.get("SPEED_SLUG", "bench")
TOKEN = os.environ.get("SPEED_TOKEN", "")
SESSION = os.environ.get("SPEED_SESSION", "")
VERSION = os.environ.get("SPEED_VERSION", "0")
ASSET = os.environ.get("SPEED_ASSET", "0")
#: Seconds between the starts of one user's requests ("paced"); 0 = back to back.
PACING = float(os.environ.get("SPEED_PACING", "1.0"))
#: How many users of each class, e.g. "QueuePage=4,FlagsApi=4,Static=2".
COUNTS = {
    name: int(count)
    for name, count in (
        part.split("=") for part in os.environ.get("SPEED_USERS", "").split(",") if part
    )
}


class PacedUser(HttpUser):
    """One request every ``PACING`` seconds, from a random phase (seeded per user); back to
    back when ``PACING`` is 0.

    Not locust's ``constant_pacing``: it paces from the moment the user was created, and
    locust creates a run's users together, so every user would ask at the same instant
    each second (seen in the server's arrival times: all within 0.3 s): one burst of all
    their requests at once, not users working side by side. A request that overruns its
    slot is followed at once by the next, as with ``constant_pacing``.
    """

    abstract = True
    _started = 0

    def on_start(self) -> None:
        PacedUser._started += 1
        phase = random.Random(PacedUser._started).uniform(0, PACING)
        self._slot = time.perf_counter() + phase
        gevent.sleep(phase)

    def wait_time(self) -> float:
        if PACING <= 0:
            return 0.0
        now = time.perf_counter()
        self._slot = max(self._slot + PACING, now)
        return self._slot - now


class Static(PacedUser):
    """The reference: a small static file (whitenoise), the same server and load."""

    @task
    def static_file(self) -> None:
        self.client.get("/static/css/app.css", name="static file (reference)")


class QueuePage(PacedUser):
    """A reviewer opening the review queue page (signed in by session cookie)."""

    def on_start(self) -> None:
        self.client.cookies.set("sessionid", SESSION, domain="127.0.0.1")
        super().on_start()

    @task
    def queue_page(self) -> None:
        self.client.get(f"/sites/{SLUG}/review/", name="review queue page")


class FlagsApi(PacedUser):
    """A script or the page asking for the first page of pending flags."""

    @task
    def pending_flags(self) -> None:
        self.client.get(
            f"/api/sites/{SLUG}/flags/?status=pending",
            headers={"Authorization": f"Token {TOKEN}"},
            name="GET flags?status=pending",
        )


class RocPlot(PacedUser):
    """A version page's ROC plot, drawn once and then served from the cache (no ETag sent)."""

    @task
    def roc_plot(self) -> None:
        self.client.get(
            f"/versions/{VERSION}/plots/roc.png",
            headers={"Authorization": f"Token {TOKEN}"},
            cookies={"sessionid": SESSION},
            name="ROC plot (cached)",
        )


class Thumbnail(PacedUser):
    """A list's thumbnail of an asset, made on first request and kept in storage."""

    @task
    def thumbnail(self) -> None:
        self.client.get(
            f"/api/assets/{ASSET}/thumbnail/",
            headers={"Authorization": f"Token {TOKEN}"},
            name="thumbnail (stored)",
        )


for _user in (Static, QueuePage, FlagsApi, RocPlot, Thumbnail):
    _user.fixed_count = COUNTS.get(_user.__name__, 0)
