"""Writes of the payments app: accounts, payments and holds with idempotency keys,
maker-checker approvals, the approval policy, and the ledger's decisions about them.

A payment becomes one ledger transaction, built by :func:`payment_ledger_payload` (the one
place that knows its shape) and queued with ``ledger_submit`` in the same database transaction
as the status change; the decision handlers (:func:`account_open_decided`,
:func:`payment_decided`), registered in ``PaymentsConfig.ready``, run inside the follower's (or
the worker's) transaction that records the ledger's verdict. A hold is a ``hold_place``, then
one ``hold_capture`` or ``hold_void``; the ledger releases it by itself at its expiry, which the
block handler :func:`holds_expired` reads from the mirrored state.

Two modules: :mod:`payments.services.payments` (accounts, payments, the approval policy) and
:mod:`payments.services.holds`; everything public is re-exported here.
"""

from __future__ import annotations

from payments.services.holds import (
    HOLD_CAPTURE_TX,
    HOLD_PLACE_TX,
    HOLD_VOID_TX,
    MAX_HOLD_SECONDS,
    MIN_HOLD_SECONDS,
    HoldPlaced,
    hold_capture,
    hold_place,
    hold_place_decided,
    hold_resolve_decided,
    hold_void,
    holds_expired,
    ledger_time_ms,
)
from payments.services.payments import (
    ACCOUNT_OPEN_TX,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    PAYMENT_TX,
    PaymentCreated,
    account_open,
    account_open_decided,
    accounts_adopt,
    accounts_adopt_mirrored,
    approval_policy_set,
    idempotency_keys_expire,
    payment_approve,
    payment_cancel,
    payment_create,
    payment_decided,
    payment_ledger_payload,
    payment_reference,
)

__all__ = [
    "ACCOUNT_OPEN_TX",
    "HOLD_CAPTURE_TX",
    "HOLD_PLACE_TX",
    "HOLD_VOID_TX",
    "MAX_HOLD_SECONDS",
    "MAX_IDEMPOTENCY_KEY_LENGTH",
    "MIN_HOLD_SECONDS",
    "PAYMENT_TX",
    "HoldPlaced",
    "PaymentCreated",
    "account_open",
    "account_open_decided",
    "accounts_adopt",
    "accounts_adopt_mirrored",
    "approval_policy_set",
    "hold_capture",
    "hold_place",
    "hold_place_decided",
    "hold_resolve_decided",
    "hold_void",
    "holds_expired",
    "idempotency_keys_expire",
    "ledger_time_ms",
    "payment_approve",
    "payment_cancel",
    "payment_create",
    "payment_decided",
    "payment_ledger_payload",
    "payment_reference",
]
