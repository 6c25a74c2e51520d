"""The chain pin (genesis), the mirror of verified blocks (written by the follower) and its full
re-verification (``manage.py ledger_verify``).

``mirror_block`` also decides outbox rows by transaction hash (``outbox_decided``, shared with the
worker) and activates a pending organization key once its rotation is committed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from ledger import events
from ledger.client import NodeClient
from ledger.conf import genesis_file
from ledger.consensus import decode
from ledger.consensus.errors import DecodeError
from ledger.errors import GENESIS_MISMATCH, LedgerError
from ledger.follower import AppliedBlock, ChainError, ChainVerifier, GenesisInfo
from ledger.models import (
    LedgerOutbox,
    MirrorAccount,
    MirrorBlock,
    MirrorChain,
    MirrorTransaction,
    OrganizationKey,
)
from ledger.outbox import Decision, MirroredBlock, block_handlers, decision_handlers
from ledger.receipts import entry_proof_to_json
from ledger.state import (
    HoldCapture,
    HoldStatus,
    HoldVoid,
    MultiTransfer,
    OrgKeyRotate,
    State,
    Transaction,
    TxType,
    payload_to_json,
)
from ledger.state.limits import HOLD_EXPIRY_BUCKET_MS
from ledger.state.records import keys
from tenants.models import Organization
from tenants.rls import system_context

#: Hashes per ``IN (...)`` query (well under SQLite's and PostgreSQL's parameter limits).
_HASH_CHUNK = 500

# --- the chain pin -------------------------------------------------------------------------


@transaction.atomic
def chain_pin(*, genesis: dict[str, Any], source: str) -> MirrorChain:
    """Pin the chain's genesis (first contact); a different genesis later is refused."""
    info = GenesisInfo.from_json(genesis)
    existing = MirrorChain.objects.select_for_update().first()
    if existing is not None:
        if existing.genesis_hash != info.block.hash.hex():
            raise LedgerError(
                GENESIS_MISMATCH, f"{source} serves another chain than the pinned one"
            )
        return existing
    chain = MirrorChain.objects.create(
        chain_id=info.chain_id.hex(),
        genesis=info.raw,
        genesis_hash=info.block.hash.hex(),
        source=source[:300],
    )
    with system_context():
        for a in info.config.accounts:
            MirrorAccount.objects.update_or_create(
                account_id=a.account_id,
                defaults={
                    "currency": a.currency, "owner": a.owner, "balance": a.balance, "held": 0,
                    "height": 0,
                },
            )  # fmt: skip
    return chain


def chain_genesis(*, client: NodeClient | None = None) -> GenesisInfo:
    """The pinned genesis: from the database, else LEDGER_GENESIS_FILE, else ``/v1/genesis``."""
    chain = MirrorChain.objects.first()
    if chain is None:
        path = genesis_file()
        if path is not None:
            chain = chain_pin(genesis=json.loads(path.read_text()), source=str(path))
        else:
            client = client or NodeClient()
            chain = chain_pin(genesis=client.genesis(), source=client.urls[client.order()[0]])
    return GenesisInfo.from_json(chain.genesis)


def follower_verifier(*, client: NodeClient | None = None) -> ChainVerifier:
    """A verifier positioned at the mirror's tip: the mirrored blocks are replayed (state roots
    and links re-checked; their certificates were verified when they were mirrored)."""
    from ledger.consensus import decode

    verifier = ChainVerifier(chain_genesis(client=client))
    for row in MirrorBlock.objects.order_by("height").only("block", "certificate").iterator():
        verifier.apply(
            decode(bytes(row.block)), decode(bytes(row.certificate)), check_certificate=False
        )
    return verifier


# --- the mirror ----------------------------------------------------------------------------


def state_proofs(state: State) -> dict[str, Any]:
    """What receipts need from a block's state (``MirrorBlock.state_proofs``): the proof of the
    chain metadata, and of the validator set when the block ends an epoch (pending changes)."""
    proofs = {"meta": entry_proof_to_json(state.store.prove(keys.META))}
    if state.pending_validator_changes:
        proofs["validators"] = entry_proof_to_json(state.store.prove(keys.VALIDATORS))
    return proofs


def _involved(applied: AppliedBlock) -> set[str]:
    ids: set[str] = set()
    for tx in applied.transactions:
        ids.add(tx.sender)
        grantee = getattr(tx.payload, "grantee", None)
        if isinstance(grantee, str):
            ids.add(grantee)
    return ids


