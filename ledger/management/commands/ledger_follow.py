"""``manage.py ledger_follow``: verify and mirror committed blocks, forever (or up to a height).

Streams ``/v1/blocks?from=`` from LEDGER_NODE_URLS, switching node on failure; every block's
commit certificate is verified against the pinned validator set before it is mirrored.
"""

from __future__ import annotations

import logging
import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from ledger import services
from ledger.client import NodeClient
from ledger.follower import Follower
from tenants.rls import system_context


class Command(BaseCommand):
    help = "Follow the ledger: verify each committed block's certificate and mirror it."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--until-height", type=int, default=None)
        parser.add_argument("--seconds", type=float, default=None, help="stop after this long")

    def handle(self, *args: Any, **options: Any) -> None:
        # One INFO line per HTTP request would drown what this command reports.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        client = NodeClient()
        with system_context():
            verifier = services.follower_verifier(client=client)
            self.stdout.write(f"ledger follower: mirror at height {verifier.height}")
            follower = Follower(client, verifier, services.mirror_block)
            deadline = None if options["seconds"] is None else time.monotonic() + options["seconds"]
            try:
                height = follower.run(until_height=options["until_height"], deadline=deadline)
            except KeyboardInterrupt:
                # Every mirrored block was written atomically: stopping here loses nothing.
                height = verifier.height
        self.stdout.write(f"ledger follower: stopped at height {height}")
