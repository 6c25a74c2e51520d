"""Canonical binary encoding shared by transactions and state records.

Every value has exactly one encoding: fixed-width big-endian integers, length-prefixed byte strings,
ASCII identifiers checked against a pattern, no optional padding, no trailing bytes.
``Reader`` raises ``InvalidTransaction(malformed)`` on anything else, so decoding doubles as
validation. ``Transaction.decode`` also re-encodes and compares, as a belt-and-braces check.
"""

from __future__ import annotations

import re
import struct

from ledger.state.errors import ErrorCode, InvalidTransaction

__all__ = [
    "ACCOUNT_ID_PATTERN",
    "CURRENCY_PATTERN",
    "MAX_AMOUNT",
    "MAX_U64",
    "SLUG_PATTERN",
    "Reader",
    "Writer",
    "check_id",
    "malformed",
]

MAX_U64 = 2**64 - 1
# Amounts and balances stay within a signed 64-bit integer so every database can mirror them.
MAX_AMOUNT = 2**63 - 1

# Organization ids and chain ids: Django-slug-shaped, lowercase ASCII only (no Unicode folding).
SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# Account ids also allow '.' and ':' so the portal can namespace them ("acme:eur-main").
ACCOUNT_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._:-]{0,63}")
# ISO-4217-shaped: three uppercase ASCII letters.
CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def malformed(reason: str) -> InvalidTransaction:
    """Build the error every encoding and structure check raises."""
    return InvalidTransaction(ErrorCode.MALFORMED, reason)


def check_id(value: object, pattern: re.Pattern[str], what: str) -> str:
    """Return ``value`` if it is a string fully matching ``pattern``, else raise malformed."""
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise malformed(f"{what} {value!r} does not match {pattern.pattern}")
    return value


class Writer:
    """Appends canonical fields to a byte buffer."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def u8(self, value: int) -> Writer:
        self._parts.append(bytes((value,)))
        return self

    def u16(self, value: int) -> Writer:
        self._parts.append(_U16.pack(value))
        return self

    def u32(self, value: int) -> Writer:
        self._parts.append(_U32.pack(value))
        return self

    def u64(self, value: int) -> Writer:
        self._parts.append(_U64.pack(value))
        return self

    def fixed(self, value: bytes, size: int) -> Writer:
        if len(value) != size:
            raise malformed(f"expected {size} bytes, got {len(value)}")
        self._parts.append(bytes(value))
        return self

    def var_bytes(self, value: bytes) -> Writer:
        self._parts.append(_U32.pack(len(value)))
        self._parts.append(bytes(value))
        return self

    def text(self, value: str) -> Writer:
        # Identifiers are pattern-checked ASCII of at most 64 characters: one length byte.
        raw = value.encode("ascii")
        self._parts.append(bytes((len(raw),)))
        self._parts.append(raw)
        return self

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class Reader:
    """Reads canonical fields, raising ``InvalidTransaction(malformed)`` on any deviation."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = bytes(data)
        self._pos = 0

    def _take(self, size: int) -> bytes:
        end = self._pos + size
        if end > len(self._data):
            raise malformed("truncated input")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def u8(self) -> int:
        return self._take(1)[0]

    def u16(self) -> int:
        return int(_U16.unpack(self._take(2))[0])

    def u32(self) -> int:
        return int(_U32.unpack(self._take(4))[0])

    def u64(self) -> int:
        return int(_U64.unpack(self._take(8))[0])

    def fixed(self, size: int) -> bytes:
        return self._take(size)

    def var_bytes(self, max_size: int) -> bytes:
        size = self.u32()
        if size > max_size:
            raise malformed(f"byte string of {size} bytes exceeds {max_size}")
        return self._take(size)

    def text(self, pattern: re.Pattern[str], what: str) -> str:
        raw = self._take(self.u8())
        try:
            value = raw.decode("ascii")
        except UnicodeDecodeError:
            raise malformed(f"{what} is not ASCII") from None
        return check_id(value, pattern, what)

    def done(self) -> None:
        """Raise unless every byte was consumed (trailing bytes make an encoding non-canonical)."""
        if self._pos != len(self._data):
            raise malformed(f"{len(self._data) - self._pos} trailing bytes")
