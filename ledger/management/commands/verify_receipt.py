"""``manage.py verify_receipt FILE [--genesis FILE]``: check a transaction receipt offline.

A thin wrapper around ``ledger.receipts.verify_receipt`` (pure: no database, no node).
Exits 0 and prints what the receipt proves, or exits 1 naming the part of the receipt that is
wrong. ``--genesis`` pins the chain: a genesis description (``GET /v1/genesis``, genesis.json)
whose genesis block hash the receipt's must equal.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ledger.consensus.crypto import backend
from ledger.receipts import (
    ReceiptError,
    TransactionReceipt,
    genesis_hash_from_json,
    verify_receipt,
)


def _load(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ReceiptError(what, f"cannot read {path}: {exc}") from exc


class Command(BaseCommand):
    help = "Verify a ledger transaction receipt offline; non-zero exit naming what is wrong."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the receipt (JSON)")
        parser.add_argument(
            "--genesis", help="genesis description (JSON) whose genesis hash the receipt must have"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            pin = None
            if options["genesis"]:
                pin = genesis_hash_from_json(_load(options["genesis"], "genesis"))
            receipt = TransactionReceipt.from_json(_load(options["file"], "document"))
            verified = verify_receipt(receipt, crypto=backend(), genesis_hash=pin)
        except ReceiptError as exc:
            self.stderr.write(f"invalid: {exc}")
            sys.exit(1)
        self.stdout.write(verified.summary())
