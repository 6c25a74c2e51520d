"""A cheap, INSECURE signature backend for the simulator only (name ``"insecure-sim"``).

!!! NOT A SIGNATURE SCHEME. NEVER USE OUTSIDE THE SIMULATOR. !!!

Why it exists: the 1,000-seed CI runs of the simulator would take hours with py_ecc (Sign about
0.1 s, Verify about 0.26 s) and minutes even with blst. The replica only needs the *algebra* of
BLS: a signature checks against a public key, signatures aggregate, public keys aggregate, and a
wrong or random signature is detected. This module keeps exactly that algebra but replaces the
pairing-friendly curve by the additive group of integers modulo a prime ``P``:

- ``pk = sk * G mod P``                 (G a fixed generator derived by hashing)
- ``sig = sk * H(msg) mod P``           (H hashes the message into ``Z_P``)
- ``Verify``: ``sig * G == pk * H(msg) (mod P)``; this equality plays the role of the pairing check
  ``e(sig, g1) == e(H(msg), pk)``.
- ``Aggregate`` is the sum of signatures, ``AggregatePublicKeys`` the sum of public keys, so
  ``FastAggregateVerify`` recomputes the expected aggregate from the signer set.

It is insecure because discrete logarithms in ``(Z_P, +)`` are a single modular division: anyone
who sees ``pk`` recovers ``sk = pk / G``. That does not matter inside the simulator, whose Byzantine
validators only ever sign with their own keys; what matters is that a corrupted, random or
wrong-message signature fails verification (with probability about ``1 - 1/P``), which is what the
honest replicas' rejection paths are tested against.

The encodings keep the real sizes (48-byte public keys, 96-byte signatures) so that message
encodings and sizes are unchanged: a public key is the 48-byte big-endian residue, a signature is
the 48-byte residue followed by a fixed 48-byte marker (so random bytes fail to decode).

This backend is deliberately not reachable through ``ledger.consensus.crypto.backend()`` nor the
``LEDGER_BLS_BACKEND`` setting: only the simulator constructs it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from ledger.consensus.crypto import BLSError

__all__ = ["INSECURE_SIM_NAME", "InsecureSimBackend", "insecure_sim_backend"]

INSECURE_SIM_NAME = "insecure-sim"

# The BLS12-381 base-field modulus: a 381-bit prime, so residues fit the 48-byte key encoding.
P = int(
    "1A0111EA397FE69A4B1BA7B6434BACD764774B84F38512BF"
    "6730D2A0F6B0F6241EABFFFEB153FFFFB9FEFFFFFFFFAAAB",
    16,
)
_KEY_SIZE = 48
_SIGNATURE_SIZE = 96
_MARKER = b"INSECURE-SIM-SIGNATURE-NOT-FOR-PRODUCTION-USE!!!"
_DST_SIGN = b"INSECURE_SIM_SIG_" + b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
_DST_POP = b"INSECURE_SIM_POP_" + b"BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"


def _hash_to_field(dst: bytes, message: bytes) -> int:
    """Map bytes to a non-zero residue mod P (64 hash bytes, so the bias is negligible)."""
    prefix = len(dst).to_bytes(2, "big") + dst
    wide = hashlib.sha256(prefix + b"\x00" + message).digest()
    wide += hashlib.sha256(prefix + b"\x01" + message).digest()
    return int.from_bytes(wide, "big") % (P - 1) + 1


_G = _hash_to_field(b"INSECURE_SIM_GENERATOR", b"")


def _encode_key(value: int) -> bytes:
    return value.to_bytes(_KEY_SIZE, "big")


def _decode_key(pk: bytes) -> int | None:
    """The residue of a public key, or None when malformed or the identity (zero)."""
    if not isinstance(pk, bytes | bytearray) or len(pk) != _KEY_SIZE:
        return None
    value = int.from_bytes(pk, "big")
    if value == 0 or value >= P:
        return None
    return value


def _encode_signature(value: int) -> bytes:
    return value.to_bytes(_KEY_SIZE, "big") + _MARKER


def _decode_signature(signature: bytes) -> int | None:
    """The residue of a signature, or None when it is not a canonical encoding."""
    if not isinstance(signature, bytes | bytearray) or len(signature) != _SIGNATURE_SIZE:
        return None
    if bytes(signature[_KEY_SIZE:]) != _MARKER:
        return None
    value = int.from_bytes(signature[:_KEY_SIZE], "big")
    if value >= P:
        return None
    return value


def _verify(dst: bytes, pk: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is ``pk``'s signature over ``message`` under domain ``dst``."""
    key = _decode_key(pk)
    sig = _decode_signature(signature)
    if key is None or sig is None:
        return False
    return sig * _G % P == key * _hash_to_field(dst, bytes(message)) % P


