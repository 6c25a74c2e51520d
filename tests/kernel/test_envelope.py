"""kernel.envelope: one key parser, one development derivation, AES-GCM bound to its row."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.core.exceptions import ImproperlyConfigured

from kernel import envelope

KEY = bytes(range(32))


@pytest.mark.parametrize(
    "written",
    [
        KEY.hex(),
        KEY.hex().upper(),
        base64.b64encode(KEY).decode(),
        base64.b64encode(KEY).decode().rstrip("="),
        base64.urlsafe_b64encode(KEY).decode(),
        base64.urlsafe_b64encode(KEY).decode().rstrip("="),
        f"  {KEY.hex()}\n",
    ],
)
def test_it_accepts_hex_and_both_base64_alphabets(written: str) -> None:
    assert envelope.parse_key(written, setting="SOME_KEK") == KEY


def test_urlsafe_and_standard_base64_give_the_same_key_when_their_alphabets_differ() -> None:
    # given a key whose base64 contains the characters the two alphabets spell differently
    key = b"\xfb\xff" * 16
    standard, urlsafe = base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode()
    assert "/" in standard and "_" in urlsafe
    # then both spellings parse to it
    assert envelope.parse_key(standard, setting="K") == envelope.parse_key(urlsafe, setting="K")
    assert envelope.parse_key(urlsafe, setting="K") == key


@pytest.mark.parametrize(
    "written",
    [
        "",
        "abc",
        "00" * 16,  # 16 bytes
        "00" * 33,  # 33 bytes
        "zz" * 32,  # 64 characters, not hex
        base64.b64encode(bytes(31)).decode(),
        base64.b64encode(bytes(33)).decode(),
        base64.b64encode(KEY).decode() + "=",
        "+/" + base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode()[2:],  # both alphabets
        base64.b64encode(KEY).decode()[:-2] + "!=",
    ],
)
def test_anything_else_is_refused_naming_the_setting(written: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"^SOME_KEK must be 32 bytes"):
        envelope.parse_key(written, setting="SOME_KEK")


def test_a_configured_key_is_parsed_and_a_missing_one_is_derived_per_purpose(
    settings: Any,
) -> None:
    # given a configured key, then none outside production, then none in production
    settings.SOME_KEK, settings.PRODUCTION = KEY.hex(), False
    configured = envelope.key_from_settings("SOME_KEK", development_info=b"one")
    settings.SOME_KEK = None
    one = envelope.key_from_settings("SOME_KEK", development_info=b"one")
    two = envelope.key_from_settings("SOME_KEK", development_info=b"two")
    settings.PRODUCTION = True
    with pytest.raises(ImproperlyConfigured, match="SOME_KEK must be set in production"):
        envelope.key_from_settings("SOME_KEK", development_info=b"one")
    # then the development key is HKDF-SHA256 of SECRET_KEY, distinct per purpose
    expected = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"one").derive(
        settings.SECRET_KEY.encode()
    )
    assert configured == KEY
    assert one == expected and one == envelope.derive_development_key(info=b"one")
    assert two != one


def test_a_sealed_secret_opens_only_with_its_key_and_its_associated_data() -> None:
    # given a secret sealed for row 1
    key, other = envelope.generate_key(), envelope.generate_key()
    sealed = envelope.seal(key, b"secret", aad=b"row|1")
    tampered = envelope.Sealed(sealed.nonce, sealed.ciphertext[:-1] + b"\x00")
    # then only the same key and associated data open it, untampered
    assert envelope.open_sealed(key, sealed, aad=b"row|1") == b"secret"
    assert b"secret" not in sealed.ciphertext and len(sealed.nonce) == envelope.NONCE_SIZE
    wrong = [(other, sealed, b"row|1"), (key, sealed, b"row|2"), (key, tampered, b"row|1")]
    for wrong_key, wrong_sealed, wrong_aad in wrong:
        with pytest.raises(envelope.DecryptionFailed):
            envelope.open_sealed(wrong_key, wrong_sealed, aad=wrong_aad)


def test_two_seals_of_one_secret_use_fresh_nonces() -> None:
    key = envelope.generate_key()
    first, second = (envelope.seal(key, b"same", aad=b"a") for _ in range(2))
    assert first.nonce != second.nonce and first.ciphertext != second.ciphertext
