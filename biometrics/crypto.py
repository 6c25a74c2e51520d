"""Template encryption (per-subject data keys wrapped by a key-encryption key) and commitments.

- Each subject gets a random AES-256-GCM *data key*; templates and pending enrollment photos are
  sealed with it. The data key is stored only *wrapped* (sealed with the KEK, bound to the
  organization and subject ids as associated data). Erasure deletes the wrapped key:
  crypto-shredding, after which no copy of the ciphertext (a backup, a replica) can be opened.
- The KEK comes from ``settings.BIOMETRICS_KEK``, parsed by ``kernel.envelope`` (64 hex digits,
  or standard or urlsafe base64 of 32 bytes). Outside production a missing KEK is derived from
  ``SECRET_KEY`` (HKDF-SHA256, info ``alliance-portal/biometrics/dev-kek``) so the embedded
  default works; a malformed KEK, or a missing one in production, raises
  ``ImproperlyConfigured``. Sealing and opening are ``kernel.envelope``'s.
- Commitments written to the ledger are HMAC-SHA256 under a per-organization secret derived from
  the KEK, so members can later prove a fact (this consent, this template) without the ledger
  revealing anything, and one organization's commitments cannot be linked to another's.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from kernel.envelope import (
    KEY_SIZE,
    NONCE_SIZE,
    DecryptionFailed,
    Sealed,
    derive_key,
    generate_key,
    key_from_settings,
    open_sealed,
    seal,
)

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

_COMMITMENT_DOMAIN: Final = b"alliance-portal/biometrics/commitment/v1"
# The development KEK's HKDF info. Changing it would strand every template sealed in an existing
# development database, so it stays what it has always been.
_DEVELOPMENT_KEK_INFO: Final = b"alliance-portal/biometrics/dev-kek"


def get_kek() -> bytes:
    """The key-encryption key; see the module docstring for where it comes from."""
    return key_from_settings("BIOMETRICS_KEK", development_info=_DEVELOPMENT_KEK_INFO)


def generate_data_key() -> bytes:
    """A fresh random AES-256 key for one subject."""
    return generate_key()


def _wrap_aad(organization_id: int, subject_id: int) -> bytes:
    return b"subject-key|%d|%d" % (organization_id, subject_id)


def wrap_data_key(data_key: bytes, *, organization_id: int, subject_id: int) -> bytes:
    """``nonce || ciphertext`` of the data key under the KEK, bound to its subject."""
    sealed = seal(get_kek(), data_key, aad=_wrap_aad(organization_id, subject_id))
    return sealed.nonce + sealed.ciphertext


def unwrap_data_key(wrapped: bytes | memoryview, *, organization_id: int, subject_id: int) -> bytes:
    """The subject's data key; raises :class:`DecryptionFailed` if it cannot be unwrapped."""
    # A BinaryField reads back as memoryview on PostgreSQL, as bytes on SQLite.
    raw = bytes(wrapped)
    sealed = Sealed(nonce=raw[:NONCE_SIZE], ciphertext=raw[NONCE_SIZE:])
    return open_sealed(get_kek(), sealed, aad=_wrap_aad(organization_id, subject_id))


def get_probe_key(organization_id: int) -> bytes:
    """The per-organization key sealing a probe photo while it waits for a worker."""
    return derive_key(get_kek(), info=b"alliance-portal/biometrics/probe/%d" % organization_id)


def compute_commitment(organization_id: int, *parts: str | int) -> str:
    """Hex HMAC-SHA256 of ``parts`` under the organization's commitment secret (32 bytes).

    Parts are length-prefixed so ``("ab", "c")`` and ``("a", "bc")`` never collide.
    """
    secret = derive_key(get_kek(), info=b"%s/org/%d" % (_COMMITMENT_DOMAIN, organization_id))
    message = bytearray(_COMMITMENT_DOMAIN)
    for part in parts:
        encoded = str(part).encode()
        message += len(encoded).to_bytes(4, "big") + encoded
    return hmac.new(secret, bytes(message), hashlib.sha256).hexdigest()