def _sum(items: Sequence[bytes], decode: Callable[[bytes], int | None], one: str, many: str) -> int:
    """The sum of decoded keys or signatures; BLSError when empty or one is malformed."""
    if len(items) == 0:
        raise BLSError(f"cannot aggregate an empty list of {many}")
    total = 0
    for item in items:
        value = decode(item)
        if value is None:
            raise BLSError(f"malformed {one}")
        total += value
    return total % P


class InsecureSimBackend:
    """The ``Backend`` protocol of ``ledger.consensus.crypto`` over ``(Z_P, +)``; see module doc."""

    name: str = INSECURE_SIM_NAME

    def SkToPk(self, sk: int) -> bytes:
        """Public key of a secret key; raises BLSError for a key outside ``1..P-1``."""
        if not isinstance(sk, int) or sk <= 0 or sk % P == 0:
            raise BLSError("secret key must be a positive integer")
        return _encode_key(sk * _G % P)

    def Sign(self, sk: int, message: bytes) -> bytes:
        """``sk * H(message)``."""
        if not isinstance(sk, int) or sk <= 0 or sk % P == 0:
            raise BLSError("secret key must be a positive integer")
        return _encode_signature(sk * _hash_to_field(_DST_SIGN, bytes(message)) % P)

    def Verify(self, pk: bytes, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is ``pk``'s signature over ``message``."""
        return _verify(_DST_SIGN, pk, message, signature)

    def Aggregate(self, signatures: Sequence[bytes]) -> bytes:
        """Sum of the signatures; raises BLSError when empty or one is malformed."""
        return _encode_signature(_sum(signatures, _decode_signature, "signature", "signatures"))

    def FastAggregateVerify(self, pks: Sequence[bytes], message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is the aggregate of all ``pks`` signing the same ``message``."""
        if len(pks) == 0:
            return False
        total = 0
        for pk in pks:
            key = _decode_key(pk)
            if key is None:
                return False
            total += key
        return self._check(total % P, message, signature)

    def AggregateVerify(
        self, pks: Sequence[bytes], messages: Sequence[bytes], signature: bytes
    ) -> bool:
        """True when ``signature`` aggregates ``pks[i]`` signing ``messages[i]`` for every i."""
        if len(pks) == 0 or len(pks) != len(messages):
            return False
        sig = _decode_signature(signature)
        if sig is None:
            return False
        expected = 0
        for pk, message in zip(pks, messages, strict=True):
            key = _decode_key(pk)
            if key is None:
                return False
            expected += key * _hash_to_field(_DST_SIGN, bytes(message))
        return sig * _G % P == expected % P

    def KeyValidate(self, pk: bytes) -> bool:
        """True for a canonical, non-identity public key."""
        return _decode_key(pk) is not None

    def PopProve(self, sk: int) -> bytes:
        """Proof of possession: ``sk * H_pop(pk)`` under a separate domain tag."""
        pk = self.SkToPk(sk)
        return _encode_signature(sk * _hash_to_field(_DST_POP, pk) % P)

    def PopVerify(self, pk: bytes, proof: bytes) -> bool:
        """True when ``proof`` proves possession of ``pk``'s secret key."""
        return _verify(_DST_POP, pk, pk, proof)

    def AggregatePublicKeys(self, pks: Sequence[bytes]) -> bytes:
        """Sum of already-validated public keys; raises BLSError when empty or malformed."""
        return _encode_key(_sum(pks, _decode_key, "public key", "public keys"))

    def VerifyWithValidatedKey(self, pk: bytes, message: bytes, signature: bytes) -> bool:
        """``Verify`` for a key validated earlier (here the same cost: nothing to skip)."""
        key = _decode_key(pk)
        if key is None:
            return False
        return self._check(key, message, signature)

    @staticmethod
    def _check(key: int, message: bytes, signature: bytes) -> bool:
        sig = _decode_signature(signature)
        if sig is None or key == 0:
            return False
        return sig * _G % P == key * _hash_to_field(_DST_SIGN, bytes(message)) % P


_SINGLETON = InsecureSimBackend()


def insecure_sim_backend() -> InsecureSimBackend:
    """The one shared instance (stateless, like the real backends' cached singletons)."""
    return _SINGLETON
