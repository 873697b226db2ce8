"""Re-send training and scoring jobs after a worker or broker failure."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from webapp.assets.video_services import requeue_stale_extractions
from webapp.detectors.services import requeue_stale_jobs


class Command(BaseCommand):
    help = (
        "Re-send jobs whose worker died (workers also do this by themselves). With --queued, "
        "also jobs queued for longer than JOB_STALE_AFTER_SECONDS, e.g. after a broker "
        "without persistence lost its messages. Duplicates are harmless."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queued", action="store_true", help="also re-send old queued jobs")

    def handle(self, *args: Any, **options: Any) -> None:
        versions, chunks = requeue_stale_jobs(include_queued=options["queued"])
        videos = requeue_stale_extractions(include_queued=options["queued"])
        self.stdout.write(
            f"re-sent {versions} training and {chunks} scoring jobs, {videos} frame extractions"
        )
