"""Sealed validator links: the keys a handshake agrees on and the frames that follow it.

The handshake (``transport.py`` drives it, ``wire.py`` encodes it) is a signed ephemeral
Diffie-Hellman exchange:

1. both sides send HELLO: chain id, validator index, a fresh 32-byte nonce and a fresh X25519
   public key;
2. both sides send AUTH: a BLS signature (their validator key) over ``compute_handshake_root``,
   which binds the chain, both nonces, the signer's index and BOTH ephemeral keys, so a
   man-in-the-middle can neither replay an old AUTH nor substitute its own key;
3. each side derives two ChaCha20-Poly1305 keys (one per direction) with HKDF-SHA256 from the
   X25519 shared secret, salted with both HELLOs in index order (``derive_session``).

After AUTH every frame is sealed: ``u32 length | ChaCha20-Poly1305(key, nonce, kind || body,
aad = the length header)`` where the nonce is ``4 zero bytes || u64 frame counter`` of that
direction (0, 1, 2, ...). A frame that does not open (tampered with, injected, replayed, dropped
or reordered) is a ``ProtocolError``: the link closes and is re-established with fresh keys.
Ephemeral keys give forward secrecy: a validator key stolen later does not open recorded traffic.
"""

from __future__ import annotations

import hashlib
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .wire import Hello, ProtocolError, encode_hello

__all__ = ["TAG_SIZE", "Session", "derive_session"]

TAG_SIZE = 16
_SESSION_DOMAIN = b"alliance-ledger/link/v1\x00"
_U32 = struct.Struct(">I")
_NONCE = struct.Struct(">4xQ")
_MAX_COUNTER = 2**64 - 1


class Session:
    """One link's sealing state: a key and a frame counter per direction. The writer of a link
    calls ``seal`` and its reader ``open``; each in frame order (TCP keeps it)."""

    __slots__ = ("_open", "_received", "_seal", "_sent")

    def __init__(self, send_key: bytes, receive_key: bytes) -> None:
        self._seal = ChaCha20Poly1305(send_key)
        self._open = ChaCha20Poly1305(receive_key)
        self._sent = 0
        self._received = 0

    def seal(self, kind: int, body: bytes) -> bytes:
        """The sealed frame ``u32 length | ciphertext+tag`` of ``kind || body``."""
        if self._sent >= _MAX_COUNTER:
            raise ProtocolError("frame counter exhausted: reconnect")
        header = _U32.pack(1 + len(body) + TAG_SIZE)
        sealed = self._seal.encrypt(_NONCE.pack(self._sent), bytes((kind,)) + body, header)
        self._sent += 1
        return header + sealed

    def open(self, header: bytes, payload: bytes) -> tuple[int, bytes]:
        """(kind, body) of the next received frame; ``ProtocolError`` if it does not open."""
        try:
            plain = self._open.decrypt(_NONCE.pack(self._received), payload, header)
        except InvalidTag:
            raise ProtocolError("a frame failed authentication") from None
        self._received += 1
        if not plain:
            raise ProtocolError("empty sealed frame")
        return plain[0], plain[1:]


def derive_session(
    *, private_key: X25519PrivateKey, own: Hello, peer: Hello, own_index: int
) -> Session:
    """The session both sides of an authenticated handshake compute (``peer.ephemeral`` must be
    the key the peer's verified AUTH signature covers). ``ProtocolError`` for an unusable key."""
    try:
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(peer.ephemeral))
    except ValueError:  # a low-order point gives an all-zero secret: refused by OpenSSL
        raise ProtocolError("peer's ephemeral key is unusable") from None
    low, high = (own, peer) if own_index < peer.index else (peer, own)
    salt = hashlib.sha256(_SESSION_DOMAIN + encode_hello(low) + encode_hello(high)).digest()
    keys = HKDF(algorithm=hashes.SHA256(), length=64, salt=salt, info=_SESSION_DOMAIN).derive(
        shared
    )
    low_to_high, high_to_low = keys[:32], keys[32:]
    if own_index < peer.index:
        return Session(send_key=low_to_high, receive_key=high_to_low)
    return Session(send_key=high_to_low, receive_key=low_to_high)
