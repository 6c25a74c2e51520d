"""Holds: funds reserved on one of the payer's accounts (the ledger's ``hold_place``), then
captured in full or in part (``hold_capture``), voided (``hold_void``), or released by the ledger
itself at its expiry, which the block handler :func:`holds_expired` reads from the mirrored
state. Idempotency keys follow the rules of payments.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, Final

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from ledger.models import LedgerOutbox
from ledger.outbox import Decision, MirroredBlock, ledger_submit
from ledger.state import HoldStatus
from payments import selectors
from payments.errors import (
    CAPTURE_EXCEEDS_HOLD,
    HOLD_NOT_ACTIVE,
    IDEMPOTENCY_KEY_REQUIRED,
    IDEMPOTENCY_KEY_REUSED,
    PaymentError,
)
from payments.events import (
    HoldUpdatedData,
    publish_hold_updated,
)
from payments.models import Hold, IdempotencyKey

# The request checks, fingerprints and keyed references are shared with payments (same
# package): one definition of what a valid pair of accounts and a replayed key are.
from payments.services.payments import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
    _accounts_check,
    _fingerprint,
    _key_record,
    _keyed_reference,
    _KeyRace,
)
from tenants.errors import AccessDenied, NotFound
from tenants.models import Organization
from tenants.roles import Role
from tenants.services import audit_record

__all__ = [
    "HOLD_CAPTURE_TX",
    "HOLD_PLACE_TX",
    "HOLD_VOID_TX",
    "MAX_HOLD_SECONDS",
    "MIN_HOLD_SECONDS",
    "HoldPlaced",
    "hold_capture",
    "hold_place",
    "hold_place_decided",
    "hold_resolve_decided",
    "hold_void",
    "holds_expired",
    "ledger_time_ms",
]

HOLD_PLACE_TX: Final = "hold_place"
HOLD_CAPTURE_TX: Final = "hold_capture"
HOLD_VOID_TX: Final = "hold_void"
#: A hold lasts 1 second to 90 days (the ledger refuses an expiry beyond 90 days of block time).
MIN_HOLD_SECONDS: Final = 1
MAX_HOLD_SECONDS: Final = 90 * 24 * 3600


# --- holds ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HoldPlaced:
    """A placed (or replayed) hold and the HTTP status its first answer had."""

    hold: Hold
    status_code: int
    replayed: bool


def ledger_time_ms() -> int:
    """The time a new hold's expiry counts from (Unix milliseconds): the portal's clock, which
    the validators' block times follow within their allowed drift."""
    return time.time_ns() // 1_000_000


def hold_place(
    *,
    organization: Organization,
    actor: User,
    role: Role,
    idempotency_key: str | None,
    from_account: str,
    to_account: str,
    amount: int,
    currency: str,
    expires_in: int,
) -> HoldPlaced:
    """Reserve ``amount`` on one of the organization's accounts for ``to_account`` for
    ``expires_in`` seconds (1 second to 90 days): the hold is ``queued`` with its ``hold_place``
    in the outbox, ``active`` once the ledger commits it. Admins and owners only. The
    ``Idempotency-Key`` rules are those of payments (:func:`payment_create`)."""
    if not role.at_least(Role.ADMIN):
        raise AccessDenied("Only an admin or owner can place a hold.")
    if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise PaymentError(IDEMPOTENCY_KEY_REQUIRED)
    if not MIN_HOLD_SECONDS <= expires_in <= MAX_HOLD_SECONDS:
        raise ValueError(f"expires_in must be {MIN_HOLD_SECONDS}..{MAX_HOLD_SECONDS} seconds")
    body = {
        "kind": "hold",  # a payment's key never replays as a hold, nor the other way round
        "from_account": from_account,
        "to_account": to_account,
        "amount": amount,
        "currency": currency,
        "expires_in": expires_in,
    }
    fingerprint = _fingerprint(body)
    try:
        return _hold_place(organization, actor, idempotency_key, fingerprint, body)
    except _KeyRace:
        return _hold_place(organization, actor, idempotency_key, fingerprint, body)


