"""State records (the values of the replicated map), their keys, and typed read accessors.

Every record is a frozen dataclass with a canonical ``encode()`` that starts with a one-byte tag;
the key namespaces below are part of the state-root definition, so never reuse a tag or a prefix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import TypeVar

from ledger.consensus.encoding import Writer
from ledger.state.errors import ErrorCode
from ledger.state.store import Record

__all__ = [
    "Account",
    "AnchorRecord",
    "ChainMeta",
    "ChangeKind",
    "ExpiryBucket",
    "ExpiryIndex",
    "Hold",
    "HoldStatus",
    "Organization",
    "QuoteRecord",
    "Receipt",
    "ReceiptStatus",
    "StateReader",
    "StatusRecord",
    "Supply",
    "Validator",
    "ValidatorChange",
    "ValidatorSet",
    "compute_receipts_root",
    "iter_records",
    "keys",
]

_T = TypeVar("_T")


@dataclass(frozen=True)
class ChainMeta:
    """Chain identity and progress: ``height`` counts applied blocks, ``epoch`` validator eras,
    ``receipts_root`` commits to the receipts of the block that produced this state and
    ``timestamp_ms`` is that block's header timestamp (0 at genesis): the clock holds expire by
    and quotes are checked against."""

    chain_id: str
    height: int
    epoch: int
    receipts_root: bytes = bytes(32)
    timestamp_ms: int = 0

    def encode(self) -> bytes:
        w = Writer().u8(1).text(self.chain_id).u64(self.height).u64(self.epoch)
        return w.fixed(self.receipts_root, 32).u64(self.timestamp_ms).getvalue()


@dataclass(frozen=True)
class Organization:
    """A member organization: its current Ed25519 key and the last nonce it used (0 = none)."""

    org_id: str
    public_key: bytes
    nonce: int

    def encode(self) -> bytes:
        return (
            Writer().u8(2).text(self.org_id).fixed(self.public_key, 32).u64(self.nonce).getvalue()
        )


@dataclass(frozen=True)
class Validator:
    """A consensus validator: run by one organization, voting with one BLS12-381 key."""

    org_id: str
    bls_public_key: bytes


class ChangeKind(IntEnum):
    ADD = 1
    REMOVE = 2


@dataclass(frozen=True)
class ValidatorChange:
    """A committed validator-set change waiting for the next epoch."""

    kind: ChangeKind
    org_id: str
    bls_public_key: bytes = b""  # empty for REMOVE


@dataclass(frozen=True)
class ValidatorSet:
    """The current validators (sorted by org id: that order is the signer-bitmap order) and the
    changes that take effect at the next epoch, in commit order."""

    validators: tuple[Validator, ...]
    pending: tuple[ValidatorChange, ...] = ()

    def encode(self) -> bytes:
        w = Writer().u8(3).u16(len(self.validators))
        for v in self.validators:
            w.text(v.org_id).fixed(v.bls_public_key, 48)
        w.u16(len(self.pending))
        for c in self.pending:
            w.u8(int(c.kind)).text(c.org_id).var(c.bls_public_key)
        return w.getvalue()

    @property
    def org_ids(self) -> frozenset[str]:
        return frozenset(v.org_id for v in self.validators)

    def next_validators(self) -> tuple[Validator, ...]:
        """The validator set the next epoch will have once the pending changes are applied."""
        current = {v.org_id: v for v in self.validators}
        for change in self.pending:
            if change.kind is ChangeKind.ADD:
                current[change.org_id] = Validator(change.org_id, change.bls_public_key)
            else:
                current.pop(change.org_id, None)
        return tuple(current[k] for k in sorted(current))


@dataclass(frozen=True)
class StatusRecord:
    """An on/off fact (template commitment, consent, sharing grant) and when it last changed."""

    active: bool
    height: int

    def encode(self) -> bytes:
        return Writer().u8(4).u8(int(self.active)).u64(self.height).getvalue()


@dataclass(frozen=True)
class Account:
    """An account holding integer minor units of one currency, owned by one organization.

    ``balance`` is the posted amount; ``held`` the sum of its active holds (reserved, not yet
    moved), so what it can spend is ``available = balance - held`` (never negative)."""

    account_id: str
    currency: str
    owner: str
    balance: int
    held: int = 0

    @property
    def available(self) -> int:
        return self.balance - self.held

    def encode(self) -> bytes:
        w = Writer().u8(5).text(self.account_id).text(self.currency).text(self.owner)
        return w.u64(self.balance).u64(self.held).getvalue()


@dataclass(frozen=True)
class Supply:
    """Total issued amount of one currency: always the sum of that currency's balances."""

    currency: str
    amount: int

    def encode(self) -> bytes:
        return Writer().u8(6).text(self.currency).u64(self.amount).getvalue()


