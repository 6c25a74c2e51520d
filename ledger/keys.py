"""Organization Ed25519 signing keys, sealed at rest with AES-GCM.

The key-encryption key comes from ``ledger.conf.key_encryption_key()``. The associated data binds
a sealed key to its organization and public key, so a ciphertext copied onto another row does not
open. Private keys are decrypted only in the outbox worker, for the moment of signing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger import conf

__all__ = ["KeyUnsealError", "SealedKey", "generate", "open_key", "public_key_hex", "seal"]

_AAD_PREFIX = b"alliance-portal/org-key/v1\x00"


class KeyUnsealError(Exception):
    """A sealed key that does not open with the configured key-encryption key."""


@dataclass(frozen=True)
class SealedKey:
    """An encrypted private key and what is needed to open it."""

    public_key: str
    nonce: bytes
    ciphertext: bytes


def public_key_hex(private_key: Ed25519PrivateKey) -> str:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def _aad(organization_id: int, public_key: str) -> bytes:
    return _AAD_PREFIX + str(organization_id).encode() + b"\x00" + public_key.encode()


def generate() -> Ed25519PrivateKey:
    """A fresh signing key from the operating system's randomness."""
    return Ed25519PrivateKey.generate()


def seal(private_key: Ed25519PrivateKey, *, organization_id: int) -> SealedKey:
    """Encrypt ``private_key`` for storage on ``organization_id``'s row."""
    public_key = public_key_hex(private_key)
    nonce = os.urandom(12)
    raw = private_key.private_bytes_raw()
    ciphertext = AESGCM(conf.key_encryption_key()).encrypt(
        nonce, raw, _aad(organization_id, public_key)
    )
    return SealedKey(public_key, nonce, ciphertext)


def open_key(sealed: SealedKey, *, organization_id: int) -> Ed25519PrivateKey:
    """Decrypt a sealed key; ``KeyUnsealError`` when it was tampered with or the KEK changed."""
    try:
        raw = AESGCM(conf.key_encryption_key()).decrypt(
            sealed.nonce, sealed.ciphertext, _aad(organization_id, sealed.public_key)
        )
    except InvalidTag as exc:
        raise KeyUnsealError("organization key does not open with this key-encryption key") from exc
    key = Ed25519PrivateKey.from_private_bytes(raw)
    if public_key_hex(key) != sealed.public_key:
        raise KeyUnsealError("sealed key does not match its public key")
    return key
