"""``ledger_submit``: queue a ledger transaction in the caller's database transaction.

The business change and its ledger record commit together or not at all (the transactional
outbox). Submitting the same ``idempotency_key`` again returns the existing row, so a retried
task or request never queues a second transaction; reusing a key for a different transaction
is a programming error and raises :class:`OutboxConflict`.

``payload_for`` is THE one place where the portal's payload dicts become ``ledger.state``
payloads: names and words are those of ``ledger.state.json_codec`` (``{"action": "granted",
"commitment": <hex>}`` for ``consent``, ``{"action": "enrolled", ...}`` for
``biometric_commitment``, ``{"commitment": ...}`` for ``anchor``, account ids, currencies and
integer amounts for ``account_open`` / ``transfer``), so most dicts pass through unchanged.

Apps above the ledger learn how their rows ended through an explicit registry:
``register_decision_handler(tx_type, handler)`` (called from the app's ``AppConfig.ready``);
``ledger.services.mirror.outbox_decided`` calls the handlers of the row's ``tx_type`` inside the
transaction that marks the row committed or rejected, so each handler runs exactly once per row
and commits (or rolls back) with that decision. ``register_block_handler(handler)`` is told of
every mirrored block, for what changes with no transaction of the app's (expired holds).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from django.db import IntegrityError, transaction

from kernel.patterns import HEX_DIGEST, WORD
from ledger.models import LedgerOutbox
from ledger.state import InvalidTransaction, Payload, State, payload_from_json
from ledger.state.limits import ACCOUNT_ID_PATTERN, CURRENCY_PATTERN
from tenants.models import Organization

__all__ = [
    "BlockHandler",
    "Decision",
    "DecisionHandler",
    "InvalidPayload",
    "MirroredBlock",
    "OutboxConflict",
    "block_handlers",
    "decision_handlers",
    "ledger_id_for",
    "ledger_submit",
    "payload_for",
    "register_block_handler",
    "register_decision_handler",
]

# Payload values are commitments (32-byte keyed hashes or keys, hex), short action words,
# ledger identifiers (account ids, currencies) or integer amounts; free text cannot pass, which
# keeps names, references and embeddings off the replicated ledger.
_VALUE_PATTERNS: Final = (HEX_DIGEST, WORD, ACCOUNT_ID_PATTERN, CURRENCY_PATTERN)


class InvalidPayload(ValueError):
    """A payload that is not a flat mapping of words to commitments, identifiers or amounts,
    or that ``ledger.state`` refuses for ``tx_type``."""


class OutboxConflict(ValueError):
    """An idempotency key reused for a different transaction."""


def ledger_id_for(organization: Organization) -> str:
    """The organization's id on the ledger: its ``LedgerSender.ledger_id`` (set when a key is
    imported, e.g. a devnet member's), else its slug (ledger ids are lowercase)."""
    from ledger.models import LedgerSender

    known = (
        LedgerSender.objects.filter(organization=organization)
        .values_list("ledger_id", flat=True)
        .first()
    )
    return known or organization.slug.lower()


def payload_for(tx_type: str, payload: Mapping[str, object]) -> Payload:
    """The ``ledger.state`` payload of an outbox row; ``InvalidPayload`` if it has none."""
    try:
        return payload_from_json(tx_type, dict(payload))
    except InvalidTransaction as exc:
        raise InvalidPayload(f"{tx_type}: {exc.reason}") from exc


def _value_ok(value: object) -> bool:
    if type(value) is int:
        return value > 0
    return isinstance(value, str) and any(p.fullmatch(value) for p in _VALUE_PATTERNS)


def _check(
    organization: Organization, tx_type: str, payload: Mapping[str, object], idempotency_key: str
) -> dict[str, object]:
    if not WORD.fullmatch(tx_type):
        raise InvalidPayload(f"bad tx_type {tx_type!r}")
    if not idempotency_key or len(idempotency_key) > 128:
        raise InvalidPayload("idempotency_key must be 1 to 128 characters")
    clean: dict[str, object] = {}
    for key, value in payload.items():
        if not isinstance(key, str) or not WORD.fullmatch(key):
            raise InvalidPayload(f"bad payload field name {key!r}")
        if not _value_ok(value):
            raise InvalidPayload(
                f"payload field {key!r} must be a hex commitment, a word, an identifier "
                "or a positive integer"
            )
        clean[key] = value
    built = payload_for(tx_type, clean)
    try:
        built.check_sender(ledger_id_for(organization))
    except InvalidTransaction as exc:
        raise InvalidPayload(f"{tx_type}: {exc.reason}") from exc
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
    not commitments, words, identifiers and amounts only or that the ledger would refuse,
    :class:`OutboxConflict` when the key was used for another transaction. The outbox worker
    (``ledger.services.outbox_drain``) signs, submits and tracks the row.
    """
    clean = _check(organization, tx_type, payload, idempotency_key)
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


# --- decisions: who is told when a row is committed or rejected --------------------------------


@dataclass(frozen=True)
class Decision:
    """How the ledger decided an outbox row: ``committed`` or ``rejected``, at ``height`` (None
    when a node refused it at the door), with the receipt's ``code`` and ``reason``."""

    tx_hash: str
    status: str
    height: int | None
    code: str
    reason: str

    @property
    def committed(self) -> bool:
        return self.status == "committed"


DecisionHandler = Callable[[LedgerOutbox, Decision], None]

_DECISION_HANDLERS: dict[str, list[DecisionHandler]] = {}


def register_decision_handler(tx_type: str, handler: DecisionHandler) -> None:
    """Call ``handler(row, decision)`` whenever an outbox row of ``tx_type`` is decided.

    The handler runs inside the deciding transaction (the follower's or the worker's, in system
    context): it must only write the database, never call the network; whatever it wants to
    publish it publishes on commit. Registering the same handler twice is a no-op, so an
    ``AppConfig.ready`` that runs again does not double it.
    """
    if not WORD.fullmatch(tx_type):
        raise ValueError(f"bad tx_type {tx_type!r}")
    handlers = _DECISION_HANDLERS.setdefault(tx_type, [])
    if handler not in handlers:
        handlers.append(handler)


def decision_handlers(tx_type: str) -> tuple[DecisionHandler, ...]:
    """The handlers registered for ``tx_type``, in registration order."""
    return tuple(_DECISION_HANDLERS.get(tx_type, ()))


# --- mirrored blocks: who is told what changed without a transaction of theirs -----------------


@dataclass(frozen=True)
class MirroredBlock:
    """A block the follower mirrored: its ``height``, its ``timestamp_ms`` (the ledger's time,
    at which holds expire) and the state after it (``state.hold(...)``, ``state.account(...)``)."""

    height: int
    timestamp_ms: int
    state: State


BlockHandler = Callable[[MirroredBlock], None]

_BLOCK_HANDLERS: list[BlockHandler] = []


def register_block_handler(handler: BlockHandler) -> None:
    """Call ``handler(block)`` for every block the follower mirrors, inside its transaction
    (system context), after the block's outbox rows were decided: for what changes at a block
    with no transaction of the portal's (a hold the ledger released at its expiry). Same rules as
    decision handlers: database writes only, publish on commit; registering twice is a no-op."""
    if handler not in _BLOCK_HANDLERS:
        _BLOCK_HANDLERS.append(handler)


def block_handlers() -> tuple[BlockHandler, ...]:
    """The registered block handlers, in registration order."""
    return tuple(_BLOCK_HANDLERS)