@dataclass(frozen=True)
class AnchorRecord:
    """Who anchored a commitment first, and at which height."""

    org_id: str
    height: int

    def encode(self) -> bytes:
        return Writer().u8(7).text(self.org_id).u64(self.height).getvalue()


class HoldStatus(IntEnum):
    """A hold's life: active until it resolves exactly once (captured, voided or expired)."""

    ACTIVE = 1
    CAPTURED = 2
    VOIDED = 3
    EXPIRED = 4


@dataclass(frozen=True)
class Hold:
    """Funds reserved on ``from_account`` for ``to_account`` (two-phase transfer). ``sender``
    placed it; ``captured`` is the amount moved on capture (0 otherwise); ``resolved_height`` the
    height of the block that resolved it (0 while active). Resolved holds stay in the state, so
    a hold id is never reused and each hold's outcome can be read and proved."""

    hold_id: bytes
    sender: str
    from_account: str
    to_account: str
    currency: str
    amount: int
    expires_at_ms: int
    reference: bytes
    status: HoldStatus = HoldStatus.ACTIVE
    captured: int = 0
    resolved_height: int = 0

    def encode(self) -> bytes:
        w = Writer().u8(9).fixed(self.hold_id, 32).text(self.sender).text(self.from_account)
        w.text(self.to_account).text(self.currency).u64(self.amount).u64(self.expires_at_ms)
        w.fixed(self.reference, 32).u8(int(self.status)).u64(self.captured)
        return w.u64(self.resolved_height).getvalue()


@dataclass(frozen=True)
class ExpiryBucket:
    """The holds that expire within one ``HOLD_EXPIRY_BUCKET_MS`` window, as sorted
    ``(expires_at_ms, hold_id)`` pairs. Entries of holds resolved earlier are skipped (not removed)
    when the bucket falls due, so capture and void never rewrite it."""

    entries: tuple[tuple[int, bytes], ...]

    def encode(self) -> bytes:
        w = Writer().u8(10).u32(len(self.entries))
        for expires_at_ms, hold_id in self.entries:
            w.u64(expires_at_ms).fixed(hold_id, 32)
        return w.getvalue()


@dataclass(frozen=True)
class ExpiryIndex:
    """The numbers of the non-empty expiry buckets, ascending: a block reads it to find the buckets
    due at its timestamp without scanning the holds (its size is bounded by the longest hold
    duration over the bucket width)."""

    buckets: tuple[int, ...]

    def encode(self) -> bytes:
        w = Writer().u8(11).u32(len(self.buckets))
        for bucket in self.buckets:
            w.u64(bucket)
        return w.getvalue()


@dataclass(frozen=True)
class QuoteRecord:
    """A foreign-exchange quote consumed by a ``multi_transfer``: who issued it and when it was
    used. Its presence makes every later use of the same quote id a duplicate."""

    provider: str
    height: int

    def encode(self) -> bytes:
        return Writer().u8(12).text(self.provider).u64(self.height).getvalue()


class ReceiptStatus(StrEnum):
    COMMITTED = "committed"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Receipt:
    """The outcome of one transaction in a block. Receipts are not kept in the state map (that
    would grow it by one entry per transaction forever); each block's receipts are committed by
    ``ChainMeta.receipts_root`` instead, and the node stores them with the block. ``reason`` is
    human text and not committed: only the stable ``code`` is, so rewording a message can never
    fork validators running different versions."""

    tx_hash: bytes
    status: ReceiptStatus
    code: ErrorCode | None
    height: int
    index: int
    reason: str = field(default="", compare=False)

    def encode(self) -> bytes:
        w = Writer().u8(8).fixed(self.tx_hash, 32).flag(self.status is ReceiptStatus.COMMITTED)
        return w.text(self.code or "").u64(self.height).u32(self.index).getvalue()


RECEIPTS_DOMAIN = b"alliance-ledger/receipts/v1\x00"


def compute_receipts_root(receipts: Sequence[Receipt]) -> bytes:
    """SHA-256 over the block's receipts in order (each encoding is self-delimiting)."""
    body = Writer().u32(len(receipts)).getvalue() + b"".join(r.encode() for r in receipts)
    return hashlib.sha256(RECEIPTS_DOMAIN + body).digest()


