"""Ledger writes of the portal: organization keys, the outbox worker, the chain pin, the mirror.

Outbox lifecycle (exactly once):

1. ``ledger_submit`` writes a ``pending`` row in the business transaction.
2. ``outbox_sign_pending`` takes pending rows with ``select_for_update(skip_locked=True)``, takes
   the organization's next nonce under a row lock on ``LedgerSender``, signs with the active
   organization key, and stores the signed bytes and hash in the SAME database transaction as
   the nonce increment. Governance payloads (``org_key_rotate``) get their nonce and wait in
   ``awaiting_approvals`` (approvals are bound to the carrier's sender and nonce).
3. ``outbox_submit_due`` posts the stored bytes (any node, failover), then polls the status until
   ``committed`` / ``rejected``, retrying with exponential back-off. A retry always resubmits the
   stored bytes: the node deduplicates by hash and the nonce forbids a second application.
4. The follower marks rows committed/rejected by hash as well (whichever comes first).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ledger import events, keys
from ledger.client import NodeClient, NodeError, NodeRefused, NodeUnavailable
from ledger.conf import genesis_file
from ledger.follower import AppliedBlock, ChainVerifier, GenesisInfo
from ledger.models import (
    LedgerOutbox,
    LedgerSender,
    MirrorAccount,
    MirrorBlock,
    MirrorChain,
    MirrorTransaction,
    OrganizationKey,
)
from ledger.outbox import ledger_id_for, ledger_submit, payload_for
from ledger.state import (
    Approval,
    GovernancePayload,
    InvalidTransaction,
    OrgKeyRotate,
    Transaction,
    TxType,
    compute_governance_root,
    payload_to_json,
    sign_transaction,
    with_approvals,
)
from tenants.models import Organization
from tenants.rls import system_context

__all__ = [
    "DrainReport",
    "LedgerServiceError",
    "chain_genesis",
    "chain_pin",
    "follower_verifier",
    "governance_required",
    "governance_root",
    "mirror_block",
    "organization_key_ensure",
    "organization_key_import",
    "organization_key_rotate",
    "organization_signing_key",
    "outbox_approval_add",
    "outbox_drain",
    "outbox_sign_pending",
    "outbox_submit_due",
]

logger = logging.getLogger(__name__)

#: Back-off of a retried submission or status poll: 0.5 s doubling up to this cap.
MAX_BACKOFF_SECONDS = 60.0
#: Node answers that mean "later", not "never" (a full mempool, a node starting up).
_RETRY_STATUSES = {408, 425, 429}
#: Refusals that a later state can lift: an organization whose registration (governance) is
#: still on its way, a full mempool. Everything else refused at the door is final.
_RETRY_CODES = {"unknown_sender", "mempool_full"}
#: Refusals after which the nonce is unused but the sender is sound: fill the gap.
_GAP_CODES = {"malformed", "oversize"}
_FILLER_PREFIX = "ledger.nonce-filler."


class LedgerServiceError(Exception):
    """A ledger action that cannot be done (with a stable ``code``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- organization keys ---------------------------------------------------------------------


@transaction.atomic
def organization_key_ensure(*, organization: Organization) -> OrganizationKey:
    """The organization's active signing key, generated (and sealed) on first use, and its
    ledger sender row. Call it at registration; the worker calls it too before signing."""
    LedgerSender.objects.get_or_create(
        organization=organization, defaults={"ledger_id": ledger_id_for(organization)}
    )
    existing = (
        OrganizationKey.objects.select_for_update()
        .filter(organization=organization, status=OrganizationKey.Status.ACTIVE)
        .first()
    )
    if existing is not None:
        return existing
    sealed = keys.seal(keys.generate(), organization_id=organization.pk)
    return OrganizationKey.objects.create(
        organization=organization,
        public_key=sealed.public_key,
        sealed_nonce=sealed.nonce,
        sealed_key=sealed.ciphertext,
        status=OrganizationKey.Status.ACTIVE,
    )


@transaction.atomic
def organization_key_import(
    *, organization: Organization, ledger_id: str, private_key: Any, next_nonce: int = 1
) -> OrganizationKey:
    """Make ``organization`` act on the ledger as ``ledger_id`` with an existing Ed25519 key
    (a devnet member's ``DIR/orgs/<org>.ed25519``, or a key registered by governance elsewhere).

    Refused with ``LedgerServiceError(key_in_use)`` once the organization has signed anything:
    its nonces belong to the old identity."""
    if LedgerOutbox.objects.filter(organization=organization, nonce__isnull=False).exists():
        raise LedgerServiceError("key_in_use", "The organization has already signed transactions.")
    sealed = keys.seal(private_key, organization_id=organization.pk)
    OrganizationKey.objects.filter(organization=organization).exclude(
        public_key=sealed.public_key
    ).update(status=OrganizationKey.Status.RETIRED, retired_at=timezone.now())
    LedgerSender.objects.update_or_create(
        organization=organization, defaults={"ledger_id": ledger_id, "next_nonce": next_nonce}
    )
    row, _ = OrganizationKey.objects.update_or_create(
        public_key=sealed.public_key,
        defaults={
            "organization": organization, "sealed_nonce": sealed.nonce,
            "sealed_key": sealed.ciphertext, "status": OrganizationKey.Status.ACTIVE,
            "retired_at": None,
        },
    )  # fmt: skip
    return row


def organization_signing_key(*, organization: Organization) -> Any:
    """The decrypted active key (worker only; never log or return it to a client)."""
    row = organization_key_ensure(organization=organization)
    return keys.open_key(
        keys.SealedKey(row.public_key, bytes(row.sealed_nonce), bytes(row.sealed_key)),
        organization_id=organization.pk,
    )


@transaction.atomic
def organization_key_rotate(*, organization: Organization) -> LedgerOutbox:
    """Generate a new key (``pending``) and queue ``org_key_rotate`` for it.

    The transaction is governed: the worker reserves its nonce and parks it in
    ``awaiting_approvals``; more than two thirds of the validator organizations must then sign
    ``governance_root(outbox)`` and their approvals be added with ``outbox_approval_add``. The new
    key becomes active when the follower mirrors the committed rotation; until then the old key
    keeps signing. Raises ``LedgerServiceError(rotation_pending)`` if one is already under way.
    """
    organization_key_ensure(organization=organization)
    if OrganizationKey.objects.filter(
        organization=organization, status=OrganizationKey.Status.PENDING
    ).exists():
        raise LedgerServiceError("rotation_pending", "A key rotation is already under way.")
    sealed = keys.seal(keys.generate(), organization_id=organization.pk)
    OrganizationKey.objects.create(
        organization=organization,
        public_key=sealed.public_key,
        sealed_nonce=sealed.nonce,
        sealed_key=sealed.ciphertext,
        status=OrganizationKey.Status.PENDING,
    )
    return ledger_submit(
        organization=organization,
        tx_type="org_key_rotate",
        payload={"org_id": ledger_id_for(organization), "public_key": sealed.public_key},
        idempotency_key=f"ledger.org_key_rotate.{sealed.public_key}",
    )


def governance_root(*, outbox: LedgerOutbox) -> str:
    """What each approving validator organization signs for a parked governance row (hex)."""
    chain = MirrorChain.objects.first()
    if outbox.nonce is None or chain is None:
        raise LedgerServiceError("not_ready", "The transaction has no nonce yet.")
    payload = payload_for(outbox.tx_type, outbox.payload)
    if not isinstance(payload, GovernancePayload.__args__):  # type: ignore[attr-defined]
        raise LedgerServiceError("not_governed", "Only governance transactions need approvals.")
    root = compute_governance_root(
        chain_id=_state_chain_id(chain),
        sender=ledger_id_for(outbox.organization),
        nonce=outbox.nonce,
        payload=payload,
    )
    return root.hex()


def governance_required() -> int:
    """Approvals a governance transaction needs: more than two thirds of the validator
    organizations of the pinned genesis (later epochs' sets are not tracked here: pass
    ``required`` explicitly after a validator-set change)."""
    chain = MirrorChain.objects.first()
    n = len(chain.genesis["validators"]) if chain is not None else 1
    return 2 * n // 3 + 1


@transaction.atomic
def outbox_approval_add(
    *, outbox: LedgerOutbox, org_id: str, signature: str, required: int | None = None
) -> LedgerOutbox:
    """Add one validator organization's approval (64-byte Ed25519 signature, hex) to a parked
    governance row; with ``required`` approvals the row returns to ``pending`` for signing.

    The signatures are checked by every validator when the transaction is applied (a wrong one
    rejects it with ``unauthorised``); ``required`` is more than two thirds of the validator
    organizations of the current epoch."""
    row = LedgerOutbox.objects.select_for_update().get(pk=outbox.pk)
    if row.status != LedgerOutbox.Status.AWAITING_APPROVALS:
        raise LedgerServiceError("not_awaiting", "The transaction is not awaiting approvals.")
    try:
        approval = Approval(org_id=org_id, signature=bytes.fromhex(signature))
    except (ValueError, InvalidTransaction) as exc:
        raise LedgerServiceError("invalid_approval", f"Not an approval: {exc}") from exc
    required = governance_required() if required is None else required
    approvals = [a for a in row.approvals if a["org_id"] != org_id]
    approvals.append({"org_id": approval.org_id, "signature": approval.signature.hex()})
    row.approvals = sorted(approvals, key=lambda a: a["org_id"])
    if len(row.approvals) >= required:
        row.status = LedgerOutbox.Status.PENDING
    row.updated_at = timezone.now()
    row.save(update_fields=["approvals", "status", "updated_at"])
    return row


# --- the chain pin -------------------------------------------------------------------------


def _state_chain_id(chain: MirrorChain) -> str:
    return str(chain.genesis["state"]["chain_id"])


@transaction.atomic
def chain_pin(*, genesis: dict[str, Any], source: str) -> MirrorChain:
    """Pin the chain's genesis (first contact); a different genesis later is refused."""
    info = GenesisInfo.from_json(genesis)
    existing = MirrorChain.objects.select_for_update().first()
    if existing is not None:
        if existing.genesis_hash != info.block.hash.hex():
            raise LedgerServiceError(
                "genesis_mismatch", f"{source} serves another chain than the pinned one"
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
                    "currency": a.currency, "owner": a.owner, "balance": a.balance, "height": 0,
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


def _involved(applied: AppliedBlock) -> set[str]:
    ids: set[str] = set()
    for tx in applied.transactions:
        ids.add(tx.sender)
        grantee = getattr(tx.payload, "grantee", None)
        if isinstance(grantee, str):
            ids.add(grantee)
    return ids


def _touched_accounts(applied: AppliedBlock) -> set[str]:
    ids: set[str] = set()
    for tx in applied.transactions:
        for name in ("account_id", "from_account", "to_account"):
            value = getattr(tx.payload, name, None)
            if isinstance(value, str):
                ids.add(value)
    return ids


@transaction.atomic
def mirror_block(applied: AppliedBlock, item: dict[str, Any] | None = None) -> MirrorBlock:
    """Persist a verified block: the block, its transactions with receipts, touched accounts,
    outbox rows decided by it, key rotations it committed; publish after commit."""
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
        for account_id in sorted(_touched_accounts(applied)):
            account = applied.state.account(account_id)
            if account is not None:
                MirrorAccount.objects.update_or_create(
                    account_id=account_id,
                    defaults={
                        "currency": account.currency, "owner": account.owner,
                        "balance": account.balance, "height": header.height,
                    },
                )  # fmt: skip
        for tx, receipt in zip(applied.transactions, applied.receipts, strict=True):
            _outbox_decided(
                tx.tx_hash.hex(),
                status=str(receipt.status),
                height=header.height,
                code="" if receipt.code is None else str(receipt.code),
                reason=receipt.reason or "",
            )
            if tx.type is TxType.ORG_KEY_ROTATE and str(receipt.status) == "committed":
                _key_rotation_committed(tx)
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


def _outbox_decided(
    tx_hash: str, *, status: str, height: int | None, code: str, reason: str
) -> None:
    """Move the outbox row with ``tx_hash`` to committed/rejected (idempotent)."""
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


# --- the outbox worker ---------------------------------------------------------------------


@dataclass
class DrainReport:
    """What one pass of the worker did (row ids per outcome)."""

    signed: list[int] = field(default_factory=list)
    parked: list[int] = field(default_factory=list)
    submitted: list[int] = field(default_factory=list)
    committed: list[int] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(0.5 * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS))


def outbox_sign_pending(*, chain_id: str, limit: int = 100) -> DrainReport:
    """Assign nonces to and sign pending rows (step 2 of the module docstring)."""
    report = DrainReport()
    with transaction.atomic():
        rows = list(
            LedgerOutbox.objects.select_for_update(skip_locked=True)
            .filter(status=LedgerOutbox.Status.PENDING, tx_hash="")
            .order_by("id")[:limit]
        )
        for row in rows:
            _sign(row, chain_id=chain_id, report=report)
    return report


def _sign(row: LedgerOutbox, *, chain_id: str, report: DrainReport) -> None:
    organization = Organization.objects.get(pk=row.organization_id)
    key = organization_signing_key(organization=organization)
    payload = payload_for(row.tx_type, row.payload)
    now = timezone.now()
    if row.nonce is None:
        sender = LedgerSender.objects.select_for_update().get(organization=organization)
        row.nonce = sender.next_nonce
        sender.next_nonce += 1
        sender.save(update_fields=["next_nonce"])
    if payload.GOVERNED:
        approvals = [Approval(a["org_id"], bytes.fromhex(a["signature"])) for a in row.approvals]
        if not approvals:
            row.status = LedgerOutbox.Status.AWAITING_APPROVALS
            row.updated_at = now
            row.save(update_fields=["nonce", "status", "updated_at"])
            report.parked.append(row.pk)
            return
        payload = with_approvals(payload, approvals)  # type: ignore[type-var]
    tx = sign_transaction(
        private_key=key,
        chain_id=chain_id,
        sender=ledger_id_for(organization),
        nonce=row.nonce,
        payload=payload,
    )
    row.tx_bytes, row.tx_hash, row.updated_at, row.next_attempt_at = (
        tx.encoding, tx.tx_hash.hex(), now, now,
    )  # fmt: skip
    row.save(update_fields=["nonce", "tx_bytes", "tx_hash", "updated_at", "next_attempt_at"])
    report.signed.append(row.pk)


def outbox_submit_due(
    *, client: NodeClient, now: datetime | None = None, limit: int = 100
) -> DrainReport:
    """Submit signed rows and poll submitted ones whose back-off has elapsed (step 3)."""
    report = DrainReport()
    now = now or timezone.now()
    due = (
        LedgerOutbox.objects.filter(
            status__in=[LedgerOutbox.Status.PENDING, LedgerOutbox.Status.SUBMITTED]
        )
        .exclude(tx_hash="")
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("nonce", "id")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in list(due):
        with transaction.atomic():
            row = (
                LedgerOutbox.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("organization")
                .filter(
                    pk=pk, status__in=[LedgerOutbox.Status.PENDING, LedgerOutbox.Status.SUBMITTED]
                )
                .first()
            )
            if row is not None:
                _advance(row, client=client, now=now, report=report)
    return report


def _advance(row: LedgerOutbox, *, client: NodeClient, now: datetime, report: DrainReport) -> None:
    row.attempts += 1
    try:
        if row.status == LedgerOutbox.Status.SUBMITTED:
            status = client.tx_status(row.tx_hash)
            if status.status in ("committed", "rejected"):
                row.save(update_fields=["attempts"])
                _outbox_decided(
                    row.tx_hash,
                    status=status.status,
                    height=status.height,
                    code=status.code or "",
                    reason=status.reason or "",
                )
                (report.committed if status.status == "committed" else report.rejected).append(
                    row.pk
                )
                return
            if status.status == "pending":
                _retry(row, now, "", report)
                return
            # "unknown": the node lost it (restart, mempool eviction): resubmit the same bytes.
        _submit(row, client=client, now=now, report=report)
    except NodeRefused as exc:
        if exc.status in _RETRY_STATUSES or exc.code in _RETRY_CODES:
            _retry(row, now, f"{exc.code}: {exc.message}", report)
            return
        row.save(update_fields=["attempts"])
        _outbox_decided(
            row.tx_hash, status="rejected", height=None, code=exc.code, reason=exc.message
        )
        report.rejected.append(row.pk)
        _fill_nonce_gap(row, exc.code)
    except (NodeUnavailable, NodeError) as exc:
        _retry(row, now, str(exc), report)


def _submit(row: LedgerOutbox, *, client: NodeClient, now: datetime, report: DrainReport) -> None:
    tx_hash, _duplicate = client.submit(bytes(row.tx_bytes or b""))
    if tx_hash != row.tx_hash:
        raise NodeUnavailable(f"node answered hash {tx_hash} for {row.tx_hash}")
    row.status = LedgerOutbox.Status.SUBMITTED
    row.submitted_at = row.submitted_at or now
    _retry(row, now, "", report, submitted=True)


def _retry(
    row: LedgerOutbox, now: datetime, error: str, report: DrainReport, *, submitted: bool = False
) -> None:
    row.next_attempt_at = now + _backoff(row.attempts)
    row.last_error = error[:200]
    row.updated_at = now
    row.save(
        update_fields=[
            "attempts", "status", "submitted_at", "next_attempt_at", "last_error", "updated_at",
        ]
    )  # fmt: skip
    (report.submitted if submitted else report.retrying).append(row.pk)


def _fill_nonce_gap(row: LedgerOutbox, code: str) -> None:
    """A transaction refused at the door did not consume its nonce; later nonces of the same
    organization would wait forever. Give the nonce back when nothing was signed after it, else
    queue an ``anchor`` that reuses it (only when the sender itself is sound, and never for a
    filler, so a broken key cannot loop)."""
    if row.idempotency_key.startswith(_FILLER_PREFIX) or row.nonce is None:
        return
    if not LedgerOutbox.objects.filter(organization=row.organization, nonce__gt=row.nonce).exists():
        # Nothing waits behind this nonce: give it back instead.
        LedgerSender.objects.filter(organization=row.organization, next_nonce=row.nonce + 1).update(
            next_nonce=row.nonce
        )
        return
    if code not in _GAP_CODES:
        return
    slug = ledger_id_for(row.organization)
    commitment = hashlib.sha256(f"nonce-filler:{slug}:{row.nonce}".encode()).hexdigest()
    filler = ledger_submit(
        organization=row.organization,
        tx_type="anchor",
        payload={"commitment": commitment},
        idempotency_key=f"{_FILLER_PREFIX}{slug}.{row.nonce}",
    )
    if filler.nonce is None:
        LedgerOutbox.objects.filter(pk=filler.pk).update(nonce=row.nonce)


def outbox_drain(*, client: NodeClient | None = None, limit: int = 100) -> DrainReport:
    """One pass of the worker: sign what is pending, submit and poll what is due."""
    with system_context():
        if not LedgerOutbox.objects.filter(
            status__in=[LedgerOutbox.Status.PENDING, LedgerOutbox.Status.SUBMITTED]
        ).exists():
            return DrainReport()
        client = client or NodeClient()
        chain_id = str(chain_genesis(client=client).config.chain_id)
        signed = outbox_sign_pending(chain_id=chain_id, limit=limit)
        sent = outbox_submit_due(client=client, limit=limit)
    sent.signed, sent.parked = signed.signed, signed.parked
    return sent
