"""The outbox worker.

Outbox lifecycle (exactly once):

1. ``ledger_submit`` writes a ``pending`` row in the business transaction.
2. ``outbox_sign_pending`` takes pending rows with ``select_for_update(skip_locked=True)``, takes
   the organization's next nonce under a row lock on ``LedgerSender``, signs with the active
   organization key, and stores the signed bytes and hash in the SAME database transaction as
   the nonce increment. Governance payloads (``org_key_rotate``) get their nonce and wait in
   ``awaiting_approvals`` (approvals are bound to the carrier's sender and nonce).
3. ``outbox_submit_due`` posts the stored bytes of every signed row in one
   ``POST /v1/txs/batch`` (any node, failover; each row gets its own answer), then polls the
   submitted rows (one ``POST /v1/txs/lookup``) until ``committed`` / ``rejected``, retrying
   with exponential back-off. A retry always resubmits the stored bytes: the node deduplicates
   by hash and the nonce forbids a second application.
4. The follower marks rows committed/rejected by hash as well (whichever comes first).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from ledger.client import (
    NodeClient,
    NodeError,
    NodeRefused,
    NodeUnavailable,
    Submission,
    TxStatus,
)
from ledger.models import (
    LedgerOutbox,
    LedgerSender,
)
from ledger.outbox import ledger_id_for, ledger_submit, payload_for
from ledger.services.mirror import chain_genesis, outbox_decided
from ledger.services.signing import organization_signing_key
from ledger.state import (
    Approval,
    sign_transaction,
    with_approvals,
)
from tenants.models import Organization
from tenants.rls import system_context

MAX_BACKOFF_SECONDS = 60.0
#: Node answers that mean "later", not "never" (a full mempool, a node starting up).
_RETRY_STATUSES = {408, 425, 429}
#: Refusals that a later state can lift: an organization whose registration (governance) is
#: still on its way, a full mempool, a node's refusal budget for this address (``rate_limited``:
#: the transaction was not checked). Everything else refused at the door is final.
_RETRY_CODES = {"unknown_sender", "mempool_full", "rate_limited"}
#: Refusals after which the nonce is unused but the sender is sound: fill the gap.
_GAP_CODES = {"malformed", "oversize"}
_FILLER_PREFIX = "ledger.nonce-filler."


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

    def counts(self) -> dict[str, int]:
        """How many rows per outcome."""
        return {name: len(ids) for name, ids in vars(self).items()}


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(0.5 * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS))


def outbox_sign_pending(*, chain_id: str, limit: int = 100) -> DrainReport:
    """Assign nonces to and sign pending rows (step 2 of the module docstring).

    One database transaction per pass: each organization's ``LedgerSender`` is locked once and
    its nonces are handed out in row order; the signed rows and the advanced nonces are written
    together at the end (a crash anywhere rolls the whole pass back)."""
    report = DrainReport()
    signers: dict[int, tuple[Any, str]] = {}  # (key, ledger id), opened once per pass
    senders: dict[int, LedgerSender] = {}  # locked once per pass
    with transaction.atomic():
        rows = list(
            LedgerOutbox.objects.select_for_update(skip_locked=True)
            .filter(status=LedgerOutbox.Status.PENDING, tx_hash="")
            .order_by("id")[:limit]
        )
        for row in rows:
            org_pk = row.organization_id
            if org_pk not in signers:
                organization = Organization.objects.get(pk=org_pk)
                signers[org_pk] = (
                    organization_signing_key(organization=organization),
                    ledger_id_for(organization),
                )
            if row.nonce is None and org_pk not in senders:
                senders[org_pk] = LedgerSender.objects.select_for_update().get(
                    organization_id=org_pk
                )
            _sign(row, signers[org_pk], senders.get(org_pk), chain_id=chain_id, report=report)
        for sender in senders.values():
            sender.save(update_fields=["next_nonce"])
        _save_rows(rows, _SIGNED_FIELDS)
    return report


_SIGNED_FIELDS = ["nonce", "status", "tx_bytes", "tx_hash", "updated_at", "next_attempt_at"]


def _sign(
    row: LedgerOutbox,
    signer: tuple[Any, str],
    sender: LedgerSender | None,
    *,
    chain_id: str,
    report: DrainReport,
) -> None:
    """Give ``row`` its nonce (from the locked ``sender``) and signed bytes, in memory; the
    caller writes rows and senders in bulk."""
    key, sender_id = signer
    payload = payload_for(row.tx_type, row.payload)
    now = timezone.now()
    if row.nonce is None:
        assert sender is not None  # locked by the caller for rows without a nonce
        row.nonce = sender.next_nonce
        sender.next_nonce += 1
    row.updated_at = now
    if payload.GOVERNED:
        approvals = [Approval(a["org_id"], bytes.fromhex(a["signature"])) for a in row.approvals]
        if not approvals:
            row.status = LedgerOutbox.Status.AWAITING_APPROVALS
            report.parked.append(row.pk)
            return
        # GOVERNED is true exactly on the GovernancePayload classes; mypy cannot narrow a union on
        # a ClassVar.
        payload = with_approvals(payload, approvals)  # type: ignore[type-var]
    tx = sign_transaction(
        private_key=key,
        chain_id=chain_id,
        sender=sender_id,
        nonce=row.nonce,
        payload=payload,
    )
    row.tx_bytes, row.tx_hash, row.next_attempt_at = tx.encoding, tx.tx_hash.hex(), now
    report.signed.append(row.pk)


def outbox_submit_due(
    *, client: NodeClient, now: datetime | None = None, limit: int = 100
) -> DrainReport:
    """Submit signed rows (one batch) and poll submitted ones whose back-off has elapsed."""
    report = DrainReport()
    now = now or timezone.now()
    due = list(
        LedgerOutbox.objects.filter(
            status__in=[LedgerOutbox.Status.PENDING, LedgerOutbox.Status.SUBMITTED]
        )
        .exclude(tx_hash="")
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("nonce", "id")
        .values_list("pk", "status")[:limit]
    )
    fresh = [pk for pk, status in due if status == LedgerOutbox.Status.PENDING]
    if fresh:
        _submit_batch(fresh, client=client, now=now, report=report)
    polls = [pk for pk, status in due if status == LedgerOutbox.Status.SUBMITTED]
    if polls:
        _poll_batch(polls, client=client, now=now, report=report)
    return report


def _poll_batch(pks: list[int], *, client: NodeClient, now: datetime, report: DrainReport) -> None:
    """Submitted rows whose back-off elapsed: one ``POST /v1/txs/lookup`` for all of them;
    decided ones are recorded, pending ones wait longer, lost ones are resubmitted."""
    with transaction.atomic():
        rows = _lock_rows(pks, LedgerOutbox.Status.SUBMITTED)
        if not rows:
            return
        try:
            statuses = client.tx_statuses([row.tx_hash for row in rows])
        except NodeError as exc:
            _retry_all(rows, now, str(exc), report)
            return
        waiting = []
        for row, status in zip(rows, statuses, strict=True):
            if status.status == "pending":
                row.attempts += 1
                _schedule(row, now, "")
                report.retrying.append(row.pk)
                waiting.append(row)
            else:
                _advance(row, client=client, now=now, report=report, known=status)
        _save_rows(waiting, _RETRY_FIELDS)


def _lock_rows(pks: list[int], status: str) -> list[LedgerOutbox]:
    """The rows among ``pks`` still in ``status``, locked; rows another worker holds are
    skipped. Call inside a transaction."""
    return list(
        LedgerOutbox.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("organization")
        .filter(pk__in=pks, status=status)
        .order_by("nonce", "id")
    )


def _retry_all(rows: list[LedgerOutbox], now: datetime, error: str, report: DrainReport) -> None:
    """The node could not be asked: every row tries again after its back-off."""
    for row in rows:
        row.attempts += 1
        _schedule(row, now, error)
        report.retrying.append(row.pk)
    _save_rows(rows, _RETRY_FIELDS)


def _submit_batch(
    pks: list[int], *, client: NodeClient, now: datetime, report: DrainReport
) -> None:
    """First submission of signed rows: one request, one outcome per row. Rows another worker
    holds are skipped (``skip_locked``); a batch refused as a whole falls back to one request
    per row, so one bad row can never hold the others back."""
    with transaction.atomic():
        rows = _lock_rows(pks, LedgerOutbox.Status.PENDING)
        if not rows:
            return
        try:
            results = client.submit_batch([bytes(row.tx_bytes or b"") for row in rows])
        except NodeRefused:
            for row in rows:
                _advance(row, client=client, now=now, report=report)
            return
        except NodeError as exc:
            _retry_all(rows, now, str(exc), report)
            return
        accepted = []
        for row, result in zip(rows, results, strict=True):
            row.attempts += 1
            if _record_submission(row, result, now=now, report=report):
                accepted.append(row)
        _save_rows(accepted, _RETRY_FIELDS)


def _record_submission(
    row: LedgerOutbox, result: Submission, *, now: datetime, report: DrainReport
) -> bool:
    """Apply one batch outcome; True when the node took the row (the caller saves those in
    bulk), False when it was handled and saved here (a retry or a refusal)."""
    if result.status in ("accepted", "duplicate") and result.hash == row.tx_hash:
        row.status = LedgerOutbox.Status.SUBMITTED
        row.submitted_at = row.submitted_at or now
        _schedule(row, now, "")
        report.submitted.append(row.pk)
        return True
    if result.status in ("accepted", "duplicate"):
        _retry(row, now, f"node answered hash {result.hash} for {row.tx_hash}", report)
        return False
    code, message = result.code or "error", result.message or ""
    _refused(row, status=None, code=code, message=message, now=now, report=report)
    return False


def _refused(
    row: LedgerOutbox,
    *,
    status: int | None,
    code: str,
    message: str,
    now: datetime,
    report: DrainReport,
) -> None:
    """A node refused the transaction: later (retry) or never (rejected, nonce gap filled)."""
    if status in _RETRY_STATUSES or code in _RETRY_CODES:
        _retry(row, now, f"{code}: {message}", report)
        return
    row.save(update_fields=["attempts"])
    outbox_decided(row.tx_hash, status="rejected", height=None, code=code, reason=message)
    report.rejected.append(row.pk)
    _fill_nonce_gap(row, code)


def _advance(
    row: LedgerOutbox,
    *,
    client: NodeClient,
    now: datetime,
    report: DrainReport,
    known: TxStatus | None = None,
) -> None:
    """One row, one step: poll (or use the ``known`` status) if submitted, else submit."""
    row.attempts += 1
    try:
        if row.status == LedgerOutbox.Status.SUBMITTED:
            status = known if known is not None else client.tx_status(row.tx_hash)
            if status.status in ("committed", "rejected"):
                row.save(update_fields=["attempts"])
                outbox_decided(
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
        _refused(row, status=exc.status, code=exc.code, message=exc.message, now=now, report=report)
    except (NodeUnavailable, NodeError) as exc:
        _retry(row, now, str(exc), report)


def _submit(row: LedgerOutbox, *, client: NodeClient, now: datetime, report: DrainReport) -> None:
    tx_hash, _duplicate = client.submit(bytes(row.tx_bytes or b""))
    if tx_hash != row.tx_hash:
        raise NodeUnavailable(f"node answered hash {tx_hash} for {row.tx_hash}")
    row.status = LedgerOutbox.Status.SUBMITTED
    row.submitted_at = row.submitted_at or now
    _retry(row, now, "", report, submitted=True)


_RETRY_FIELDS = [
    "attempts",
    "status",
    "submitted_at",
    "next_attempt_at",
    "last_error",
    "updated_at",
]


def _save_rows(rows: list[LedgerOutbox], field_names: list[str]) -> None:
    """``UPDATE ... WHERE id = %s`` for each row, sent with one ``executemany``: a pass writes
    up to ``limit`` rows, and Django's ``bulk_update`` (one CASE expression per field and row)
    cost more CPU than saving them one by one (bench/ledger_portal.py). Values are prepared by
    the model fields, exactly as ``save`` would."""
    if not rows:
        return
    meta = LedgerOutbox._meta
    concrete = {field.name: field for field in meta.concrete_fields}
    fields = [concrete[name] for name in field_names]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    table, key = quote(meta.db_table), quote(meta.pk.column)
    sql = f"UPDATE {table} SET {assignments} WHERE {key} = %s"  # noqa: S608 - model identifiers
    params = [
        [field.get_db_prep_save(getattr(row, field.attname), connection) for field in fields]
        + [row.pk]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _schedule(row: LedgerOutbox, now: datetime, error: str) -> None:
    """Set the next attempt after the back-off (in memory)."""
    row.next_attempt_at = now + _backoff(row.attempts)
    row.last_error = error[:200]
    row.updated_at = now


def _retry(
    row: LedgerOutbox, now: datetime, error: str, report: DrainReport, *, submitted: bool = False
) -> None:
    _schedule(row, now, error)
    row.save(update_fields=_RETRY_FIELDS)
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


def outbox_drain(*, client: NodeClient | None = None, limit: int = 500) -> DrainReport:
    """One pass of the worker: sign what is pending, submit and poll what is due."""
    with system_context():
        if not LedgerOutbox.objects.filter(
            status__in=[LedgerOutbox.Status.PENDING, LedgerOutbox.Status.SUBMITTED]
        ).exists():
            return DrainReport()
        own_client = client is None
        client = client or NodeClient()
        try:
            chain_id = str(chain_genesis(client=client).config.chain_id)
            signed = outbox_sign_pending(chain_id=chain_id, limit=limit)
            sent = outbox_submit_due(client=client, limit=limit)
        finally:
            if own_client:
                client.close()
    sent.signed, sent.parked = signed.signed, signed.parked
    return sent
