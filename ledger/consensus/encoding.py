"""Canonical binary encoding primitives (docs/ledger.md, "Encoding").

Big-endian fixed-width integers, length-prefixed byte strings and sequences. There is exactly one
encoding per value: the reader rejects truncation, trailing bytes, out-of-range lengths and flags
other than 0/1, so ``decode(encode(x)) == x`` and ``encode(decode(b)) == b`` for every
accepted ``b``.
"""

from __future__ import annotations

from .errors import DecodeError

__all__ = ["MAX_ITEMS", "Reader", "Writer"]

#: Upper bound on any decoded sequence length or byte-string length; protects the decoder from
#: length fields that claim gigabytes (the real bound is the message size the transport accepts).
MAX_ITEMS = 1 << 24


class Writer:
    """Appends canonical fields to a buffer; raises ValueError for values that do not fit."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def uint(self, value: int, size: int) -> None:
        """An unsigned integer of ``size`` bytes, big-endian."""
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or not 0 <= value < 1 << (8 * size)
        ):
            raise ValueError(f"{value!r} is not an unsigned {8 * size}-bit integer")
        self._buffer += value.to_bytes(size, "big")

    def u8(self, value: int) -> None:
        self.uint(value, 1)

    def u32(self, value: int) -> None:
        self.uint(value, 4)

    def u64(self, value: int) -> None:
        self.uint(value, 8)

    def fixed(self, value: bytes, size: int) -> None:
        """Exactly ``size`` raw bytes (hashes)."""
        if not isinstance(value, bytes | bytearray) or len(value) != size:
            raise ValueError(f"expected {size} bytes")
        self._buffer += value

    def var(self, value: bytes) -> None:
        """A byte string prefixed by its u32 length."""
        if not isinstance(value, bytes | bytearray):
            raise ValueError("expected bytes")
        self.u32(len(value))
        self._buffer += value

    def flag(self, value: bool) -> None:
        self._buffer.append(1 if value else 0)

    def getvalue(self) -> bytes:
        return bytes(self._buffer)


class Reader:
    """Reads canonical fields; any deviation raises :class:`DecodeError`."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise DecodeError("expected bytes")
        self._data = bytes(data)
        self._pos = 0

    def _take(self, size: int) -> bytes:
        end = self._pos + size
        if end > len(self._data):
            raise DecodeError("truncated input")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def uint(self, size: int) -> int:
        return int.from_bytes(self._take(size), "big")

    def u8(self) -> int:
        return self.uint(1)

    def u32(self) -> int:
        return self.uint(4)

    def u64(self) -> int:
        return self.uint(8)

    def fixed(self, size: int) -> bytes:
        return self._take(size)

    def var(self) -> bytes:
        return self._take(self.count())

    def count(self) -> int:
        """A u32 length or item count, bounded by :data:`MAX_ITEMS`."""
        value = self.u32()
        if value > MAX_ITEMS:
            raise DecodeError("length field out of range")
        return value

    def flag(self) -> bool:
        value = self.u8()
        if value > 1:
            raise DecodeError("non-canonical flag")
        return value == 1

    def finish(self) -> None:
        """Reject trailing bytes (they would make a second encoding of the same value)."""
        if self._pos != len(self._data):
            raise DecodeError("trailing bytes")
