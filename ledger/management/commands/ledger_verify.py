"""``manage.py ledger_verify``: re-check the mirrored chain from genesis.

Hash links, every commit certificate (``verify_commit``), state roots by replaying the
transactions with ``ledger.state``, and the mirrored rows against the verified blocks. Prints the
first bad block and exits 1; prints a summary and exits 0 otherwise.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand

from ledger import services
from tenants.rls import system_context


class Command(BaseCommand):
    help = "Re-verify the mirrored ledger chain from genesis; non-zero exit on the first bad block."

    def handle(self, *args: Any, **options: Any) -> None:
        with system_context():
            verdict = services.mirror_verify()
        if not verdict.ok:
            self.stderr.write(
                f"ledger_verify: BAD block {verdict.bad_height}: {verdict.reason} "
                f"(verified up to height {verdict.height})"
            )
            sys.exit(1)
        self.stdout.write(
            f"ledger_verify: OK {verdict.blocks} blocks, {verdict.transactions} transactions, "
            f"height {verdict.height}, state root {verdict.state_root}"
        )