class keys:  # lowercase: a namespace of key builders, read as ``keys.account(...)``
    """Key builders: one prefix byte per namespace, then canonical components."""

    META = b"m"
    VALIDATORS = b"v"

    @staticmethod
    def organization(org_id: str) -> bytes:
        return b"o" + Writer().text(org_id).getvalue()

    @staticmethod
    def account(account_id: str) -> bytes:
        return b"a" + Writer().text(account_id).getvalue()

    @staticmethod
    def supply(currency: str) -> bytes:
        return b"s" + Writer().text(currency).getvalue()

    @staticmethod
    def biometric(org_id: str, commitment: bytes) -> bytes:
        return b"b" + Writer().text(org_id).getvalue() + commitment

    @staticmethod
    def consent(org_id: str, commitment: bytes) -> bytes:
        return b"c" + Writer().text(org_id).getvalue() + commitment

    @staticmethod
    def grant(grantor: str, grantee: str, scope: bytes) -> bytes:
        return b"g" + Writer().text(grantor).text(grantee).getvalue() + scope

    @staticmethod
    def anchor(commitment: bytes) -> bytes:
        return b"n" + commitment

    EXPIRY_INDEX = b"x"

    @staticmethod
    def hold(hold_id: bytes) -> bytes:
        return b"h" + hold_id

    @staticmethod
    def expiry_bucket(bucket: int) -> bytes:
        return b"e" + Writer().u64(bucket).getvalue()

    @staticmethod
    def quote(quote_id: bytes) -> bytes:
        return b"q" + quote_id


class StateReader:
    """Typed read accessors shared by committed ``State`` snapshots and in-block contexts."""

    def _get(self, key: bytes) -> Record | None:
        raise NotImplementedError

    def _typed(self, key: bytes, kind: type[_T]) -> _T | None:
        value = self._get(key)
        if value is not None and not isinstance(value, kind):
            raise TypeError(f"state key {key!r} holds {type(value).__name__}, not {kind.__name__}")
        return value

    @property
    def meta(self) -> ChainMeta:
        meta = self._typed(keys.META, ChainMeta)
        if meta is None:
            raise LookupError("state without chain metadata")
        return meta

    @property
    def chain_id(self) -> str:
        return self.meta.chain_id

    @property
    def height(self) -> int:
        return self.meta.height

    @property
    def epoch(self) -> int:
        return self.meta.epoch

    @property
    def validators(self) -> ValidatorSet:
        record = self._typed(keys.VALIDATORS, ValidatorSet)
        if record is None:
            raise LookupError("state without a validator set")
        return record

    @property
    def validator_set(self) -> tuple[Validator, ...]:
        """The validators of the current epoch, sorted by org id."""
        return self.validators.validators

    @property
    def pending_validator_changes(self) -> tuple[ValidatorChange, ...]:
        """Committed changes that take effect when the consensus layer begins the next epoch."""
        return self.validators.pending

    def next_validator_set(self) -> tuple[Validator, ...]:
        return self.validators.next_validators()

    def organization(self, org_id: str) -> Organization | None:
        return self._typed(keys.organization(org_id), Organization)

    def next_nonce(self, org_id: str) -> int:
        """The nonce the organization's next transaction must carry (1 for its first)."""
        org = self.organization(org_id)
        return 1 if org is None else org.nonce + 1

    def account(self, account_id: str) -> Account | None:
        return self._typed(keys.account(account_id), Account)

    def supply(self, currency: str) -> int:
        record = self._typed(keys.supply(currency), Supply)
        return 0 if record is None else record.amount

    def biometric_commitment(self, org_id: str, commitment: bytes) -> StatusRecord | None:
        return self._typed(keys.biometric(org_id, commitment), StatusRecord)

    def consent(self, org_id: str, commitment: bytes) -> StatusRecord | None:
        return self._typed(keys.consent(org_id, commitment), StatusRecord)

    def grant(self, grantor: str, grantee: str, scope: bytes) -> StatusRecord | None:
        return self._typed(keys.grant(grantor, grantee, scope), StatusRecord)

    def anchor(self, commitment: bytes) -> AnchorRecord | None:
        return self._typed(keys.anchor(commitment), AnchorRecord)

    def hold(self, hold_id: bytes) -> Hold | None:
        return self._typed(keys.hold(hold_id), Hold)

    def expiry_index(self) -> ExpiryIndex | None:
        return self._typed(keys.EXPIRY_INDEX, ExpiryIndex)

    def expiry_bucket(self, number: int) -> ExpiryBucket | None:
        return self._typed(keys.expiry_bucket(number), ExpiryBucket)

    def quote(self, quote_id: bytes) -> QuoteRecord | None:
        return self._typed(keys.quote(quote_id), QuoteRecord)

    @property
    def timestamp_ms(self) -> int:
        """The header timestamp of the block that produced this state (0 at genesis)."""
        return self.meta.timestamp_ms

    @property
    def receipts_root(self) -> bytes:
        """Commitment to the receipts of the block that produced this state."""
        return self.meta.receipts_root


def iter_records(items: Iterator[tuple[bytes, Record]], kind: type[_T]) -> Iterator[_T]:
    """Filter an ``items()`` stream down to records of one type."""
    for _, value in items:
        if isinstance(value, kind):
            yield value
