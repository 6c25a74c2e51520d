"""The one Ed25519 verification rule of the ledger (libsodium's; ADR 0004): it agrees with
OpenSSL on honest and tampered signatures, and refuses what OpenSSL wrongly accepts."""

from __future__ import annotations

import random

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.state.signing import verify_ed25519

# The group order of edwards25519 (RFC 8032, "L").
L = 2**252 + 27742317777372353535851937790883648493
IDENTITY = bytes([1]) + bytes(31)  # the neutral point (0, 1): a point of small order


def openssl_verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def test_it_agrees_with_openssl_on_honest_and_tampered_signatures() -> None:
    # given honest signatures and one-bit changes of their key, signature or message
    rng = random.Random(4)
    cases = []
    for i in range(60):
        key = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
        public = key.public_key().public_bytes_raw()
        message = rng.randbytes(32 + i)
        signature = key.sign(message)
        cases.append((public, signature, message))
        for part in range(3):
            parts = [bytearray(public), bytearray(signature), bytearray(message)]
            bit = rng.randrange(len(parts[part]) * 8)
            parts[part][bit // 8] ^= 1 << (bit % 8)
            cases.append((bytes(parts[0]), bytes(parts[1]), bytes(parts[2])))

    # when both verify each case, then they give the same answer, honest ones all valid
    answers = [(verify_ed25519(*c), openssl_verify(*c)) for c in cases]
    assert all(ours == theirs for ours, theirs in answers)
    assert sum(ours for ours, _ in answers) >= 60


def test_the_identity_key_cannot_sign_everything() -> None:
    # given the identity point as a public key, R = identity and S = 0
    forged = IDENTITY + bytes(32)
    # then OpenSSL accepts it for any message (why the ledger does not use OpenSSL's check)
    assert openssl_verify(IDENTITY, forged, b"transfer everything")
    # and the ledger's rule refuses it, for every message
    assert not verify_ed25519(IDENTITY, forged, b"transfer everything")
    assert not verify_ed25519(IDENTITY, forged, b"anything else")


def test_a_non_canonical_s_is_refused() -> None:
    # given a valid signature and the same one with S + L (same value mod L: malleable)
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    public, message = key.public_key().public_bytes_raw(), b"pay 10"
    signature = key.sign(message)
    s = int.from_bytes(signature[32:], "little") + L
    malleated = signature[:32] + s.to_bytes(32, "little")
    # then only the canonical one verifies
    assert verify_ed25519(public, signature, message)
    assert not verify_ed25519(public, malleated, message)


@pytest.mark.parametrize(
    ("public", "signature"),
    [(b"", bytes(64)), (bytes(31), bytes(64)), (bytes(32), bytes(63)), (bytes(33), bytes(65))],
)
def test_wrong_sizes_are_invalid_not_errors(public: bytes, signature: bytes) -> None:
    assert verify_ed25519(public, signature, b"m") is False
