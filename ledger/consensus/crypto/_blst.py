"""The ``blst`` backend: the ciphersuite built on pyblst's group primitives.

Private to ``ledger.consensus.crypto``: see the package docstring.
"""

from __future__ import annotations

import functools
from typing import Any, Final

from . import CIPHERSUITE, IDENTITY_PUBKEY, POP_TAG, BLSError
from ._common import _batch_coefficients, _Ciphersuite

# The compressed G1 generator (SkToPk(1)).
_G1_GENERATOR: Final = bytes.fromhex(
    "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
)
_DECODED_KEY_CACHE: Final = 4096
_HASHED_MESSAGE_CACHE: Final = 256


class _BlstBackend(_Ciphersuite):
    """The ciphersuite on blst's group operations (pyblst exposes primitives, not BLS).

    pyblst's ``uncompress`` always checks canonical encoding, curve and subgroup membership
    (cheap in blst), so every decoded point here is in its prime-order subgroup; the validated-key
    fast path therefore saves nothing on this backend and exists for interface parity.
    Verification is ``final_verify(miller_loop(pk, H(m)), miller_loop(g1, sig))``, i.e.
    e(pk, H(m)) == e(g1, sig).
    """

    name = "blst"

    def __init__(self) -> None:
        import pyblst

        self._p1: Any = pyblst.BlstP1Element
        self._p2: Any = pyblst.BlstP2Element
        self._miller_loop: Any = pyblst.miller_loop
        self._final_verify: Any = pyblst.final_verify
        self._g1: Any = self._p1.uncompress(_G1_GENERATOR)
        # Validator and aggregate keys recur every round: keep their decoded points (points are
        # immutable; lru_cache is thread-safe and never caches a failed decoding).
        self._decode_key: Any = functools.lru_cache(maxsize=_DECODED_KEY_CACHE)(self._p1.uncompress)
        # A replica hashes a signing root to G2 when it signs its vote, then again when it
        # verifies the quorum certificate over the same root: remembering the last few hashed
        # messages saves one of the two hash_to_group calls per block (~15-20% of its CPU).
        self._hash_point: Any = functools.lru_cache(maxsize=_HASHED_MESSAGE_CACHE)(
            self._p2.hash_to_group
        )

    def _key(self, pk: bytes) -> Any:
        if pk == IDENTITY_PUBKEY:
            raise BLSError("the identity is not a valid public key")
        return self._decode_key(pk)

    def _sk_to_pk(self, sk: int) -> bytes:
        return bytes(self._g1.scalar_mul(sk).compress())

    def _core_sign(self, sk: int, message: bytes, dst: bytes) -> bytes:
        return bytes(self._hash_point(message, dst).scalar_mul(sk).compress())

    def _sign(self, sk: int, message: bytes) -> bytes:
        return self._core_sign(sk, message, CIPHERSUITE)

    def _pop_prove(self, sk: int) -> bytes:
        return self._core_sign(sk, self._sk_to_pk(sk), POP_TAG)

    def _pairing_check(self, pairs: list[tuple[Any, bytes, bytes]], signature: Any) -> bool:
        """prod e(key_i, H(msg_i)) == e(g1, signature), with one final exponentiation."""
        left = None
        for key, message, dst in pairs:
            loop = self._miller_loop(key, self._hash_point(message, dst))
            left = loop if left is None else left * loop
        return bool(self._final_verify(left, self._miller_loop(self._g1, signature)))

    def _core_verify(self, pk: bytes, message: bytes, signature: bytes, dst: bytes) -> bool:
        key, sig = self._key(pk), self._p2.uncompress(signature)
        return self._pairing_check([(key, message, dst)], sig)

    def _verify(self, pk: bytes, message: bytes, signature: bytes) -> bool:
        return self._core_verify(pk, message, signature, CIPHERSUITE)

    def _pop_verify(self, pk: bytes, proof: bytes) -> bool:
        return self._core_verify(pk, pk, proof, POP_TAG)

    def _aggregate(self, signatures: list[bytes]) -> bytes:
        total = self._p2()  # the identity
        for signature in signatures:
            total = total + self._p2.uncompress(signature)
        return bytes(total.compress())

    def _fast_aggregate_verify(self, pks: list[bytes], message: bytes, signature: bytes) -> bool:
        total = self._p1()
        for pk in pks:
            total = total + self._key(pk)
        if total == self._p1():  # cancelling keys: the identity is not a valid key
            return False
        return self._pairing_check([(total, message, CIPHERSUITE)], self._p2.uncompress(signature))

    def _aggregate_verify(self, pks: list[bytes], messages: list[bytes], signature: bytes) -> bool:
        pairs = [
            (self._key(pk), message, CIPHERSUITE) for pk, message in zip(pks, messages, strict=True)
        ]
        return self._pairing_check(pairs, self._p2.uncompress(signature))

    def _key_validate(self, pk: bytes) -> bool:
        self._key(pk)
        return True

    def _aggregate_public_keys(self, pks: list[bytes]) -> bytes:
        total = self._p1()
        for pk in pks:
            total = total + self._decode_key(pk)
        return bytes(total.compress())

    def _verify_validated(self, pk: bytes, message: bytes, signature: bytes) -> bool:
        return self._verify(pk, message, signature)

    def _batch_verify(self, pks: list[bytes], messages: list[bytes], sigs: list[bytes]) -> bool:
        """Random linear combination: prod e(r_i pk_i, H(m_i)) == e(g1, sum r_i sig_i).

        n + 1 Miller loops and ONE final exponentiation instead of n of each.
        """
        if len(pks) == 1:
            return self._verify(pks[0], messages[0], sigs[0])
        coefficients = _batch_coefficients(pks, messages, sigs)
        pairs = []
        combined = self._p2()
        for pk, message, signature, r in zip(pks, messages, sigs, coefficients, strict=True):
            pairs.append((self._key(pk).scalar_mul(r), message, CIPHERSUITE))
            combined = combined + self._p2.uncompress(signature).scalar_mul(r)
        return self._pairing_check(pairs, combined)

    def _signature_validate(self, signature: bytes) -> bool:
        self._p2.uncompress(signature)
        return True

    def _point_validate_g1(self, data: bytes) -> bool:
        self._p1.uncompress(data)
        return True

    def _hash_to_g2(self, message: bytes, dst: bytes) -> bytes:
        return bytes(self._p2.hash_to_group(message, dst).compress())
