"""Typed realtime events of the ledger, published only through ``kernel.events.publish``.

- ``block.committed`` on the alliance feed and on the feed of each organization involved in the
  block (a sender, or the grantee of a data-sharing transaction);
- ``ledger.tx`` on the submitting organization's feed when its outbox row is committed or
  rejected.

Call these after the database transaction commits (``transaction.on_commit``).
"""

from __future__ import annotations

from typing import TypedDict

from kernel.events import Event, publish

__all__ = ["BlockCommittedData", "LedgerTxData", "publish_block_committed", "publish_ledger_tx"]


class BlockCommittedData(TypedDict):
    height: int
    hash: str
    epoch: int
    round: int
    proposer: int
    proposer_name: str
    tx_count: int
    signers: list[int]
    timestamp_ms: int


class LedgerTxData(TypedDict):
    outbox_id: int
    tx_type: str
    tx_hash: str
    status: str
    height: int | None
    code: str


def publish_block_committed(data: BlockCommittedData, *, organizations: dict[int, str]) -> None:
    """Alliance feed, then each involved organization's feed (``{organization id: slug}``)."""
    publish(None, Event(type="block.committed", data=dict(data)))
    for organization_id, slug in sorted(organizations.items()):
        publish(organization_id, Event(type="block.committed", organization=slug, data=dict(data)))


def publish_ledger_tx(data: LedgerTxData, *, organization_id: int, slug: str) -> None:
    publish(organization_id, Event(type="ledger.tx", organization=slug, data=dict(data)))
