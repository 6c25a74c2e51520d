"""``manage.py ledger_key_import --org acme --ledger-id member-00 --key-file FILE``

Lets a portal organization act on the ledger as an organization whose Ed25519 key already exists
(devnet members: FILE is ``DIR/orgs/member-00.ed25519``; or a key registered by governance
elsewhere). The next nonce is read from the
mirror (run ``ledger_follow`` first) unless ``--next-nonce`` is given.
"""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management.base import BaseCommand, CommandError

from ledger import services
from ledger.errors import LedgerError
from ledger.models import MirrorChain
from tenants.models import Organization
from tenants.rls import system_context


class Command(BaseCommand):
    help = "Import an existing Ed25519 ledger key for a portal organization (devnet members)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--org", required=True, help="portal organization slug")
        parser.add_argument("--ledger-id", required=True, help="the organization id on the ledger")
        parser.add_argument("--key-file", required=True, type=Path, help="raw key as hex")
        parser.add_argument("--next-nonce", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        with system_context():
            organization = Organization.objects.filter(slug=options["org"]).first()
            if organization is None:
                raise CommandError(f"no organization {options['org']!r}")
            try:
                key = Ed25519PrivateKey.from_private_bytes(
                    bytes.fromhex(options["key_file"].read_text().strip())
                )
            except (OSError, ValueError) as exc:
                raise CommandError(f"cannot read the key: {exc}") from exc
            nonce = options["next_nonce"]
            if nonce is None:
                nonce = 1
                if MirrorChain.objects.exists():
                    state = services.follower_verifier().state
                    nonce = state.next_nonce(options["ledger_id"])
            try:
                row = services.organization_key_import(
                    organization=organization,
                    ledger_id=options["ledger_id"],
                    private_key=key,
                    next_nonce=nonce,
                )
            except LedgerError as exc:
                raise CommandError(exc.message) from exc
        self.stdout.write(
            f"{organization.slug} signs as {options['ledger_id']} with {row.public_key} "
            f"(next nonce {nonce})"
        )
