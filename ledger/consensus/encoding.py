"""The one canonical binary encoding of the ledger (docs/ledger.md, "Encoding").

Consensus values (blocks, certificates, messages) and the state machine (transactions, state
records, snapshots) are written and read with these two classes, so a field has the same bytes
wherever it appears: big-endian fixed-width integers, raw fixed-size byte strings (hashes, keys),
u32-length-prefixed byte strings and sequences, short ASCII identifiers with a one-byte length,
flag bytes, and bounded lists (``seq``: a u32 item count, then the items). There is exactly one
encoding per value: the reader rejects truncation, trailing bytes, out-of-range lengths and flags
other than 0/1, so ``decode(encode(x)) == x`` and ``encode(decode(b)) == b`` for every accepted
``b``.

Every decoding failure raises :class:`~ledger.consensus.errors.DecodeError` and nothing else;
``ledger.state`` turns it into its ``malformed`` door code where a transaction or snapshot is
decoded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from .errors import DecodeError

_T = TypeVar("_T")

__all__ = ["MAX_ITEMS", "DecodeError", "Reader", "Writer"]

#: Upper bound on any decoded sequence length or byte-string length; protects the decoder from
#: length fields that claim gigabytes (the real bound is the message size the transport accepts).
MAX_ITEMS = 1 << 24


class Writer:
    """Appends canonical fields to a buffer; raises ValueError for values that do not fit.

    Every method returns the writer, so a record can be written as one chained expression.
    """

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def uint(self, value: int, size: int) -> Writer:
        """An unsigned integer of ``size`` bytes, big-endian."""
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or not 0 <= value < 1 << (8 * size)
        ):
            raise ValueError(f"{value!r} is not an unsigned {8 * size}-bit integer")
        self._buffer += value.to_bytes(size, "big")
        return self

    def u8(self, value: int) -> Writer:
        return self.uint(value, 1)

    def u16(self, value: int) -> Writer:
        return self.uint(value, 2)

    def u32(self, value: int) -> Writer:
        return self.uint(value, 4)

    def u64(self, value: int) -> Writer:
        return self.uint(value, 8)

    def fixed(self, value: bytes, size: int) -> Writer:
        """Exactly ``size`` raw bytes (hashes, keys)."""
        if not isinstance(value, bytes | bytearray) or len(value) != size:
            raise ValueError(f"expected {size} bytes")
        self._buffer += value
        return self

    def var(self, value: bytes) -> Writer:
        """A byte string prefixed by its u32 length."""
        if not isinstance(value, bytes | bytearray):
            raise ValueError("expected bytes")
        self.u32(len(value))
        self._buffer += value
        return self

    def text(self, value: str) -> Writer:
        """A short ASCII identifier (at most 255 bytes) prefixed by its u8 length."""
        raw = value.encode("ascii")
        self.u8(len(raw))
        self._buffer += raw
        return self

    def flag(self, value: bool) -> Writer:
        self._buffer.append(1 if value else 0)
        return self

    def seq(
        self, items: Sequence[_T], write: Callable[[Writer, _T], object], max_items: int
    ) -> Writer:
        """A list: its u32 item count, then each item written by ``write`` (at most ``max_items``:
        the reader refuses longer lists, so the writer must never produce one)."""
        if len(items) > max_items:
            raise ValueError(f"{len(items)} items exceeds {max_items}")
        self.u32(len(items))
        for item in items:
            write(self, item)
        return self

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

    def u16(self) -> int:
        return self.uint(2)

    def u32(self) -> int:
        return self.uint(4)

    def u64(self) -> int:
        return self.uint(8)

    def fixed(self, size: int) -> bytes:
        return self._take(size)

    def var(self, max_size: int = MAX_ITEMS) -> bytes:
        """A u32-length-prefixed byte string of at most ``max_size`` bytes."""
        size = self.count()
        if size > max_size:
            raise DecodeError(f"byte string of {size} bytes exceeds {max_size}")
        return self._take(size)

    def text(self, pattern: re.Pattern[str], what: str) -> str:
        """A u8-length-prefixed ASCII identifier that must fully match ``pattern``."""
        raw = self._take(self.u8())
        try:
            value = raw.decode("ascii")
        except UnicodeDecodeError:
            raise DecodeError(f"{what} is not ASCII") from None
        if pattern.fullmatch(value) is None:
            raise DecodeError(f"{what} {value!r} does not match {pattern.pattern}")
        return value

    def count(self) -> int:
        """A u32 length or item count, bounded by :data:`MAX_ITEMS`."""
        value = self.u32()
        if value > MAX_ITEMS:
            raise DecodeError("length field out of range")
        return value

    def seq(self, read: Callable[[Reader], _T], max_items: int) -> tuple[_T, ...]:
        """A list written by ``Writer.seq``: a u32 count (at most ``max_items``), then items."""
        count = self.u32()
        if count > max_items:
            raise DecodeError(f"list of {count} items exceeds {max_items}")
        return tuple(read(self) for _ in range(count))

    def flag(self) -> bool:
        value = self.u8()
        if value > 1:
            raise DecodeError("non-canonical flag")
        return value == 1

    def finish(self) -> None:
        """Reject trailing bytes (they would make a second encoding of the same value)."""
        if self._pos != len(self._data):
            raise DecodeError(f"{len(self._data) - self._pos} trailing bytes")