@transaction.atomic
def _hold_place(
    organization: Organization,
    actor: User,
    idempotency_key: str,
    fingerprint: str,
    body: dict[str, Any],
) -> HoldPlaced:
    existing = (
        IdempotencyKey.objects.select_related("hold")
        .filter(organization=organization, key=idempotency_key)
        .first()
    )
    if existing is not None:
        if existing.fingerprint != fingerprint or existing.hold is None:
            raise PaymentError(IDEMPOTENCY_KEY_REUSED)
        return HoldPlaced(existing.hold, existing.response_status, replayed=True)
    source, target = _accounts_check(organization, body)
    hold = Hold.objects.create(
        organization=organization,
        payee_organization_id=target.organization_id,
        hold_id=secrets.token_hex(32),
        from_account=source,
        to_account_id=target.ledger_account_id,
        currency=body["currency"],
        amount=body["amount"],
        expires_at_ms=ledger_time_ms() + body["expires_in"] * 1000,
        created_by=actor,
    )
    hold.outbox = ledger_submit(
        organization=organization,
        tx_type=HOLD_PLACE_TX,
        payload={
            "hold_id": hold.hold_id,
            "from_account": hold.from_account_id,
            "to_account": hold.to_account_id,
            "currency": hold.currency,
            "amount": hold.amount,
            "expires_at_ms": hold.expires_at_ms,
            "reference": _keyed_reference(["hold", hold.pk]),
        },
        idempotency_key=f"payments.hold.{hold.pk}",
    )
    hold.save(update_fields=["outbox"])
    status_code = 202
    _key_record(
        organization=organization, key=idempotency_key, fingerprint=fingerprint,
        status_code=status_code, hold=hold,
    )  # fmt: skip
    audit_record(
        organization=organization,
        actor=actor,
        action="payments.hold.placed",
        obj=hold,
        details={
            "amount": hold.amount,
            "currency": hold.currency,
            "to_account": hold.to_account_id,
            "expires_at_ms": hold.expires_at_ms,
        },
    )
    _publish_hold(hold)
    return HoldPlaced(hold, status_code, replayed=False)


def _locked_active_hold(organization: Organization, hold_pk: int | str, role: Role) -> Hold:
    """The payer's active hold with no capture or void pending, locked; 404 for anyone else."""
    hold = selectors.hold_get(organization=organization, hold_pk=hold_pk, as_payer=True)
    if hold is None:
        raise NotFound()
    if not role.at_least(Role.ADMIN):
        raise AccessDenied("Only an admin or owner can capture or void a hold.")
    hold = (
        Hold.objects.select_for_update(of=("self",))
        .select_related("organization", "payee_organization", "resolve_outbox")
        .get(pk=hold.pk)
    )
    pending = hold.resolve_outbox is not None and hold.resolve_outbox.status not in (
        LedgerOutbox.Status.COMMITTED,
        LedgerOutbox.Status.REJECTED,
    )
    if hold.status != Hold.Status.ACTIVE or pending:
        status = "resolving" if pending else hold.status
        raise PaymentError(HOLD_NOT_ACTIVE, details={"status": status})
    return hold


def _resolve(hold: Hold, tx_type: str, payload: dict[str, object]) -> None:
    hold.resolve_outbox = ledger_submit(
        organization=hold.organization,
        tx_type=tx_type,
        payload=payload,
        # A fresh key per attempt: a capture the ledger refused (other than for expiry) may be
        # tried again; the locked row and the pending check above stop a double submission.
        idempotency_key=f"payments.hold.{hold.pk}.{tx_type}.{secrets.token_hex(8)}",
    )
    hold.failure_code, hold.updated_at = "", timezone.now()
    hold.save(update_fields=["resolve_outbox", "capture_requested", "failure_code", "updated_at"])


@transaction.atomic
def hold_capture(
    *,
    organization: Organization,
    actor: User,
    role: Role,
    hold_pk: int | str,
    amount: int | None = None,
) -> Hold:
    """Capture an active hold: ``amount`` (default: all of it, at most the held amount) moves to
    the target account and the rest is released, once the ledger commits the ``hold_capture``."""
    hold = _locked_active_hold(organization, hold_pk, role)
    amount = hold.amount if amount is None else amount
    if not 1 <= amount <= hold.amount:
        raise PaymentError(CAPTURE_EXCEEDS_HOLD, details={"held": hold.amount})
    hold.capture_requested = amount
    _resolve(hold, HOLD_CAPTURE_TX, {"hold_id": hold.hold_id, "amount": amount})
    audit_record(
        organization=organization, actor=actor, action="payments.hold.captured", obj=hold,
        details={"amount": amount},
    )  # fmt: skip
    _publish_hold(hold)
    return hold


