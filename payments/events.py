"""Typed realtime events of the payments app, sent only through ``kernel.events.publish``."""

from __future__ import annotations

from typing import TypedDict

from django.db import transaction

from kernel.events import EventKind, publish

__all__ = [
    "HoldUpdatedData",
    "PaymentUpdatedData",
    "publish_hold_updated",
    "publish_payment_updated",
]


class PaymentUpdatedData(TypedDict):
    """``payment.updated``: a payment's new status; ids, amounts and codes only (no memo)."""

    id: int
    status: str
    from_account: str
    to_account: str
    amount: int
    currency: str
    failure_code: str
    tx_hash: str
    block_height: int | None


class HoldUpdatedData(TypedDict):
    """``hold.updated``: a hold's new status; ids, amounts, times and codes only."""

    id: int
    status: str
    from_account: str
    to_account: str
    amount: int
    captured_amount: int
    currency: str
    expires_at_ms: int
    failure_code: str
    block_height: int | None


def publish_payment_updated(*, recipients: dict[int, str], data: PaymentUpdatedData) -> None:
    """Publish to the payer's and the payee's feeds (``recipients``: organization id -> slug)
    after the surrounding transaction commits."""
    _publish_on_commit("payment.updated", recipients, dict(data))


def publish_hold_updated(*, recipients: dict[int, str], data: HoldUpdatedData) -> None:
    """As :func:`publish_payment_updated`, for a hold."""
    _publish_on_commit("hold.updated", recipients, dict(data))


def _publish_on_commit(
    kind: EventKind, recipients: dict[int, str], data: dict[str, object]
) -> None:
    def send() -> None:
        for organization_id, slug in recipients.items():
            publish(organization_id, {"type": kind, "organization": slug, "data": data})

    transaction.on_commit(send)
