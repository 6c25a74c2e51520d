"""State snapshots: serialise a whole state and load it back, checked against a trusted root.

A validator stores a snapshot of its committed state so a restart does not replay from genesis,
and a lagging validator can fetch one from a peer: ``decode_snapshot(data, expected_root=...)``
with the state root of a certified block header accepts it only if it rebuilds exactly that root.

Format: ``MAGIC | u32 count | (u16 len + key | u32 len + record)*`` with keys strictly ascending.
"""

from __future__ import annotations

from collections.abc import Callable

from ledger.consensus.encoding import DecodeError, Reader, Writer
from ledger.state.errors import InvalidTransaction, LedgerStateError, malformed
from ledger.state.execution import PopVerifier
from ledger.state.limits import ACCOUNT_ID_PATTERN, CURRENCY_PATTERN, SLUG_PATTERN
from ledger.state.records import (
    Account,
    AnchorRecord,
    ChainMeta,
    ChangeKind,
    ExpiryBucket,
    ExpiryIndex,
    Hold,
    HoldStatus,
    Organization,
    QuoteRecord,
    StatusRecord,
    Supply,
    Validator,
    ValidatorChange,
    ValidatorSet,
)
from ledger.state.state import State
from ledger.state.store import MerkleMap, Record

__all__ = ["InvalidSnapshot", "decode_snapshot", "encode_snapshot"]

MAGIC = b"alliance-ledger/snapshot/v1\x00"
_MAX_RECORD_BYTES = 1 << 20


class InvalidSnapshot(LedgerStateError):
    """A snapshot that is malformed or does not rebuild the expected state root."""


def encode_snapshot(state: State) -> bytes:
    """Every (key, record) of ``state`` in ascending key order."""
    entries = list(state.store.items())
    w = Writer().u32(len(entries))
    for key, record in entries:
        w.u16(len(key)).fixed(key, len(key)).var(record.encode())
    return MAGIC + w.getvalue()


def decode_snapshot(data: bytes, *, expected_root: bytes, pop_verify: PopVerifier) -> State:
    """Rebuild a state; ``InvalidSnapshot`` unless it is canonical and has ``expected_root``."""
    if not data.startswith(MAGIC):
        raise InvalidSnapshot("not a state snapshot")
    try:
        r = Reader(data[len(MAGIC) :])
        writes: dict[bytes, Record | None] = {}
        previous = b""
        for _ in range(r.u32()):
            key = r.fixed(r.u16())
            if key <= previous:
                raise malformed("snapshot keys are not strictly ascending")
            previous = key
            writes[key] = decode_record(r.var(_MAX_RECORD_BYTES))
        r.finish()
    except DecodeError as exc:
        raise InvalidSnapshot(str(exc)) from exc
    except InvalidTransaction as exc:
        raise InvalidSnapshot(exc.reason) from exc
    state = State(MerkleMap().updated(writes), pop_verify)
    if state.root != expected_root:
        raise InvalidSnapshot(
            f"snapshot root {state.root.hex()} is not the expected {expected_root.hex()}"
        )
    return state


def _meta(r: Reader) -> ChainMeta:
    return ChainMeta(r.text(SLUG_PATTERN, "chain_id"), r.u64(), r.u64(), r.fixed(32), r.u64())


def _organization(r: Reader) -> Organization:
    return Organization(r.text(SLUG_PATTERN, "org_id"), r.fixed(32), r.u64())


def _validator_set(r: Reader) -> ValidatorSet:
    validators = tuple(
        Validator(r.text(SLUG_PATTERN, "org_id"), r.fixed(48)) for _ in range(r.u16())
    )
    pending = []
    for _ in range(r.u16()):
        raw_kind = r.u8()
        if raw_kind not in (ChangeKind.ADD, ChangeKind.REMOVE):
            raise malformed(f"unknown validator change kind {raw_kind}")
        pending.append(
            ValidatorChange(ChangeKind(raw_kind), r.text(SLUG_PATTERN, "org_id"), r.var(48))
        )
    return ValidatorSet(validators, tuple(pending))


def _status(r: Reader) -> StatusRecord:
    active = r.u8()
    if active not in (0, 1):
        raise malformed("status flag is not 0 or 1")
    return StatusRecord(bool(active), r.u64())


def _account(r: Reader) -> Account:
    return Account(
        r.text(ACCOUNT_ID_PATTERN, "account_id"),
        r.text(CURRENCY_PATTERN, "currency"),
        r.text(SLUG_PATTERN, "owner"),
        r.u64(),
        r.u64(),
    )


def _hold(r: Reader) -> Hold:
    hold_id, sender = r.fixed(32), r.text(SLUG_PATTERN, "sender")
    from_account, to_account = (r.text(ACCOUNT_ID_PATTERN, "account_id") for _ in range(2))
    currency, amount, expires_at_ms = r.text(CURRENCY_PATTERN, "currency"), r.u64(), r.u64()
    reference, raw_status = r.fixed(32), r.u8()
    if raw_status not in {status.value for status in HoldStatus}:
        raise malformed(f"unknown hold status {raw_status}")
    return Hold(
        hold_id, sender, from_account, to_account, currency, amount, expires_at_ms, reference,
        HoldStatus(raw_status), r.u64(), r.u64(),
    )  # fmt: skip


def _expiry_bucket(r: Reader) -> ExpiryBucket:
    return ExpiryBucket(tuple((r.u64(), r.fixed(32)) for _ in range(r.count())))


def _expiry_index(r: Reader) -> ExpiryIndex:
    return ExpiryIndex(tuple(r.u64() for _ in range(r.count())))


def _quote(r: Reader) -> QuoteRecord:
    return QuoteRecord(r.text(SLUG_PATTERN, "provider"), r.u64())


def _supply(r: Reader) -> Supply:
    return Supply(r.text(CURRENCY_PATTERN, "currency"), r.u64())


def _anchor(r: Reader) -> AnchorRecord:
    return AnchorRecord(r.text(SLUG_PATTERN, "org_id"), r.u64())


# Keyed by the tag byte each record's ``encode`` starts with (records.py).
_DECODERS: dict[int, Callable[[Reader], Record]] = {
    1: _meta,
    2: _organization,
    3: _validator_set,
    4: _status,
    5: _account,
    6: _supply,
    7: _anchor,
    9: _hold,
    10: _expiry_bucket,
    11: _expiry_index,
    12: _quote,
}


def decode_record(data: bytes) -> Record:
    """Decode one state record; raise ``InvalidTransaction(malformed)`` if it is not canonical."""
    try:
        r = Reader(data)
        tag = r.u8()
        decoder = _DECODERS.get(tag)
        if decoder is None:
            raise malformed(f"unknown record tag {tag}")
        record = decoder(r)
        r.finish()
    except DecodeError as exc:
        raise malformed(str(exc)) from exc
    if record.encode() != data:
        raise malformed("non-canonical record encoding")
    return record
