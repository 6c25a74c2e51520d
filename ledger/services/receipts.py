"""Receipts of an organization's committed transactions, built from the verified mirror.

A receipt (``ledger.receipts``) lets anyone check offline that a transaction is in a
finalised block of the chain with a given genesis, and whether the state machine committed or
rejected it. Everything in it comes from rows the follower verified before mirroring them.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Max

from ledger.consensus import Block, CommitCert, decode
from ledger.errors import CORRUPT_MIRROR, INCOMPLETE_MIRROR, NO_CHAIN, LedgerError
from ledger.follower import ChainVerifier, GenesisInfo
from ledger.models import MirrorBlock, MirrorChain, MirrorTransaction
from ledger.outbox import ledger_id_for
from ledger.receipts import (
    EpochChange,
    TransactionReceipt,
    compute_inclusion_proof,
    entry_proof_from_json,
)
from ledger.services.mirror import state_proofs
from ledger.state import ErrorCode, Receipt, ReceiptStatus
from ledger.state.proofs import OutcomeProof
from tenants.models import Organization

__all__ = ["receipt_for_transaction"]


def receipt_for_transaction(
    *, organization: Organization, tx_hash: str
) -> TransactionReceipt | None:
    """The receipt of a mirrored transaction that ``organization`` sent.

    None when the mirror holds no such transaction of this organization (another
    organization's transaction is not found either); ``LedgerError(NO_CHAIN)`` before a chain
    is pinned, ``INCOMPLETE_MIRROR`` / ``CORRUPT_MIRROR`` when the mirror cannot back it.
    """
    row = (
        MirrorTransaction.objects.select_related("block")
        .filter(hash=tx_hash.lower(), sender=ledger_id_for(organization))
        .first()
    )
    chain = MirrorChain.objects.first()
    if row is None:
        return None
    if chain is None:
        raise LedgerError(NO_CHAIN)
    genesis = GenesisInfo.from_json(chain.genesis)
    block_row = row.block
    block, cert = _decode(block_row)
    # The block that ends epoch e is the last committed block of epoch e.
    ends = dict(
        MirrorBlock.objects.filter(epoch__lt=block_row.epoch)
        .values("epoch")
        .annotate(end=Max("height"))
        .values_list("epoch", "end")
    )
    if sorted(ends) != list(range(block_row.epoch)):
        raise LedgerError(INCOMPLETE_MIRROR, "The mirror lacks a past epoch.")
    end_rows = {r.height: r for r in MirrorBlock.objects.filter(height__in=ends.values())}
    proofs = {h: r.state_proofs for h, r in end_rows.items()}
    proofs[block_row.height] = block_row.state_proofs
    missing = {h for h, p in proofs.items() if "meta" not in p}
    proofs.update(_replayed_proofs(genesis, missing))

    changes = []
    for epoch in range(block_row.epoch):
        end = end_rows[ends[epoch]]
        header, end_cert = _decode(end)
        if "validators" not in proofs[end.height]:
            raise LedgerError(INCOMPLETE_MIRROR, f"No validator proof for epoch {epoch}.")
        changes.append(
            EpochChange(
                header=header.header,
                cert=end_cert,
                meta=entry_proof_from_json(proofs[end.height]["meta"]),
                validators=entry_proof_from_json(proofs[end.height]["validators"]),
            )
        )
    receipts = tuple(
        Receipt(
            bytes.fromhex(t.hash), ReceiptStatus(t.status), ErrorCode(t.code) if t.code else None,
            block_row.height, t.position,
        ).encode()
        for t in MirrorTransaction.objects.filter(block=block_row).order_by("position")
    )  # fmt: skip
    return TransactionReceipt(
        chain_id=genesis.chain_id,
        genesis=genesis.block,
        genesis_validators=genesis.validators,
        epoch_changes=tuple(changes),
        header=block.header,
        cert=cert,
        tx=block.payload[row.position],
        index=row.position,
        tree_size=len(block.payload),
        audit_path=compute_inclusion_proof(block.payload, row.position),
        outcome=OutcomeProof(
            meta=entry_proof_from_json(proofs[block_row.height]["meta"]), receipts=receipts
        ),
    )


def _decode(row: MirrorBlock) -> tuple[Block, CommitCert]:
    block, cert = decode(bytes(row.block)), decode(bytes(row.certificate))
    if not isinstance(block, Block) or not isinstance(cert, CommitCert):  # the follower checked
        raise LedgerError(CORRUPT_MIRROR, f"Mirrored block {row.height} is damaged.")
    return block, cert


def _replayed_proofs(genesis: GenesisInfo, heights: set[int]) -> dict[int, dict[str, Any]]:
    """State proofs of blocks mirrored before the mirror kept them: replay the mirror from
    genesis up to the highest one (the certificates were verified when the rows were written)."""
    if not heights:
        return {}
    found: dict[int, dict[str, Any]] = {}
    verifier = ChainVerifier(genesis)
    rows = MirrorBlock.objects.filter(height__lte=max(heights)).order_by("height")
    for row in rows.only("height", "block", "certificate").iterator(chunk_size=200):
        block, cert = _decode(row)
        applied = verifier.apply(block, cert, check_certificate=False)
        if row.height in heights:
            found[row.height] = state_proofs(applied.state)
    return found
