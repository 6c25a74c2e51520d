"""Typed realtime events of the payments app, sent only through ``kernel.events.publish``."""

from __future__ import annotations

from typing import TypedDict

from django.db import transaction

from kernel.events import publish

__all__ = ["PaymentUpdatedData", "publish_payment_updated"]


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


def publish_payment_updated(*, recipients: dict[int, str], data: PaymentUpdatedData) -> None:
    """Publish to the payer's and the payee's feeds (``recipients``: organization id -> slug)
    after the surrounding transaction commits."""

    def send() -> None:
        for organization_id, slug in recipients.items():
            publish(
                organization_id,
                {"type": "payment.updated", "organization": slug, "data": dict(data)},
            )

    transaction.on_commit(send)
