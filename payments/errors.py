"""Every error code of the payments app, in one place.

A :class:`PaymentError` is a ``kernel.errors.DomainError`` with a code from :data:`CATALOG`; the
one exception handler renders it. The ledger's own rejection codes (``insufficient_funds``, ...)
are not API errors: they are a payment's ``failure_code`` once the ledger decided it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from kernel.errors import CatalogError

__all__ = [
    "ACCOUNT_NOT_FOUND",
    "ACCOUNT_NOT_OWNED",
    "CAPTURE_EXCEEDS_HOLD",
    "CATALOG",
    "CURRENCY_MISMATCH",
    "HOLD_NOT_ACTIVE",
    "IDEMPOTENCY_KEY_REQUIRED",
    "IDEMPOTENCY_KEY_REUSED",
    "PAYMENT_NOT_CANCELABLE",
    "PAYMENT_NOT_PENDING",
    "PAYMENT_NOT_SETTLED",
    "SAME_ACCOUNT",
    "SELF_APPROVAL",
    "PaymentError",
]

ACCOUNT_NOT_OWNED: Final = "account_not_owned"
ACCOUNT_NOT_FOUND: Final = "account_not_found"
CURRENCY_MISMATCH: Final = "currency_mismatch"
SAME_ACCOUNT: Final = "same_account"
IDEMPOTENCY_KEY_REQUIRED: Final = "idempotency_key_required"
IDEMPOTENCY_KEY_REUSED: Final = "idempotency_key_reused"
SELF_APPROVAL: Final = "self_approval"
PAYMENT_NOT_PENDING: Final = "payment_not_pending"
PAYMENT_NOT_CANCELABLE: Final = "payment_not_cancelable"
PAYMENT_NOT_SETTLED: Final = "not_settled"
HOLD_NOT_ACTIVE: Final = "hold_not_active"
CAPTURE_EXCEEDS_HOLD: Final = "capture_exceeds_hold"

# code -> (default message, HTTP status). Never rename a code, only add.
CATALOG: Final[Mapping[str, tuple[str, int]]] = MappingProxyType(
    {
        ACCOUNT_NOT_OWNED: ("The organization has no open account with this id.", 404),
        ACCOUNT_NOT_FOUND: ("No open account of the alliance has this id.", 404),
        CURRENCY_MISMATCH: ("The payment's currency is not that of both accounts.", 400),
        SAME_ACCOUNT: ("A payment needs two different accounts.", 400),
        IDEMPOTENCY_KEY_REQUIRED: ("Send an Idempotency-Key header with every payment.", 400),
        IDEMPOTENCY_KEY_REUSED: ("This Idempotency-Key was used for another request.", 409),
        SELF_APPROVAL: ("The maker of a payment cannot approve it.", 403),
        PAYMENT_NOT_PENDING: ("The payment is not waiting for approval.", 409),
        PAYMENT_NOT_CANCELABLE: ("The payment was already sent to the ledger or ended.", 409),
        PAYMENT_NOT_SETTLED: ("The ledger has not settled this payment.", 409),
        HOLD_NOT_ACTIVE: ("The hold is not active, or a capture or void is pending.", 409),
        CAPTURE_EXCEEDS_HOLD: ("A capture takes 1 to the held amount.", 400),
    }
)


class PaymentError(CatalogError):
    """A payments rule refused the request; ``code`` is one of :data:`CATALOG`."""

    catalog = CATALOG
