"""``manage.py ledger_outbox --once | --loop``: the outbox worker without Celery."""

from __future__ import annotations

import logging
import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from ledger import services
from ledger.client import NodeUnavailable


class Command(BaseCommand):
    help = "Sign, submit and track the ledger outbox (once, or in a loop)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--once", action="store_true", help="one pass, then exit (default)")
        mode.add_argument("--loop", action="store_true", help="run until interrupted")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between passes")
        parser.add_argument("--limit", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        # One INFO line per HTTP request would drown what this command reports.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        while True:
            try:
                report = services.outbox_drain(limit=options["limit"])
            except NodeUnavailable as exc:
                self.stderr.write(f"ledger outbox: {exc}")
            else:
                moved = {k: n for k, n in report.counts().items() if n}
                if moved:
                    self.stdout.write(f"ledger outbox: {moved}")
            if not options["loop"]:
                return
            time.sleep(options["interval"])
