"""Writes of the payments app: accounts, payments and holds with idempotency keys,
maker-checker approvals, the approval policy, and the ledger's decisions about them.

A payment becomes one ledger transaction, built by :func:`payment_ledger_payload` (the one
place that knows its shape) and queued with ``ledger_submit`` in the same database transaction
as the status change; the decision handlers (:func:`account_open_decided`,
:func:`payment_decided`), registered in ``PaymentsConfig.ready``, run inside the follower's (or
the worker's) transaction that records the ledger's verdict. A hold is a ``hold_place``, then
one ``hold_capture`` or ``hold_void``; the ledger releases it by itself at its expiry, which the
block handler :func:`holds_expired` reads from the mirrored state.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from kernel.envelope import derive_key
from ledger.models import LedgerOutbox, MirrorAccount
from ledger.outbox import Decision, MirroredBlock, ledger_id_for, ledger_submit
from ledger.state import HoldStatus
from payments import selectors
from payments.currencies import CURRENCIES
from payments.errors import (
    ACCOUNT_NOT_FOUND,
    ACCOUNT_NOT_OWNED,
    CAPTURE_EXCEEDS_HOLD,
    CURRENCY_MISMATCH,
    HOLD_NOT_ACTIVE,
    IDEMPOTENCY_KEY_REQUIRED,
    IDEMPOTENCY_KEY_REUSED,
    PAYMENT_NOT_CANCELABLE,
    PAYMENT_NOT_PENDING,
    SAME_ACCOUNT,
    SELF_APPROVAL,
    PaymentError,
)
from payments.events import (
    HoldUpdatedData,
    PaymentUpdatedData,
    publish_hold_updated,
    publish_payment_updated,
)
from payments.models import Account, ApprovalThreshold, Hold, IdempotencyKey, Payment
from tenants.errors import AccessDenied, NotFound
from tenants.models import Organization
from tenants.roles import Role
from tenants.services import audit_record

__all__ = [
    "ACCOUNT_OPEN_TX",
    "HOLD_CAPTURE_TX",
    "HOLD_PLACE_TX",
    "HOLD_VOID_TX",
    "PAYMENT_TX",
    "HoldPlaced",
    "PaymentCreated",
    "account_open",
    "account_open_decided",
    "accounts_adopt",
    "approval_policy_set",
    "hold_capture",
    "hold_place",
    "hold_place_decided",
    "hold_resolve_decided",
    "hold_void",
    "holds_expired",
    "idempotency_keys_expire",
    "payment_approve",
    "payment_cancel",
    "payment_create",
    "payment_decided",
    "payment_ledger_payload",
    "payment_reference",
]

ACCOUNT_OPEN_TX: Final = "account_open"
#: The ledger transaction a payment becomes: ``payment``, a transfer that also carries a 32-byte
#: ``reference`` (:func:`payment_reference`) linking the ledger's record to the portal's row.
PAYMENT_TX: Final[str] = "payment"
HOLD_PLACE_TX: Final = "hold_place"
HOLD_CAPTURE_TX: Final = "hold_capture"
HOLD_VOID_TX: Final = "hold_void"
#: A hold lasts 1 second to 90 days (the ledger refuses an expiry beyond 90 days of block time).
MIN_HOLD_SECONDS: Final = 1
MAX_HOLD_SECONDS: Final = 90 * 24 * 3600

_REFERENCE_INFO: Final = b"alliance-portal/payments/reference"
MAX_IDEMPOTENCY_KEY_LENGTH: Final = 255
#: Room left in a ledger account id (64 characters) for ":<currency>-<8 hex digits>".
_ACCOUNT_PREFIX_LENGTH: Final = 64 - len(":usd-") - 8


# --- accounts ----------------------------------------------------------------------------------


@transaction.atomic
def account_open(*, organization: Organization, actor: User, currency: str, name: str) -> Account:
    """Open an account in ``currency``: the row is ``opening`` and its ``account_open`` is
    queued on the ledger in the same transaction; it becomes ``open`` once the ledger commits
    it (:func:`account_open_decided`)."""
    owner = ledger_id_for(organization)
    ledger_account_id = (
        f"{owner[:_ACCOUNT_PREFIX_LENGTH]}:{currency.lower()}-{secrets.token_hex(4)}"
    )
    account = Account.objects.create(
        organization=organization,
        currency=currency,
        name=name,
        ledger_account_id=ledger_account_id,
    )
    account.outbox = ledger_submit(
        organization=organization,
        tx_type=ACCOUNT_OPEN_TX,
        payload={"account_id": ledger_account_id, "currency": currency, "owner": owner},
        idempotency_key=f"payments.account_open.{account.pk}",
    )
    account.save(update_fields=["outbox"])
    audit_record(
        organization=organization,
        actor=actor,
        action="payments.account.opened",
        obj=account,
        details={"account": ledger_account_id, "currency": currency},
    )
    return account


def account_open_decided(row: LedgerOutbox, decision: Decision) -> None:
    """Decision handler of ``account_open``: the account is open, or closed if refused."""
    status = Account.Status.OPEN if decision.committed else Account.Status.CLOSED
    Account.objects.filter(outbox=row, status=Account.Status.OPENING).update(status=status)


@transaction.atomic
def accounts_adopt(*, organization: Organization) -> list[Account]:
    """Give the organization an ``open`` account row for each ledger account it owns that the
    portal did not open (the genesis accounts of a devnet or of an alliance's launch).

    Called when the organization lists its accounts, so an account funded at genesis shows up
    as soon as the follower has pinned the chain, whatever ran first. Idempotent."""
    owner = ledger_id_for(organization)
    known = set(
        Account.objects.filter(organization=organization).values_list(
            "ledger_account_id", flat=True
        )
    )
    adopted = []
    for account_id, currency in MirrorAccount.objects.filter(owner=owner).values_list(
        "account_id", "currency"
    ):
        if account_id in known or currency not in CURRENCIES:
            continue
        account, created = Account.objects.get_or_create(
            ledger_account_id=account_id,
            defaults={
                "organization": organization,
                "currency": currency,
                "name": f"{currency} account",
                "status": Account.Status.OPEN,
            },
        )
        if created:
            adopted.append(account)
    return adopted


# --- payments ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentCreated:
    """A created (or replayed) payment and the HTTP status its first answer had."""

    payment: Payment
    status_code: int
    replayed: bool


def _keyed_reference(parts: list[object]) -> str:
    key = derive_key(settings.SECRET_KEY.encode(), info=_REFERENCE_INFO)
    message = json.dumps(parts, separators=(",", ":")).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def payment_reference(payment: Payment) -> str:
    """The 32-byte reference a ``payment`` transaction carries: a keyed hash (HMAC-SHA256 under
    a key derived from ``SECRET_KEY``) of the payment id and memo, so the ledger can match a
    payment to the portal's row without learning the memo."""
    return _keyed_reference([payment.pk, payment.memo])


def payment_ledger_payload(payment: Payment) -> dict[str, object]:
    """THE payload of a payment's ledger transaction (:data:`PAYMENT_TX`)."""
    return {
        "from_account": payment.from_account_id,
        "to_account": payment.to_account_id,
        "currency": payment.currency,
        "amount": payment.amount,
        "reference": payment_reference(payment),
    }


def _fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


class _KeyRace(Exception):
    """Another request stored the same idempotency key first (unique violation)."""


def payment_create(
    *,
    organization: Organization,
    actor: User,
    role: Role,
    idempotency_key: str | None,
    from_account: str,
    to_account: str,
    amount: int,
    currency: str,
    memo: str = "",
) -> PaymentCreated:
    """Create a payment, or answer again for a key already used with the same body.

    ``idempotency_key`` is required (``idempotency_key_required``); the same key with another
    body is ``idempotency_key_reused``. The payment waits in ``pending_approval`` when the maker
    is below admin or the amount is above the organization's threshold for the currency;
    otherwise it is queued on the ledger at once."""
    if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise PaymentError(IDEMPOTENCY_KEY_REQUIRED)
    body = {
        "from_account": from_account,
        "to_account": to_account,
        "amount": amount,
        "currency": currency,
        "memo": memo,
    }
    fingerprint = _fingerprint(body)
    try:
        return _payment_create(organization, actor, role, idempotency_key, fingerprint, body)
    except _KeyRace:
        # The concurrent request committed first: answer as a replay (or refuse another body).
        return _payment_create(organization, actor, role, idempotency_key, fingerprint, body)


def _accounts_check(organization: Organization, body: dict[str, Any]) -> tuple[Account, Account]:
    """The payer's open source account and any open target account of the request ``body``, in
    its currency; a PaymentError names what is wrong."""
    source = selectors.account_owned_open_get(
        organization=organization, ledger_account_id=body["from_account"]
    )
    if source is None:
        raise PaymentError(ACCOUNT_NOT_OWNED, details={"field": "from_account"})
    target = selectors.directory_account_get(ledger_account_id=body["to_account"])
    if target is None:
        raise PaymentError(ACCOUNT_NOT_FOUND, details={"field": "to_account"})
    if source.pk == target.pk:
        raise PaymentError(SAME_ACCOUNT)
    currency = body["currency"]
    if not source.currency == target.currency == currency:
        raise PaymentError(
            CURRENCY_MISMATCH,
            details={
                "currency": currency,
                "from_account": source.currency,
                "to_account": target.currency,
            },
        )
    return source, target


@transaction.atomic
def _payment_create(
    organization: Organization,
    actor: User,
    role: Role,
    idempotency_key: str,
    fingerprint: str,
    body: dict[str, Any],
) -> PaymentCreated:
    existing = (
        IdempotencyKey.objects.select_related("payment")
        .filter(organization=organization, key=idempotency_key)
        .first()
    )
    if existing is not None:
        if existing.fingerprint != fingerprint or existing.payment is None:
            raise PaymentError(IDEMPOTENCY_KEY_REUSED)
        return PaymentCreated(existing.payment, existing.response_status, replayed=True)
    source, target = _accounts_check(organization, body)
    currency = body["currency"]
    threshold = selectors.approval_thresholds(organization=organization)[currency]
    needs_approval = not role.at_least(Role.ADMIN) or body["amount"] > threshold
    payment = Payment.objects.create(
        organization=organization,
        payee_organization_id=target.organization_id,
        from_account=source,
        to_account_id=target.ledger_account_id,
        currency=currency,
        amount=body["amount"],
        memo=body["memo"],
        created_by=actor,
    )
    if not needs_approval:
        _queue(payment)
    status_code = 202
    try:
        with transaction.atomic():
            IdempotencyKey.objects.create(
                organization=organization,
                key=idempotency_key,
                fingerprint=fingerprint,
                payment=payment,
                response_status=status_code,
            )
    except IntegrityError as exc:
        raise _KeyRace from exc
    audit_record(
        organization=organization,
        actor=actor,
        action="payments.payment.created",
        obj=payment,
        details={
            "amount": payment.amount,
            "currency": currency,
            "to_account": payment.to_account_id,
            "status": payment.status,
        },
    )
    _publish(payment)
    return PaymentCreated(payment, status_code, replayed=False)


def _queue(payment: Payment) -> None:
    """Write the payment's ledger transaction to the outbox (the caller's transaction)."""
    payment.outbox = ledger_submit(
        organization=payment.organization,
        tx_type=PAYMENT_TX,
        payload=payment_ledger_payload(payment),
        idempotency_key=f"payments.payment.{payment.pk}",
    )
    payment.status = Payment.Status.QUEUED
    payment.updated_at = timezone.now()
    payment.save(update_fields=["outbox", "status", "updated_at"])


def _locked_payment(organization: Organization, payment_id: int | str) -> Payment:
    """The payer's payment, locked; the API's 404 for anyone else (the payee included)."""
    payment = selectors.payment_get(organization=organization, payment_id=payment_id, as_payer=True)
    if payment is None:
        raise NotFound()
    return (
        Payment.objects.select_for_update(of=("self",))
        .select_related("organization", "payee_organization")
        .get(pk=payment.pk)
    )


@transaction.atomic
def payment_approve(
    *, organization: Organization, actor: User, role: Role, payment_id: int | str
) -> Payment:
    """The checker's approval (an admin or owner): a payment waiting for approval is queued on
    the ledger. The maker can never approve their own."""
    payment = _locked_payment(organization, payment_id)
    if not role.at_least(Role.ADMIN):
        raise AccessDenied("Only an admin or owner can approve a payment.")
    if payment.created_by_id == actor.pk:
        raise PaymentError(SELF_APPROVAL)
    if payment.status != Payment.Status.PENDING_APPROVAL:
        raise PaymentError(PAYMENT_NOT_PENDING, details={"status": payment.status})
    payment.approved_by, payment.approved_at = actor, timezone.now()
    payment.save(update_fields=["approved_by", "approved_at"])
    _queue(payment)
    audit_record(
        organization=organization, actor=actor, action="payments.payment.approved", obj=payment
    )
    _publish(payment)
    return payment


@transaction.atomic
def payment_cancel(
    *, organization: Organization, actor: User, role: Role, payment_id: int | str
) -> Payment:
    """Cancel a payment before the outbox worker signed it, by its maker or an admin.

    A queued payment whose outbox row is still unsigned loses that row (locked first, so the
    worker either signed it before, and the payment is no longer cancelable, or never will)."""
    payment = _locked_payment(organization, payment_id)
    if payment.created_by_id != actor.pk and not role.at_least(Role.ADMIN):
        raise AccessDenied("Only the maker or an admin can cancel a payment.")
    if payment.status == Payment.Status.QUEUED and payment.outbox_id is not None:
        row = LedgerOutbox.objects.select_for_update().get(pk=payment.outbox_id)
        if row.status != LedgerOutbox.Status.PENDING or row.tx_hash or row.nonce is not None:
            raise PaymentError(PAYMENT_NOT_CANCELABLE, details={"status": "submitted"})
        payment.outbox = None
        payment.save(update_fields=["outbox"])
        row.delete()
    elif payment.status != Payment.Status.PENDING_APPROVAL:
        raise PaymentError(PAYMENT_NOT_CANCELABLE, details={"status": payment.status})
    payment.status, payment.canceled_by = Payment.Status.CANCELED, actor
    payment.updated_at = timezone.now()
    payment.save(update_fields=["status", "canceled_by", "updated_at"])
    audit_record(
        organization=organization, actor=actor, action="payments.payment.canceled", obj=payment
    )
    _publish(payment)
    return payment


def payment_decided(row: LedgerOutbox, decision: Decision) -> None:
    """Decision handler of payments: settled when the ledger committed the transaction,
    rejected with the receipt's code (``insufficient_funds``, ...) otherwise. Runs once per
    row (the outbox row is decided once), inside the deciding transaction."""
    payment = (
        Payment.objects.select_for_update(of=("self",))
        .select_related("organization", "payee_organization")
        .filter(outbox=row, status=Payment.Status.QUEUED)
        .first()
    )
    if payment is None:
        return
    now = timezone.now()
    payment.status = Payment.Status.SETTLED if decision.committed else Payment.Status.REJECTED
    payment.failure_code = "" if decision.committed else (decision.code or "rejected")[:40]
    payment.tx_hash, payment.block_height = decision.tx_hash, decision.height
    payment.settled_at = now if decision.committed else None
    payment.updated_at = now
    payment.save(
        update_fields=[
            "status", "failure_code", "tx_hash", "block_height", "settled_at", "updated_at",
        ]
    )  # fmt: skip
    _publish(payment)


def _publish(payment: Payment) -> None:
    data = PaymentUpdatedData(
        id=payment.pk,
        status=selectors.payment_status(payment),
        from_account=payment.from_account_id,
        to_account=payment.to_account_id,
        amount=payment.amount,
        currency=payment.currency,
        failure_code=payment.failure_code,
        tx_hash=payment.tx_hash,
        block_height=payment.block_height,
    )
    recipients = {
        payment.organization_id: payment.organization.slug,
        payment.payee_organization_id: payment.payee_organization.slug,
    }
    publish_payment_updated(recipients=recipients, data=data)


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
    try:
        with transaction.atomic():
            IdempotencyKey.objects.create(
                organization=organization,
                key=idempotency_key,
                fingerprint=fingerprint,
                hold=hold,
                response_status=status_code,
            )
    except IntegrityError as exc:
        raise _KeyRace from exc
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


# --- the approval policy and housekeeping ------------------------------------------------------


@transaction.atomic
def approval_policy_set(
    *, organization: Organization, actor: User, thresholds: dict[str, int]
) -> dict[str, int]:
    """Set the organization's maker-checker thresholds (minor units) for the given currencies;
    returns every currency's threshold."""
    before = selectors.approval_thresholds(organization=organization)
    now = timezone.now()
    for currency, amount in thresholds.items():
        ApprovalThreshold.objects.update_or_create(
            organization=organization,
            currency=currency,
            defaults={"amount": amount, "updated_at": now},
        )
    audit_record(
        organization=organization,
        actor=actor,
        action="payments.policy.updated",
        details={
            "thresholds": {c: [before[c], a] for c, a in sorted(thresholds.items())},
        },
    )
    return selectors.approval_thresholds(organization=organization)


def idempotency_keys_expire(*, now: Any = None) -> int:
    """Delete idempotency keys older than ``IdempotencyKey.KEEP_HOURS``; how many went."""
    cutoff = (now or timezone.now()) - timedelta(hours=IdempotencyKey.KEEP_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
