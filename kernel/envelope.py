"""Envelope encryption: secrets sealed with AES-256-GCM under a key-encryption key (KEK).

One key parser, one development-key derivation and one seal/open pair for every app that keeps a
secret at rest (biometrics wraps per-subject data keys, the ledger wraps organizations' Ed25519
signing keys).

- A KEK setting holds 32 bytes as 64 hex digits, or as standard or urlsafe base64 (padding
  optional). Anything else raises ``ImproperlyConfigured`` naming the setting, so a typo fails at
  the first use instead of sealing data under a key nobody can reproduce.
- Without the setting, production refuses (``ImproperlyConfigured``); development and tests derive
  a key with HKDF-SHA256 from ``SECRET_KEY``, with an ``info`` distinct per purpose so the apps
  never share a key. The derived key is stable across restarts of one checkout and worthless
  without its ``SECRET_KEY``.
- ``seal`` binds the ciphertext to associated data (whose row it belongs to): a ciphertext copied
  onto another row does not open.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from kernel.patterns import HEX_DIGEST_ANY_CASE

__all__ = [
    "KEY_SIZE",
    "NONCE_SIZE",
    "DecryptionFailed",
    "Sealed",
    "derive_development_key",
    "derive_key",
    "generate_key",
    "key_from_settings",
    "open_sealed",
    "parse_key",
    "seal",
]

KEY_SIZE: Final = 32
NONCE_SIZE: Final = 12

# Both base64 alphabets; 32 bytes are 43 characters before the optional padding.
_BASE64_KEY: Final = re.compile(r"[A-Za-z0-9+/_-]{43}=?")


class DecryptionFailed(Exception):
    """A ciphertext could not be opened: wrong or destroyed key, or tampered data."""


@dataclass(frozen=True)
class Sealed:
    """An AES-GCM ciphertext with its nonce."""

    nonce: bytes
    ciphertext: bytes


def parse_key(raw: str, *, setting: str) -> bytes:
    """The 32 bytes written in ``raw`` (64 hex digits or base64); ``setting`` names it in errors."""
    text = raw.strip()
    problem = f"{setting} must be 32 bytes as 64 hex digits or base64 (standard or urlsafe)"
    if HEX_DIGEST_ANY_CASE.fullmatch(text):
        return bytes.fromhex(text)
    mixed_alphabets = bool(set(text) & set("+/")) and bool(set(text) & set("-_"))
    if not _BASE64_KEY.fullmatch(text) or mixed_alphabets:
        raise ImproperlyConfigured(problem)
    standard = text.replace("-", "+").replace("_", "/").rstrip("=") + "="
    try:
        key = base64.b64decode(standard, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured(problem) from exc
    if len(key) != KEY_SIZE:
        raise ImproperlyConfigured(problem)
    return key


def derive_key(secret: bytes, *, info: bytes) -> bytes:
    """A 32-byte subkey of ``secret`` for the purpose named by ``info`` (HKDF-SHA256, no salt)."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=info).derive(secret)


def derive_development_key(*, info: bytes) -> bytes:
    """The development stand-in for a KEK: HKDF-SHA256 of ``SECRET_KEY`` under ``info``."""
    return derive_key(settings.SECRET_KEY.encode(), info=info)


def key_from_settings(setting: str, *, development_info: bytes) -> bytes:
    """The KEK in ``settings.<setting>``; outside production a missing one is derived.

    Production without the setting raises ``ImproperlyConfigured``: data sealed under a key
    derived from ``SECRET_KEY`` would be lost with it.
    """
    raw = getattr(settings, setting, None)
    if raw:
        return parse_key(str(raw), setting=setting)
    if getattr(settings, "PRODUCTION", False):
        raise ImproperlyConfigured(f"{setting} must be set in production")
    return derive_development_key(info=development_info)


def generate_key() -> bytes:
    """A fresh random AES-256 key."""
    return AESGCM.generate_key(bit_length=8 * KEY_SIZE)


def seal(key: bytes, plaintext: bytes, *, aad: bytes) -> Sealed:
    """Encrypt and authenticate ``plaintext`` bound to ``aad`` (who/what it belongs to)."""
    nonce = os.urandom(NONCE_SIZE)
    return Sealed(nonce=nonce, ciphertext=AESGCM(key).encrypt(nonce, plaintext, aad))


def open_sealed(key: bytes, sealed: Sealed, *, aad: bytes) -> bytes:
    """Decrypt ``sealed``; raises :class:`DecryptionFailed` on a wrong key, aad or tampering."""
    try:
        return AESGCM(key).decrypt(bytes(sealed.nonce), bytes(sealed.ciphertext), aad)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionFailed("ciphertext cannot be opened with this key") from exc
