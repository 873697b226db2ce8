"""Install a pretrained weights file carried onto an air-gapped machine."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from detection.weights import WeightsMissingError, import_weights_file


class Command(BaseCommand):
    help = (
        "Copy a torchvision weights file (e.g. mobilenet_v2-b0353104.pth) into the torch "
        "cache after checking its sha256, so the deep detector kinds work offline."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", help="weights files with torchvision's names")

    def handle(self, *args: Any, **options: Any) -> None:
        for name in options["files"]:
            try:
                target = import_weights_file(name)
            except WeightsMissingError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(self.style.SUCCESS(f"installed {target}"))
