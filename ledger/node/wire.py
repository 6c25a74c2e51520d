"""Peer wire format: length-prefixed frames, frame kinds, and the identity handshake.

A frame is ``u32 length (big-endian) | payload`` with ``1 <= length <= max_frame``; the payload is
``u8 kind | body``:

- ``HELLO`` (0x10): ``u32 len + chain id | u32 validator index | nonce[32] | X25519 key[32]``,
  sent first by both sides (the key is ephemeral: one per connection);
- ``AUTH`` (0x11): a BLS signature (96 bytes) over ``compute_handshake_root(chain_id,
  verifier_nonce, signer_nonce, signer_index, verifier_key, signer_key)``: each side proves it
  holds the key of the index it claims, bound to the other side's fresh nonce (no replay), to the
  chain and to both ephemeral keys (no key substitution); ``channel.py`` derives the link keys;
- ``CONSENSUS`` (0x01): one consensus message (``ledger.consensus.encode``);
- ``TXS`` (0x02): ``u32 count | (u32 len + transaction)*``, mempool gossip.

HELLO and AUTH travel in the clear; every later frame is sealed (``channel.Session``).

Nothing here does I/O; ``transport.py`` runs it over asyncio streams.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "AUTH",
    "CONSENSUS",
    "HANDSHAKE_DOMAIN",
    "HELLO",
    "KEY_SIZE",
    "NONCE_SIZE",
    "TXS",
    "Hello",
    "ProtocolError",
    "compute_handshake_root",
    "decode_hello",
    "decode_txs",
    "encode_frame",
    "encode_hello",
    "encode_txs",
    "parse_frame_length",
]

CONSENSUS = 0x01
TXS = 0x02
HELLO = 0x10
AUTH = 0x11
NONCE_SIZE = 32
HANDSHAKE_DOMAIN = b"alliance-ledger/handshake/v2\x00"
KEY_SIZE = 32
_U32 = struct.Struct(">I")
_MAX_CHAIN_ID = 255
_MAX_TXS_PER_FRAME = 100_000


class ProtocolError(ValueError):
    """A peer sent bytes that break the wire format: it is disconnected."""


@dataclass(frozen=True)
class Hello:
    chain_id: bytes
    index: int
    nonce: bytes
    ephemeral: bytes


def encode_frame(kind: int, body: bytes) -> bytes:
    """``u32 length | kind | body``."""
    return _U32.pack(len(body) + 1) + bytes((kind,)) + body


def parse_frame_length(header: bytes, max_frame: int) -> int:
    """The payload length announced by a 4-byte frame header; ProtocolError if out of range."""
    length: int = _U32.unpack(header)[0]
    if not 1 <= length <= max_frame:
        raise ProtocolError(f"frame length {length} outside 1..{max_frame}")
    return length


def encode_hello(hello: Hello) -> bytes:
    if len(hello.nonce) != NONCE_SIZE or len(hello.ephemeral) != KEY_SIZE:
        raise ValueError("nonce and ephemeral key must be 32 bytes")
    return (
        _U32.pack(len(hello.chain_id))
        + hello.chain_id
        + _U32.pack(hello.index)
        + hello.nonce
        + hello.ephemeral
    )


def decode_hello(body: bytes) -> Hello:
    if len(body) < 4:
        raise ProtocolError("short HELLO")
    (size,) = _U32.unpack_from(body)
    if size > _MAX_CHAIN_ID or len(body) != 4 + size + 4 + NONCE_SIZE + KEY_SIZE:
        raise ProtocolError("malformed HELLO")
    chain_id = body[4 : 4 + size]
    (index,) = _U32.unpack_from(body, 4 + size)
    nonce = body[8 + size : 8 + size + NONCE_SIZE]
    return Hello(chain_id, index, nonce, body[8 + size + NONCE_SIZE :])


def compute_handshake_root(
    chain_id: bytes,
    verifier_nonce: bytes,
    signer_nonce: bytes,
    signer_index: int,
    verifier_key: bytes,
    signer_key: bytes,
) -> bytes:
    """What the signer signs: domain-separated from every consensus signing root."""
    return hashlib.sha256(
        HANDSHAKE_DOMAIN
        + _U32.pack(len(chain_id))
        + chain_id
        + verifier_nonce
        + signer_nonce
        + _U32.pack(signer_index)
        + verifier_key
        + signer_key
    ).digest()


def encode_txs(txs: Sequence[bytes]) -> bytes:
    return _U32.pack(len(txs)) + b"".join(_U32.pack(len(tx)) + tx for tx in txs)


def decode_txs(body: bytes) -> list[bytes]:
    if len(body) < 4:
        raise ProtocolError("short TXS")
    (count,) = _U32.unpack_from(body)
    if count > _MAX_TXS_PER_FRAME:
        raise ProtocolError("too many transactions in one frame")
    txs, offset = [], 4
    for _ in range(count):
        if offset + 4 > len(body):
            raise ProtocolError("truncated TXS")
        (size,) = _U32.unpack_from(body, offset)
        offset += 4
        if offset + size > len(body):
            raise ProtocolError("truncated TXS")
        txs.append(body[offset : offset + size])
        offset += size
    if offset != len(body):
        raise ProtocolError("trailing bytes in TXS")
    return txs