@transaction.atomic
def hold_void(*, organization: Organization, actor: User, role: Role, hold_pk: int | str) -> Hold:
    """Void an active hold: everything is released once the ledger commits the ``hold_void``."""
    hold = _locked_active_hold(organization, hold_pk, role)
    hold.capture_requested = None
    _resolve(hold, HOLD_VOID_TX, {"hold_id": hold.hold_id})
    audit_record(organization=organization, actor=actor, action="payments.hold.voided", obj=hold)
    _publish_hold(hold)
    return hold


def _hold_for_update(**lookup: Any) -> Hold | None:
    return (
        Hold.objects.select_for_update(of=("self",))
        .select_related("organization", "payee_organization")
        .filter(**lookup)
        .first()
    )


def _hold_save(hold: Hold, *fields: str) -> None:
    hold.updated_at = timezone.now()
    hold.save(update_fields=[*fields, "updated_at"])
    _publish_hold(hold)


def hold_place_decided(row: LedgerOutbox, decision: Decision) -> None:
    """Decision handler of ``hold_place``: the hold is active, or rejected with the receipt's
    code (``insufficient_funds``, ``invalid_expiry``, ...)."""
    hold = _hold_for_update(outbox=row, status=Hold.Status.QUEUED)
    if hold is None:
        return
    if decision.committed:
        hold.status = Hold.Status.ACTIVE
    else:
        hold.status, hold.failure_code = Hold.Status.REJECTED, (decision.code or "rejected")[:40]
    hold.block_height = decision.height
    _hold_save(hold, "status", "failure_code", "block_height")


def hold_resolve_decided(row: LedgerOutbox, decision: Decision) -> None:
    """Decision handler of ``hold_capture`` and ``hold_void``: captured or voided when
    committed; a refusal because the hold had expired marks it expired; any other refusal
    leaves it active with the code in ``failure_code``."""
    hold = _hold_for_update(resolve_outbox=row, status=Hold.Status.ACTIVE)
    if hold is None:
        return
    if decision.committed:
        if row.tx_type == HOLD_CAPTURE_TX:
            hold.status, hold.captured_amount = Hold.Status.CAPTURED, hold.capture_requested or 0
        else:
            hold.status = Hold.Status.VOIDED
        hold.block_height = decision.height
    elif decision.code == "hold_expired":
        hold.status = Hold.Status.EXPIRED
    else:
        hold.failure_code = (decision.code or "rejected")[:40]
    hold.capture_requested = None
    _hold_save(
        hold, "status", "captured_amount", "capture_requested", "failure_code", "block_height"
    )


def holds_expired(block: MirroredBlock) -> None:
    """Block handler: the portal's active holds that the ledger released by expiry at or
    before this block become ``expired``. Only holds due by the block's time are read, and the
    ledger's record of each (``state.hold``) decides, not the portal's clock."""
    due = Hold.objects.filter(
        status=Hold.Status.ACTIVE, expires_at_ms__lte=block.timestamp_ms
    ).values_list("pk", "hold_id")
    for pk, hold_id in due:
        record = block.state.hold(bytes.fromhex(hold_id))
        if record is None or record.status is not HoldStatus.EXPIRED:
            continue
        hold = _hold_for_update(pk=pk, status=Hold.Status.ACTIVE)
        if hold is not None:
            hold.status, hold.block_height = Hold.Status.EXPIRED, record.resolved_height
            _hold_save(hold, "status", "block_height")


def _publish_hold(hold: Hold) -> None:
    data = HoldUpdatedData(
        id=hold.pk,
        status=hold.status,
        from_account=hold.from_account_id,
        to_account=hold.to_account_id,
        amount=hold.amount,
        captured_amount=hold.captured_amount,
        currency=hold.currency,
        expires_at_ms=hold.expires_at_ms,
        failure_code=hold.failure_code,
        block_height=hold.block_height,
    )
    recipients = {
        hold.organization_id: hold.organization.slug,
        hold.payee_organization_id: hold.payee_organization.slug,
    }
    publish_hold_updated(recipients=recipients, data=data)
