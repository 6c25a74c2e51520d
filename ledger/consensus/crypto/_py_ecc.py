"""The ``py_ecc`` backend: the reference, plus accelerations of its validated-key fast paths.

Private to ``ledger.consensus.crypto``: see the package docstring ("Validated-key fast path").
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, Final

from . import CIPHERSUITE, POP_TAG, BLSError
from ._common import _Ciphersuite

_BLS_X: Final = 0xD201000000010000  # |u|; the curve parameter is u = -0xd201000000010000
#: Hashed signing roots kept (a replica signs a vote root, then verifies the QC over that root).
_HASHED_MESSAGE_CACHE: Final = 1024


class _PyEccBackend(_Ciphersuite):
    """The reference: IETF operations delegate to ``py_ecc.bls.G2ProofOfPossession``.

    ``Aggregate`` additionally subgroup-checks each signature (py_ecc only decodes them) so that
    both backends accept and reject exactly the same inputs; the fast paths use py_ecc's
    lower-level functions plus the accelerations below (see the package docstring).
    """

    name = "py_ecc"

    def __init__(self) -> None:
        # Imported here so that choosing blst never pays for importing py_ecc.
        from eth_utils.exceptions import ValidationError
        from py_ecc import optimized_bls12_381 as curve
        from py_ecc.bls import g2_primitives, hash_to_curve
        from py_ecc.bls.ciphersuites import G2ProofOfPossession
        from py_ecc.fields import optimized_bls12_381_FQ2 as FQ2
        from py_ecc.fields import optimized_bls12_381_FQ12 as FQ12
        from py_ecc.optimized_bls12_381.optimized_pairing import exp_by_p

        # py_ecc signals some malformed input with assert or its own ValidationError.
        self._failures = (*_Ciphersuite._failures, AssertionError, ValidationError)
        self._pop: Any = G2ProofOfPossession
        self._curve: Any = curve
        self._points: Any = g2_primitives
        self._h2c: Any = hash_to_curve
        self._fq2: Any = FQ2
        self._fq12: Any = FQ12
        # psi(x, y) = (conj(x) / xi^((p-1)/3), conj(y) / xi^((p-1)/2)), xi = 1 + i (the twist).
        xi, p = FQ2([1, 1]), self._curve.field_modulus
        self._psi_x: Any = FQ2.one() / xi ** ((p - 1) // 3)
        self._psi_y: Any = FQ2.one() / xi ** ((p - 1) // 2)
        # f -> f^(p^k) is linear over Fp: tabulate the images of the basis w^i once.
        basis = [FQ12([0] * i + [1] + [0] * (11 - i)) for i in range(12)]
        self._frobenius_tables: dict[int, list[Any]] = {}
        images = basis
        for k in range(1, 7):
            images = [exp_by_p(image) for image in images]
            self._frobenius_tables[k] = images
        # Points are immutable tuples of field elements; a failed hash is never cached.
        self._hash_ciphersuite: Any = functools.lru_cache(maxsize=_HASHED_MESSAGE_CACHE)(
            lambda message: self._hash_point(message, CIPHERSUITE)
        )

    # ---- accelerations of the fast paths; each is checked against py_ecc's plain version in
    # tests/ledger/consensus/test_crypto.py and by the conformance vectors.

    def _psi(self, point: Any) -> Any:
        """The untwist-Frobenius-twist endomorphism of E'(Fp2), in projective coordinates."""
        x, y, z = point
        fq2 = self._fq2
        return (
            fq2([x.coeffs[0], -x.coeffs[1]]) * self._psi_x,
            fq2([y.coeffs[0], -y.coeffs[1]]) * self._psi_y,
            fq2([z.coeffs[0], -z.coeffs[1]]),
        )

    def _in_g2(self, point: Any) -> bool:
        """G2 membership by Scott's test psi(P) == [u]P, u = -0xd201000000010000 (the BLS
        parameter); equivalent to [r]P == O on BLS12-381 and ~6x cheaper in py_ecc."""
        c = self._curve
        return bool(c.eq(self._psi(point), c.multiply(c.neg(point), _BLS_X)))

    def _clear_cofactor(self, point: Any) -> Any:
        """h_eff * P by Budroni-Pintore (RFC 9380, appendix G.3): the same point as py_ecc's
        multiplication by the 636-bit h_eff, with two 64-bit multiplications (~7x cheaper)."""
        c = self._curve
        t1 = c.neg(c.multiply(point, _BLS_X))  # [u]P
        t2 = self._psi(point)
        t3 = c.add(self._psi(self._psi(c.double(point))), c.neg(t2))
        t2 = c.neg(c.multiply(c.add(t1, t2), _BLS_X))
        return c.add(c.add(c.add(t3, t2), c.neg(t1)), c.neg(point))

    def _hash_point(self, message: bytes, dst: bytes) -> Any:
        h2c = self._h2c
        u0, u1 = h2c.hash_to_field_FQ2(message, 2, dst, hashlib.sha256)
        q = self._curve.add(h2c.map_to_curve_G2(u0), h2c.map_to_curve_G2(u1))
        return self._clear_cofactor(q)

    def _frobenius(self, f: Any, k: int) -> Any:
        table = self._frobenius_tables[k]
        return sum((image * int(a) for image, a in zip(table, f.coeffs, strict=True)), f.zero())

    def _conjugate(self, f: Any) -> Any:
        return self._frobenius(f, 6)

    def _hard_final_exponentiation(self, f: Any) -> Any:
        """f^(3(p^12-1)/r): the pairing's final exponentiation, cubed.

        Easy part f^((p^6-1)(p^2+1)) with Frobenius tables; hard part by Hayashida-Hayasaka-
        Teruya (2020): 3(p^4-p^2+1)/r = (u-1)^2 (u+p)(u^2+p^2-1) + 3, so five exponentiations
        by |u| (64 bits) replace py_ecc's 1268-bit one (~5x cheaper). In the cyclotomic
        subgroup, inversion is f^(p^6), so negative powers of u cost nothing extra.
        """
        conj = self._conjugate
        g = conj(f) / f
        g = self._frobenius(g, 2) * g
        a = conj(g**_BLS_X * g)  # g^(u-1)
        a = conj(a**_BLS_X * a)  # g^((u-1)^2)
        b = conj(a**_BLS_X) * self._frobenius(a, 1)  # a^(u+p)
        c = (b**_BLS_X) ** _BLS_X * self._frobenius(b, 2) * conj(b)  # b^(u^2+p^2-1)
        return c * g * g * g

    def _is_one_after_final_exponentiation(self, f: Any) -> bool:
        # Cubing is a bijection of the order-r target group (3 is prime to r), so this is the
        # pairing check e(...) == 1.
        return bool(self._hard_final_exponentiation(f) == self._fq12.one())

    def _decode_g2(self, signature: bytes) -> Any:
        point = self._points.signature_to_G2(signature)
        if not self._in_g2(point):
            raise BLSError("signature is not in the G2 subgroup")
        return point

    def _sk_to_pk(self, sk: int) -> bytes:
        return bytes(self._pop.SkToPk(sk))

    def _sign(self, sk: int, message: bytes) -> bytes:
        """``sk * H(message)``: py_ecc's ``Sign`` with the accelerated, cached hash to G2 (the
        same point: ``_hash_point`` is checked against py_ecc's ``hash_to_G2``)."""
        c = self._curve
        return bytes(self._points.G2_to_signature(c.multiply(self._hash_ciphersuite(message), sk)))

    def _verify(self, pk: bytes, message: bytes, signature: bytes) -> bool:
        """py_ecc's ``Verify``: ``KeyValidate`` (py_ecc's), then the accelerated pairing check."""
        return self._key_validate(pk) and self._verify_validated(pk, message, signature)

    def _pop_prove(self, sk: int) -> bytes:
        return bytes(self._pop.PopProve(sk))

    def _pop_verify(self, pk: bytes, proof: bytes) -> bool:
        """py_ecc's ``PopVerify``: ``KeyValidate``, then the accelerated pairing check of the
        proof over the key's encoding under the ``POP_TAG`` domain."""
        if not self._key_validate(pk):
            return False
        return self._pairing_check(pk, self._hash_point(pk, POP_TAG), proof)

    def _aggregate(self, signatures: list[bytes]) -> bytes:
        total = self._curve.Z2
        for signature in signatures:
            total = self._curve.add(total, self._decode_g2(signature))
        return bytes(self._points.G2_to_signature(total))

    def _fast_aggregate_verify(self, pks: list[bytes], message: bytes, signature: bytes) -> bool:
        return bool(self._pop.FastAggregateVerify(pks, message, signature))

    def _aggregate_verify(self, pks: list[bytes], messages: list[bytes], signature: bytes) -> bool:
        return bool(self._pop.AggregateVerify(pks, messages, signature))

    def _key_validate(self, pk: bytes) -> bool:
        return bool(self._pop.KeyValidate(pk))

    def _aggregate_public_keys(self, pks: list[bytes]) -> bytes:
        total = self._curve.Z1
        for pk in pks:
            total = self._curve.add(total, self._points.pubkey_to_G1(pk))
        return bytes(self._points.G1_to_pubkey(total))

    def _verify_validated(self, pk: bytes, message: bytes, signature: bytes) -> bool:
        return self._pairing_check(pk, self._hash_ciphersuite(message), signature)

    def _pairing_check(self, pk: bytes, hashed: Any, signature: bytes) -> bool:
        """e(sig, g1) == e(H, pk) with one shared final exponentiation; ``pk`` is decoded (on
        the curve, canonical) but not re-checked for the subgroup: callers validated it."""
        c = self._curve
        key = self._points.pubkey_to_G1(pk)
        sig = self._decode_g2(signature)
        product = c.pairing(sig, c.G1, final_exponentiate=False) * c.pairing(
            hashed, c.neg(key), final_exponentiate=False
        )
        return self._is_one_after_final_exponentiation(product)

    def _batch_verify(self, pks: list[bytes], messages: list[bytes], sigs: list[bytes]) -> bool:
        # The slow reference: one Verify per triple is simplest and obviously correct.
        return all(self._verify(*triple) for triple in zip(pks, messages, sigs, strict=True))

    def _signature_validate(self, signature: bytes) -> bool:
        point = self._points.signature_to_G2(signature)
        return bool(self._points.subgroup_check(point))

    def _point_validate_g1(self, data: bytes) -> bool:
        point = self._points.pubkey_to_G1(data)
        return bool(self._points.subgroup_check(point))

    def _hash_to_g2(self, message: bytes, dst: bytes) -> bytes:
        return bytes(self._points.G2_to_signature(self._hash_point(message, dst)))
