"""Ledger reads of the portal's database: the mirror (alliance-wide), an organization's outbox and
accounts. A ``*_get`` returns the object or ``None``. Reads that call the validators (their
health) or re-verify the chain live in ``ledger.services``."""

from __future__ import annotations

from django.db.models import QuerySet

from ledger.models import (
    LedgerOutbox,
    MirrorAccount,
    MirrorBlock,
    MirrorTransaction,
)
from ledger.outbox import ledger_id_for
from tenants.models import Organization

__all__ = [
    "account_list",
    "block_get",
    "block_list",
    "outbox_list",
    "transaction_get",
    "transaction_list_for_organization",
]


def block_list() -> QuerySet[MirrorBlock]:
    return MirrorBlock.objects.defer("block", "certificate", "state_proofs").order_by("-height")


def block_get(*, height: int) -> MirrorBlock | None:
    return MirrorBlock.objects.defer("block", "state_proofs").filter(height=height).first()


def transaction_get(*, tx_hash: str) -> MirrorTransaction | None:
    return (
        MirrorTransaction.objects.select_related("block")
        .defer("block__block", "block__certificate", "block__state_proofs")
        .filter(hash=tx_hash.lower())
        .first()
    )


def transaction_list_for_organization(*, organization: Organization) -> QuerySet[MirrorTransaction]:
    """The mirrored transactions the organization sent."""
    return (
        MirrorTransaction.objects.select_related("block")
        .defer("block__block", "block__certificate", "block__state_proofs")
        .filter(sender=ledger_id_for(organization))
    )


def outbox_list(*, organization: Organization) -> QuerySet[LedgerOutbox]:
    return (
        LedgerOutbox.objects.filter(organization=organization)
        .select_related("organization")
        .defer("tx_bytes")
        .order_by("-id")
    )


def account_list(*, organization: Organization) -> QuerySet[MirrorAccount]:
    """The organization's ledger accounts and balances as of the mirror's height."""
    return MirrorAccount.objects.filter(owner=ledger_id_for(organization))
