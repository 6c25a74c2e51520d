"""One representative row of every ledger model that a URL names by id, for one organization.

``LedgerOutbox`` is tenant data. ``MirrorBlock`` and ``MirrorTransaction`` are alliance-wide (any
member of any organization may read them), so the block and its transaction are the same for
every organization; the transaction is the organization's own.
"""

from __future__ import annotations

from django.db.models import Model

from ledger.models import LedgerOutbox, MirrorBlock, MirrorTransaction
from tenants.models import Organization


def ledger_objects(*, organization: Organization) -> dict[type[Model], Model]:
    """A governance outbox row awaiting approvals, and a mirrored block with one transaction."""
    outbox = LedgerOutbox.objects.create(
        organization=organization,
        tx_type="org_key_rotate",
        payload={"org_id": organization.slug, "public_key": "ab" * 32},
        status=LedgerOutbox.Status.AWAITING_APPROVALS,
        idempotency_key=f"walk-{organization.slug}",
    )
    block = MirrorBlock.objects.create(
        height=7,
        hash="b7" * 32,
        parent_hash="b6" * 32,
        epoch=0,
        round=7,
        proposer=0,
        timestamp_ms=1_700_000_000_000,
        state_root="51" * 32,
        payload_root="9a" * 32,
        tx_count=1,
        block=b"",
        certificate=b"",
    )
    mirrored = MirrorTransaction.objects.create(
        block=block,
        position=0,
        hash="7c" * 32,
        tx_type="transfer",
        sender=organization.slug,
        nonce=1,
        status="committed",
    )
    return {LedgerOutbox: outbox, MirrorBlock: block, MirrorTransaction: mirrored}