def _touched_accounts(applied: AppliedBlock) -> set[str]:
    """The accounts whose balance or ``held`` the block may have changed: those its
    transactions name (a capture or void names only its hold: its accounts are read from the
    applied state; a multi-transfer names them in its legs), and the source accounts of the holds
    that expired at the block, which no transaction names (:func:`_expired_hold_accounts`)."""
    ids: set[str] = set()
    for tx in applied.transactions:
        payload = tx.payload
        if isinstance(payload, HoldCapture | HoldVoid):
            hold = applied.state.hold(payload.hold_id)
            if hold is not None:
                ids.update((hold.from_account, hold.to_account))
            continue
        if isinstance(payload, MultiTransfer):
            for leg in payload.legs:
                ids.update((leg.from_account, leg.to_account))
            continue
        for name in ("account_id", "from_account", "to_account"):
            value = getattr(payload, name, None)
            if isinstance(value, str):
                ids.add(value)
    return ids | _expired_hold_accounts(applied)


def _expired_hold_accounts(applied: AppliedBlock) -> set[str]:
    """The source accounts of the holds the block released by expiry, before its transactions
    (docs/ledger.md, "Payments"). They are the due entries of the parent state's expiry buckets
    whose hold the block resolved as ``expired``: the cost is that of the due holds, as in
    execution, never a scan of every hold."""
    now = applied.block.header.timestamp_ms
    height = applied.block.header.height
    parent = applied.parent_state
    index = parent.expiry_index()
    ids: set[str] = set()
    for number in () if index is None else index.buckets:
        if number > now // HOLD_EXPIRY_BUCKET_MS:
            break
        bucket = parent.expiry_bucket(number)
        for expires_at_ms, hold_id in () if bucket is None else bucket.entries:
            if expires_at_ms > now:
                break
            hold = applied.state.hold(hold_id)
            if (
                hold is not None
                and hold.status is HoldStatus.EXPIRED
                and hold.resolved_height == height
            ):
                ids.add(hold.from_account)
    return ids


@transaction.atomic
def mirror_block(applied: AppliedBlock, item: dict[str, Any] | None = None) -> MirrorBlock:
    """Persist a verified block: the block, its transactions with receipts, the state proofs
    receipts need, touched accounts (posted and held), outbox rows decided by it, key rotations it
    committed, then the block handlers; publish after commit."""
    block, header = applied.block, applied.block.header
    with system_context():
        row = MirrorBlock.objects.create(
            height=header.height,
            hash=block.hash.hex(),
            parent_hash=header.parent_hash.hex(),
            epoch=header.epoch,
            round=header.round,
            proposer=header.proposer,
            proposer_name=applied.proposer_name,
            timestamp_ms=header.timestamp_ms,
            state_root=header.state_root.hex(),
            payload_root=header.payload_root.hex(),
            tx_count=len(block.payload),
            signers=list(applied.signers),
            block=block.encoded,
            certificate=applied.cert.encoded,
            state_proofs=state_proofs(applied.state),
        )
        MirrorTransaction.objects.bulk_create(
            [
                MirrorTransaction(
                    block=row,
                    position=i,
                    hash=tx.tx_hash.hex(),
                    tx_type=tx.type.name.lower(),
                    sender=tx.sender,
                    nonce=tx.nonce,
                    status=str(receipt.status),
                    code="" if receipt.code is None else str(receipt.code),
                    reason=(receipt.reason or "")[:300],
                    payload=payload_to_json(tx.payload),
                )
                for i, (tx, receipt) in enumerate(
                    zip(applied.transactions, applied.receipts, strict=True)
                )
            ]
        )
        touched = [
            (account_id, applied.state.account(account_id))
            for account_id in sorted(_touched_accounts(applied))
        ]
        MirrorAccount.objects.bulk_create(
            [
                MirrorAccount(
                    account_id=account_id, currency=account.currency, owner=account.owner,
                    balance=account.balance, held=account.held, height=header.height,
                )
                for account_id, account in touched
                if account is not None
            ],
            update_conflicts=True,
            unique_fields=["account_id"],
            update_fields=["currency", "owner", "balance", "held", "height"],
        )  # fmt: skip
        waiting = _open_outbox_hashes([tx.tx_hash.hex() for tx in applied.transactions])
        for tx, receipt in zip(applied.transactions, applied.receipts, strict=True):
            if tx.tx_hash.hex() in waiting:
                outbox_decided(
                    tx.tx_hash.hex(),
                    status=str(receipt.status),
                    height=header.height,
                    code="" if receipt.code is None else str(receipt.code),
                    reason=receipt.reason or "",
                )
            if tx.type is TxType.ORG_KEY_ROTATE and str(receipt.status) == "committed":
                _key_rotation_committed(tx)
        mirrored = MirroredBlock(header.height, header.timestamp_ms, applied.state)
        for handler in block_handlers():
            handler(mirrored)
        orgs = dict(
            Organization.objects.filter(
                ledger_sender__ledger_id__in=_involved(applied)
            ).values_list("pk", "slug")
        )
    data = events.BlockCommittedData(
        height=header.height,
        hash=block.hash.hex(),
        epoch=header.epoch,
        round=header.round,
        proposer=header.proposer,
        proposer_name=applied.proposer_name,
        tx_count=len(block.payload),
        signers=list(applied.signers),
        timestamp_ms=header.timestamp_ms,
    )
    transaction.on_commit(lambda: events.publish_block_committed(data, organizations=orgs))
    return row


