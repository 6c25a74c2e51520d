"""Organization Ed25519 signing keys, sealed at rest with AES-GCM (``kernel.envelope``).

The key-encryption key is ``settings.LEDGER_KEY_ENCRYPTION_KEY`` (32 bytes as 64 hex digits or
base64). It is required in production; elsewhere a development key is derived from
``SECRET_KEY`` with HKDF-SHA256 (info ``alliance-portal/ledger/dev-kek``). The associated data
binds a sealed key to its organization and public key, so a ciphertext copied onto another row
does not open. Private keys are decrypted only in the outbox worker, for the moment of signing.

Development databases created before the HKDF derivation hold keys sealed under
SHA-256(``alliance-ledger/dev-kek/v1`` NUL ``SECRET_KEY``). Outside production, and only while
no key-encryption key is configured, ``open_key`` falls back to that legacy key so those
databases keep signing; a configured (production) key is never combined with a fallback.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings

from kernel import envelope

__all__ = [
    "KeyUnsealError",
    "SealedKey",
    "generate",
    "key_encryption_key",
    "open_key",
    "public_key_hex",
    "seal",
]

_SETTING: Final = "LEDGER_KEY_ENCRYPTION_KEY"
_DEVELOPMENT_KEK_INFO: Final = b"alliance-portal/ledger/dev-kek"
_LEGACY_DEVELOPMENT_KEK_PREFIX: Final = b"alliance-ledger/dev-kek/v1\x00"
_AAD_PREFIX: Final = b"alliance-portal/org-key/v1\x00"


def key_encryption_key() -> bytes:
    """The 32-byte AES-GCM key wrapping organization signing keys (module docstring)."""
    return envelope.key_from_settings(_SETTING, development_info=_DEVELOPMENT_KEK_INFO)


def _keys_for_opening() -> list[bytes]:
    keys = [key_encryption_key()]
    if not getattr(settings, _SETTING, None) and not getattr(settings, "PRODUCTION", False):
        # Development only: keys sealed before the HKDF derivation (module docstring).
        legacy = _LEGACY_DEVELOPMENT_KEK_PREFIX + settings.SECRET_KEY.encode()
        keys.append(hashlib.sha256(legacy).digest())
    return keys


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
    sealed = envelope.seal(
        key_encryption_key(),
        private_key.private_bytes_raw(),
        aad=_aad(organization_id, public_key),
    )
    return SealedKey(public_key, sealed.nonce, sealed.ciphertext)


def open_key(sealed: SealedKey, *, organization_id: int) -> Ed25519PrivateKey:
    """Decrypt a sealed key; ``KeyUnsealError`` when it was tampered with or the KEK changed."""
    ciphertext = envelope.Sealed(sealed.nonce, sealed.ciphertext)
    aad = _aad(organization_id, sealed.public_key)
    for kek in _keys_for_opening():
        try:
            raw = envelope.open_sealed(kek, ciphertext, aad=aad)
        except envelope.DecryptionFailed:
            continue
        break
    else:
        raise KeyUnsealError("organization key does not open with this key-encryption key")
    key = Ed25519PrivateKey.from_private_bytes(raw)
    if public_key_hex(key) != sealed.public_key:
        raise KeyUnsealError("sealed key does not match its public key")
    return key
