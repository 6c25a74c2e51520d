"""``manage.py run_validator --config <file>``: run one ledger validator until SIGTERM / SIGINT.

Thin: parse, build, run; everything else is ``ledger.node``.
"""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ledger.node.config import ConfigError
from ledger.node.runner import run_validator


class Command(BaseCommand):
    help = "Run one ledger validator (BFT replica, peer transport, storage, node API)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--config", type=Path, required=True, help="validator config JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run_validator(options["config"])
        except ConfigError as exc:
            raise CommandError(str(exc)) from exc