def _key_rotation_committed(tx: Transaction) -> None:
    payload = tx.payload
    assert isinstance(payload, OrgKeyRotate)
    new = OrganizationKey.objects.filter(public_key=payload.public_key.hex()).first()
    if new is None or new.status != OrganizationKey.Status.PENDING:
        return
    OrganizationKey.objects.filter(
        organization_id=new.organization_id, status=OrganizationKey.Status.ACTIVE
    ).update(status=OrganizationKey.Status.RETIRED, retired_at=timezone.now())
    new.status = OrganizationKey.Status.ACTIVE
    new.save(update_fields=["status"])


def _open_outbox_hashes(hashes: list[str]) -> set[str]:
    """Which of a block's transaction hashes an undecided outbox row waits for: a block holds
    thousands of transactions, the portal's own are few, so one indexed query per chunk instead
    of one per transaction."""
    found: set[str] = set()
    for start in range(0, len(hashes), _HASH_CHUNK):
        found.update(
            LedgerOutbox.objects.filter(tx_hash__in=hashes[start : start + _HASH_CHUNK])
            .exclude(status__in=[LedgerOutbox.Status.COMMITTED, LedgerOutbox.Status.REJECTED])
            .values_list("tx_hash", flat=True)
        )
    return found


def outbox_decided(
    tx_hash: str, *, status: str, height: int | None, code: str, reason: str
) -> None:
    """Move the outbox row with ``tx_hash`` to committed/rejected (idempotent), and tell the
    decision handlers registered for its type (``ledger.outbox.register_decision_handler``) in
    the same transaction: a row is decided once, so each handler runs once."""
    row = (
        LedgerOutbox.objects.select_for_update(of=("self",))
        .select_related("organization")
        .filter(tx_hash=tx_hash)
        .exclude(status__in=[LedgerOutbox.Status.COMMITTED, LedgerOutbox.Status.REJECTED])
        .first()
    )
    if row is None:
        return
    now = timezone.now()
    row.status = (
        LedgerOutbox.Status.COMMITTED if status == "committed" else LedgerOutbox.Status.REJECTED
    )
    row.height, row.code, row.finished_at, row.updated_at = height, code, now, now
    row.last_error = reason[:200]
    row.next_attempt_at = None
    row.save(
        update_fields=[
            "status", "height", "code", "finished_at", "updated_at", "last_error",
            "next_attempt_at",
        ]
    )  # fmt: skip
    decision = Decision(tx_hash=tx_hash, status=status, height=height, code=code, reason=reason)
    for handler in decision_handlers(row.tx_type):
        handler(row, decision)
    data = events.LedgerTxData(
        outbox_id=row.pk,
        tx_type=row.tx_type,
        tx_hash=tx_hash,
        status=row.status,
        height=height,
        code=code,
    )
    org_id, slug = row.organization_id, row.organization.slug
    transaction.on_commit(lambda: events.publish_ledger_tx(data, organization_id=org_id, slug=slug))


# --- re-verifying the mirror ----------------------------------------------------------------


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
    mirrored balances (posted and held) are those of the replayed state."""
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
    replayed = {
        a.account_id: (a.currency, a.owner, a.balance, a.held) for a in verifier.state.accounts()
    }
    mirrored = {
        row[0]: row[1:]
        for row in MirrorAccount.objects.values_list(
            "account_id", "currency", "owner", "balance", "held"
        )
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
