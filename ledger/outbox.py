"""``ledger_submit``: queue a ledger transaction in the caller's database transaction.

The business change and its ledger record commit together or not at all (the transactional
outbox). Submitting the same ``idempotency_key`` again returns the existing row, so a retried
task or request never queues a second transaction; reusing a key for a different transaction
is a programming error and raises :class:`OutboxConflict`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from django.db import IntegrityError, transaction

from ledger.models import LedgerOutbox
from tenants.models import Organization

__all__ = ["InvalidPayload", "OutboxConflict", "ledger_submit"]

# Payload values are either a commitment (32-byte keyed hash, hex) or a short action word; free
# text cannot pass, which keeps names, references and embeddings off the replicated ledger.
_COMMITMENT: Final = re.compile(r"^[0-9a-f]{64}$")
_WORD: Final = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_TX_TYPE: Final = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class InvalidPayload(ValueError):
    """A payload that is not a flat mapping of words to commitments or action words."""


class OutboxConflict(ValueError):
    """An idempotency key reused for a different transaction."""


def _check(tx_type: str, payload: Mapping[str, object], idempotency_key: str) -> dict[str, str]:
    if not _TX_TYPE.match(tx_type):
        raise InvalidPayload(f"bad tx_type {tx_type!r}")
    if not idempotency_key or len(idempotency_key) > 128:
        raise InvalidPayload("idempotency_key must be 1 to 128 characters")
    clean: dict[str, str] = {}
    for key, value in payload.items():
        if not isinstance(key, str) or not _WORD.match(key):
            raise InvalidPayload(f"bad payload field name {key!r}")
        if not isinstance(value, str) or not (_COMMITMENT.match(value) or _WORD.match(value)):
            raise InvalidPayload(f"payload field {key!r} must be a hex commitment or a word")
        clean[key] = value
    return clean


def ledger_submit(
    *,
    organization: Organization,
    tx_type: str,
    payload: Mapping[str, object],
    idempotency_key: str,
) -> LedgerOutbox:
    """Queue ``tx_type`` with ``payload`` for ``organization``; idempotent per key.

    Runs inside the caller's transaction (a savepoint here only protects it from the unique
    violation of a concurrent duplicate). Raises :class:`InvalidPayload` for a payload that is
    not commitments and words only, :class:`OutboxConflict` when the key was used for another
    transaction.
    """
    clean = _check(tx_type, payload, idempotency_key)
    existing = LedgerOutbox.objects.filter(idempotency_key=idempotency_key).first()
    if existing is None:
        try:
            with transaction.atomic():
                return LedgerOutbox.objects.create(
                    organization=organization,
                    tx_type=tx_type,
                    payload=clean,
                    idempotency_key=idempotency_key,
                )
        except IntegrityError:
            existing = LedgerOutbox.objects.get(idempotency_key=idempotency_key)
    if (
        existing.organization_id != organization.pk
        or existing.tx_type != tx_type
        or existing.payload != clean
    ):
        raise OutboxConflict(
            f"idempotency key {idempotency_key!r} was used for another transaction"
        )
    return existing
