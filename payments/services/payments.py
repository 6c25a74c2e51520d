"""Accounts, payments with idempotency keys, maker-checker approvals, the approval policy, and
the ledger's decisions about them (see the package's docstring); also the request checks and
keyed references that holds share (:mod:`payments.services.holds`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from kernel.envelope import derive_key
from ledger.models import LedgerOutbox, MirrorAccount
from ledger.outbox import Decision, MirroredBlock, ledger_id_for, ledger_submit
from payments import selectors
from payments.currencies import CURRENCIES
from payments.errors import (
    ACCOUNT_NOT_FOUND,
    ACCOUNT_NOT_OWNED,
    CURRENCY_MISMATCH,
    IDEMPOTENCY_KEY_REQUIRED,
    IDEMPOTENCY_KEY_REUSED,
    PAYMENT_NOT_CANCELABLE,
    PAYMENT_NOT_PENDING,
    SAME_ACCOUNT,
    SELF_APPROVAL,
    PaymentError,
)
from payments.events import (
    PaymentUpdatedData,
    publish_payment_updated,
)
from payments.models import Account, ApprovalThreshold, Hold, IdempotencyKey, Payment
from tenants.errors import AccessDenied, NotFound
from tenants.models import Organization
from tenants.roles import Role
from tenants.services import audit_record

__all__ = [
    "ACCOUNT_OPEN_TX",
    "MAX_IDEMPOTENCY_KEY_LENGTH",
    "PAYMENT_TX",
    "PaymentCreated",
    "account_open",
    "account_open_decided",
    "accounts_adopt",
    "accounts_adopt_mirrored",
    "approval_policy_set",
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


def accounts_adopt_mirrored(block: MirroredBlock) -> None:
    """Block handler: every member organization adopts the ledger accounts it owns as soon as
    the follower mirrors them (the genesis accounts at the first block, any other account at the
    block that created it), so a payee is in the directory without having listed its accounts.
    Reads only the mirror rows of the genesis and of this block."""
    owners = set(
        MirrorAccount.objects.filter(height__in=(0, block.height))
        .exclude(account_id__in=Account.objects.values("ledger_account_id"))
        .values_list("owner", flat=True)
    )
    if not owners:
        return
    for organization in Organization.objects.filter(
        Q(ledger_sender__ledger_id__in=owners) | Q(slug__in=owners)
    ):
        accounts_adopt(organization=organization)


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


def _key_record(
    *,
    organization: Organization,
    key: str,
    fingerprint: str,
    status_code: int,
    payment: Payment | None = None,
    hold: Hold | None = None,
) -> None:
    """Store the idempotency key with what it created (a payment or a hold), in a savepoint so
    a concurrent request that stored it first surfaces as :class:`_KeyRace`, not a broken
    transaction."""
    try:
        with transaction.atomic():
            IdempotencyKey.objects.create(
                organization=organization, key=key, fingerprint=fingerprint, payment=payment,
                hold=hold, response_status=status_code,
            )  # fmt: skip
    except IntegrityError as exc:
        raise _KeyRace from exc


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
    _key_record(
        organization=organization, key=idempotency_key, fingerprint=fingerprint,
        status_code=status_code, payment=payment,
    )  # fmt: skip
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
