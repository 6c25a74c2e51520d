"""Field kinds of transaction payloads: one place that knows how each field type is checked,
written (canonical encoding) and read, and how it looks in JSON."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from ledger.consensus.encoding import Reader, Writer
from ledger.state.errors import malformed
from ledger.state.limits import (
    ACCOUNT_ID_PATTERN,
    CURRENCY_PATTERN,
    MAX_AMOUNT,
    SLUG_PATTERN,
    check_id,
)

__all__ = [
    "ACCOUNT",
    "AMOUNT",
    "BLS_POP_SIZE",
    "BLS_PUBLIC_KEY_SIZE",
    "COMMITMENT",
    "COMMITMENT_SIZE",
    "CURRENCY",
    "ED25519_KEY",
    "ED25519_PUBLIC_KEY_SIZE",
    "SIGNATURE_SIZE",
    "SLUG",
    "AmountField",
    "BytesField",
    "EnumField",
    "FieldKind",
    "TextField",
]

COMMITMENT_SIZE = 32
ED25519_PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
BLS_PUBLIC_KEY_SIZE = 48
BLS_POP_SIZE = 96


class TextField:
    """An ASCII identifier matching ``pattern`` (ids, currencies): u8 length + bytes."""

    def __init__(self, pattern: Any) -> None:
        self.pattern = pattern

    def check(self, value: object, what: str) -> None:
        check_id(value, self.pattern, what)

    def write(self, w: Writer, value: Any) -> None:
        w.text(value)

    def read(self, r: Reader, what: str) -> Any:
        return r.text(self.pattern, what)

    def to_json(self, value: Any) -> Any:
        return value

    def from_json(self, value: object, what: str) -> Any:
        return check_id(value, self.pattern, what)


class BytesField:
    """Exactly ``size`` raw bytes (commitments, keys); hex in JSON."""

    def __init__(self, size: int) -> None:
        self.size = size

    def check(self, value: object, what: str) -> None:
        if not isinstance(value, bytes) or len(value) != self.size:
            raise malformed(f"{what} must be exactly {self.size} bytes")

    def write(self, w: Writer, value: Any) -> None:
        w.fixed(value, self.size)

    def read(self, r: Reader, what: str) -> Any:
        return r.fixed(self.size)

    def to_json(self, value: Any) -> Any:
        return bytes(value).hex()

    def from_json(self, value: object, what: str) -> Any:
        try:
            raw = bytes.fromhex(value) if isinstance(value, str) else None
        except ValueError:
            raw = None
        if raw is None or len(raw) != self.size:
            raise malformed(f"{what} must be {self.size} bytes as hex")
        return raw


class AmountField:
    """An amount in minor units: a u64 in 1..MAX_AMOUNT."""

    def check(self, value: object, what: str) -> None:
        # bool is an int subclass; refusing it keeps True from becoming an amount of 1.
        if type(value) is not int or not 0 < value <= MAX_AMOUNT:
            raise malformed(f"{what} must be an integer in 1..{MAX_AMOUNT}")

    def write(self, w: Writer, value: Any) -> None:
        w.u64(value)

    def read(self, r: Reader, what: str) -> Any:
        value = r.u64()
        self.check(value, what)
        return value

    def to_json(self, value: Any) -> Any:
        return value

    def from_json(self, value: object, what: str) -> Any:
        self.check(value, what)
        return value


class EnumField:
    """A small IntEnum as one byte; its lower-case member name in JSON."""

    def __init__(self, enum: type[IntEnum]) -> None:
        self.enum = enum

    def check(self, value: object, what: str) -> None:
        if not isinstance(value, self.enum):
            raise malformed(f"{what} must be a {self.enum.__name__}")

    def write(self, w: Writer, value: Any) -> None:
        w.u8(int(value))

    def read(self, r: Reader, what: str) -> Any:
        raw = r.u8()
        try:
            return self.enum(raw)
        except ValueError:
            raise malformed(f"{what} {raw} is not a {self.enum.__name__}") from None

    def to_json(self, value: Any) -> Any:
        return self.enum(value).name.lower()

    def from_json(self, value: object, what: str) -> Any:
        members = {m.name.lower(): m for m in self.enum}
        if not isinstance(value, str) or value not in members:
            raise malformed(f"{what} must be one of {sorted(members)}")
        return members[value]


FieldKind = TextField | BytesField | AmountField | EnumField
SLUG = TextField(SLUG_PATTERN)
ACCOUNT = TextField(ACCOUNT_ID_PATTERN)
CURRENCY = TextField(CURRENCY_PATTERN)
COMMITMENT = BytesField(COMMITMENT_SIZE)
ED25519_KEY = BytesField(ED25519_PUBLIC_KEY_SIZE)
AMOUNT = AmountField()
