"""Ledger reads: the mirror (alliance-wide), an organization's outbox and accounts, node health,
and the full re-verification of the mirror used by ``manage.py ledger_verify``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db.models import QuerySet

from ledger import conf
from ledger.client import NodeClient, NodeUnavailable
from ledger.consensus import decode
from ledger.consensus.errors import DecodeError
from ledger.follower import ChainError, ChainVerifier, GenesisInfo
from ledger.models import (
    LedgerOutbox,
    MirrorAccount,
    MirrorBlock,
    MirrorChain,
    MirrorTransaction,
)
from ledger.outbox import ledger_id_for
from tenants.models import Organization

__all__ = [
    "MirrorVerdict",
    "account_list",
    "block_get",
    "block_list",
    "mirror_verify",
    "outbox_list",
    "transaction_get",
    "transaction_list_for_organization",
    "validator_health",
]

_HEALTH_CACHE_KEY = "ledger:validator-health"


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


def validator_health(*, client: NodeClient | None = None) -> list[dict[str, Any]]:
    """Each node's ``/v1/status`` (or its error), cached for a few seconds so a page view never
    fans out to every node."""
    cached = cache.get(_HEALTH_CACHE_KEY)
    if cached is not None:
        return list(cached)
    own = client is None
    try:
        # A short timeout: this runs on a request thread and a hung node must not hang the page.
        client = client or NodeClient(timeout=min(conf.http_timeout(), 1.0))
    except NodeUnavailable:
        return []
    try:
        statuses = client.statuses()
    finally:
        if own:
            client.close()
    cache.set(_HEALTH_CACHE_KEY, statuses, conf.status_cache_seconds())
    return statuses


@dataclass(frozen=True)
class MirrorVerdict:
    """The result of re-verifying the mirror: ``bad_height`` is None when everything holds."""

    blocks: int
    transactions: int
    height: int
    state_root: str
    bad_height: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.bad_height is None


def mirror_verify() -> MirrorVerdict:
    """Re-check the mirrored chain from genesis: hash links, every certificate (verify_commit),
    state roots by replay, that the mirrored rows say what the verified blocks say, and that the
    mirrored balances are those of the replayed state."""
    chain = MirrorChain.objects.first()
    if chain is None:
        return MirrorVerdict(0, 0, 0, "", bad_height=0, reason="no chain pinned")
    try:
        genesis = GenesisInfo.from_json(chain.genesis)
        if genesis.block.hash.hex() != chain.genesis_hash:
            raise ChainError(0, "pinned genesis hash does not match the genesis description")
        verifier = ChainVerifier(genesis)
    except (ValueError, ChainError) as exc:
        return MirrorVerdict(0, 0, 0, "", bad_height=0, reason=str(exc))
    blocks = transactions = 0
    expected = 1
    for row in MirrorBlock.objects.order_by("height").iterator(chunk_size=200):
        height = row.height
        try:
            if height != expected:
                raise ChainError(expected, "missing from the mirror")
            try:
                block, cert = decode(bytes(row.block)), decode(bytes(row.certificate))
            except DecodeError as exc:
                raise ChainError(height, f"undecodable: {exc}") from exc
            if getattr(block, "height", None) != height:
                raise ChainError(height, "mirrored block bytes are not those of this height")
            applied = verifier.apply(block, cert)
            _check_row(row, applied)
        except ChainError as exc:
            return MirrorVerdict(
                blocks, transactions, verifier.height, verifier.state.root.hex(),
                bad_height=exc.height, reason=exc.message,
            )  # fmt: skip
        blocks += 1
        transactions += len(applied.transactions)
        expected += 1
    root = verifier.state.root.hex()
    replayed = {a.account_id: (a.currency, a.owner, a.balance) for a in verifier.state.accounts()}
    mirrored = {
        row[0]: row[1:]
        for row in MirrorAccount.objects.values_list("account_id", "currency", "owner", "balance")
    }
    for account_id in sorted(set(replayed) | set(mirrored)):
        if replayed.get(account_id) != mirrored.get(account_id):
            return MirrorVerdict(
                blocks, transactions, verifier.height, root, bad_height=verifier.height,
                reason=f"mirrored account {account_id} differs from the replayed state",
            )  # fmt: skip
    return MirrorVerdict(blocks, transactions, verifier.height, root)


def _check_row(row: MirrorBlock, applied: Any) -> None:
    header = applied.block.header
    columns = {
        "hash": applied.block.hash.hex(),
        "parent_hash": header.parent_hash.hex(),
        "state_root": header.state_root.hex(),
        "payload_root": header.payload_root.hex(),
        "epoch": header.epoch,
        "round": header.round,
        "proposer": header.proposer,
        "timestamp_ms": header.timestamp_ms,
        "tx_count": len(applied.block.payload),
        "signers": list(applied.signers),
    }
    for name, value in columns.items():
        if getattr(row, name) != value:
            raise ChainError(row.height, f"mirrored {name} differs from the verified block")
    mirrored = list(row.transactions.order_by("position").values_list("hash", "status", "code"))
    replayed = [
        (tx.tx_hash.hex(), str(r.status), "" if r.code is None else str(r.code))
        for tx, r in zip(applied.transactions, applied.receipts, strict=True)
    ]
    if mirrored != replayed:
        raise ChainError(row.height, "mirrored transactions differ from the verified block")
