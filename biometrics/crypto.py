"""Template encryption (per-subject data keys wrapped by a key-encryption key) and commitments.

- Each subject gets a random AES-256-GCM *data key*; templates and pending enrollment photos are
  sealed with it. The data key is stored only *wrapped* (sealed with the KEK, bound to the
  organization and subject ids as associated data). Erasure deletes the wrapped key:
  crypto-shredding, after which no copy of the ciphertext (a backup, a replica) can be opened.
- The KEK comes from ``settings.BIOMETRICS_KEK`` (64 hex characters or urlsafe base64 of 32
  bytes). Outside production a missing KEK is derived from ``SECRET_KEY`` so the embedded
  default works; in production a missing or malformed KEK refuses to start
  (``ImproperlyConfigured``).
- Commitments written to the ledger are HMAC-SHA256 under a per-organization secret derived from
  the KEK, so members can later prove a fact (this consent, this template) without the ledger
  revealing anything, and one organization's commitments cannot be linked to another's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "KEY_SIZE",
    "NONCE_SIZE",
    "DecryptionFailed",
    "Sealed",
    "compute_commitment",
    "generate_data_key",
    "get_kek",
    "get_probe_key",
    "open_sealed",
    "seal",
    "unwrap_data_key",
    "wrap_data_key",
]

KEY_SIZE: Final = 32
NONCE_SIZE: Final = 12
_COMMITMENT_DOMAIN: Final = b"alliance-portal/biometrics/commitment/v1"


class DecryptionFailed(Exception):
    """A ciphertext could not be opened: wrong or destroyed key, or tampered data."""


@dataclass(frozen=True)
class Sealed:
    """An AES-GCM ciphertext with its nonce."""

    nonce: bytes
    ciphertext: bytes


def _hkdf(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=info).derive(secret)


def _parse_kek(raw: str) -> bytes:
    raw = raw.strip()
    if len(raw) == 2 * KEY_SIZE:
        try:
            return bytes.fromhex(raw)
        except ValueError:
            pass
    try:
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured("BIOMETRICS_KEK must be 32 bytes as hex or base64") from exc
    if len(key) != KEY_SIZE:
        raise ImproperlyConfigured("BIOMETRICS_KEK must be 32 bytes as hex or base64")
    return key


def get_kek() -> bytes:
    """The key-encryption key; see the module docstring for where it comes from."""
    raw = getattr(settings, "BIOMETRICS_KEK", None)
    if raw:
        return _parse_kek(str(raw))
    if getattr(settings, "PRODUCTION", False):
        raise ImproperlyConfigured("BIOMETRICS_KEK must be set in production")
    # Development and tests only: stable across restarts, useless without SECRET_KEY.
    return _hkdf(settings.SECRET_KEY.encode(), b"alliance-portal/biometrics/dev-kek")


def generate_data_key() -> bytes:
    """A fresh random AES-256 key for one subject."""
    return AESGCM.generate_key(bit_length=256)


def seal(key: bytes, plaintext: bytes, *, aad: bytes) -> Sealed:
    """Encrypt and authenticate ``plaintext`` bound to ``aad`` (who/what it belongs to)."""
    nonce = os.urandom(NONCE_SIZE)
    return Sealed(nonce=nonce, ciphertext=AESGCM(key).encrypt(nonce, plaintext, aad))


def open_sealed(key: bytes, sealed: Sealed, *, aad: bytes) -> bytes:
    """Decrypt ``sealed``; raises :class:`DecryptionFailed` on a wrong key or tampering."""
    try:
        return AESGCM(key).decrypt(bytes(sealed.nonce), bytes(sealed.ciphertext), aad)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionFailed("ciphertext cannot be opened with this key") from exc


def _wrap_aad(organization_id: int, subject_id: int) -> bytes:
    return b"subject-key|%d|%d" % (organization_id, subject_id)


def wrap_data_key(data_key: bytes, *, organization_id: int, subject_id: int) -> bytes:
    """``nonce || ciphertext`` of the data key under the KEK, bound to its subject."""
    sealed = seal(get_kek(), data_key, aad=_wrap_aad(organization_id, subject_id))
    return sealed.nonce + sealed.ciphertext


def unwrap_data_key(wrapped: bytes, *, organization_id: int, subject_id: int) -> bytes:
    """The subject's data key; raises :class:`DecryptionFailed` if it cannot be unwrapped."""
    wrapped = bytes(wrapped)
    sealed = Sealed(nonce=wrapped[:NONCE_SIZE], ciphertext=wrapped[NONCE_SIZE:])
    return open_sealed(get_kek(), sealed, aad=_wrap_aad(organization_id, subject_id))


def get_probe_key(organization_id: int) -> bytes:
    """The per-organization key sealing a probe photo while it waits for a worker."""
    return _hkdf(get_kek(), b"alliance-portal/biometrics/probe/%d" % organization_id)


def compute_commitment(organization_id: int, *parts: str | int) -> str:
    """Hex HMAC-SHA256 of ``parts`` under the organization's commitment secret (32 bytes).

    Parts are length-prefixed so ``("ab", "c")`` and ``("a", "bc")`` never collide.
    """
    secret = _hkdf(get_kek(), b"%s/org/%d" % (_COMMITMENT_DOMAIN, organization_id))
    message = bytearray(_COMMITMENT_DOMAIN)
    for part in parts:
        encoded = str(part).encode()
        message += len(encoded).to_bytes(4, "big") + encoded
    return hmac.new(secret, bytes(message), hashlib.sha256).hexdigest()
