"""BLS signatures for the ledger: one facade, two interchangeable backends.

Ciphersuite
    ``BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`` (IETF draft-irtf-cfrg-bls-signature, the one
    Ethereum uses): BLS12-381, public keys in G1 (48-byte compressed), signatures in G2 (96-byte
    compressed), messages hashed to G2 with SHA-256 expand_message_xmd + SSWU, and rogue-key
    attacks prevented by a *proof of possession* (``PopProve``/``PopVerify``, separate DST
    ``BLS_POP_...``), which is what makes ``FastAggregateVerify`` (same message, many keys) safe.
    Operations keep their IETF names and work on bytes; only secret keys are ints (1 <= sk < r).

Backends (``backend(name)``, cached singletons)
    ``"py_ecc"``  the reference: ``py_ecc.bls.G2ProofOfPossession`` (pure Python, ~0.1 s Sign,
                  ~0.26 s Verify). The IETF operations delegate to it unchanged.
    ``"blst"``    the fast path: the supranational blst library through pyblst's group primitives
                  (compress/uncompress, hash_to_group, scalar_mul, miller_loop, final_verify), on
                  which this module builds the same ciphersuite (~1 ms Verify). Byte-identical
                  to py_ecc; both pass the Ethereum conformance vectors
                  (tests/ledger/test_bls_vectors.py).
    ``backend()`` with no name reads ``LEDGER_BLS_BACKEND`` (``auto`` = blst when importable,
    else py_ecc; ``py_ecc``; ``blst``). Anything else raises ``BLSError``. Beyond ``Backend``,
    both offer ``BatchVerify`` (catch-up), ``SignatureValidate``, ``PointValidateG1`` and
    ``hash_to_G2`` (conformance vectors): the ``BLSBackend`` protocol.

Malformed input
    Verify-style operations (``Verify``, ``*AggregateVerify``, ``KeyValidate``, ``PopVerify``,
    ``BatchVerify``, ...) return ``False`` for any malformed input (wrong type or length, not on
    the curve, not in the subgroup, non-canonical flags, x >= p, identity public key). Operations
    that must produce bytes (``SkToPk``, ``Sign``, ``Aggregate``, ``AggregatePublicKeys``,
    ``PopProve``, ``KeyGen``) raise ``BLSError``. No other exception crosses this boundary.

Cost discipline (ARCHITECTURE.md, Ledger)
    Pairings dominate: validate every validator key once, at admission (``KeyValidate`` +
    ``PopVerify``); cache decoded and aggregate keys; check a quorum certificate with ONE
    verification of the aggregate signature against the cached aggregate key; search for a bad
    signer only when that fails. Never run py_ecc on a web request thread.

Validated-key fast path
    ``AggregatePublicKeys(pks)`` sums keys without re-validating them and
    ``VerifyWithValidatedKey(pk, msg, sig)`` skips the public-key subgroup check (py_ecc: a
    scalar multiplication by r, ~10 ms per key). This is safe *only* for keys that passed
    ``KeyValidate`` + ``PopVerify`` when they joined the validator set (the sum of subgroup points
    stays in the subgroup, and PoP rules out rogue keys). The identity is still rejected, since
    two colluding validators with keys pk and -pk (both with valid PoPs) would otherwise aggregate
    to the identity, which "verifies" the identity signature on any message. The signature is
    always fully checked (on curve, in G2). On py_ecc the fast paths (and ``Aggregate``) also use
    three standard accelerations of py_ecc's own arithmetic, each tested equal to py_ecc's plain
    version: G2 membership by psi(P) == [u]P (Scott, ePrint 2021/1130; blst does the same),
    cofactor clearing by Budroni-Pintore (RFC 9380 G.3) and the final exponentiation's hard part
    by Hayashida-Hayasaka-Teruya (2020). ``VerifyWithValidatedKey`` then costs about 40% of a
    py_ecc ``Verify``; the IETF operations themselves stay py_ecc's, untouched.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol, TypeVar, runtime_checkable

__all__ = [
    "CIPHERSUITE",
    "CURVE_ORDER",
    "ENV_VAR",
    "IDENTITY_PUBKEY",
    "IDENTITY_SIGNATURE",
    "POP_TAG",
    "PUBKEY_SIZE",
    "SIGNATURE_SIZE",
    "BLSBackend",
    "BLSError",
    "Backend",
    "KeyGen",
    "available_backends",
    "backend",
]

SIGNATURE_SIZE: Final = 96
PUBKEY_SIZE: Final = 48
CIPHERSUITE: Final = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
POP_TAG: Final = b"BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
CURVE_ORDER: Final = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
IDENTITY_PUBKEY: Final = b"\xc0" + bytes(PUBKEY_SIZE - 1)
IDENTITY_SIGNATURE: Final = b"\xc0" + bytes(SIGNATURE_SIZE - 1)
ENV_VAR: Final = "LEDGER_BLS_BACKEND"
# The compressed G1 generator (SkToPk(1)).
_G1_GENERATOR: Final = bytes.fromhex(
    "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
)
_BATCH_DST: Final = b"LEDGER_BLS_BATCH_VERIFY_V1"
_DECODED_KEY_CACHE: Final = 4096
_HASHED_MESSAGE_CACHE: Final = 256
_BLS_X: Final = 0xD201000000010000  # |u|; the curve parameter is u = -0xd201000000010000


class BLSError(ValueError):
    """Malformed input to an operation that cannot answer with a bool (bad key, empty list...)."""


@runtime_checkable
class Backend(Protocol):
    """The IETF operations of the PoP ciphersuite plus the validated-key fast paths."""

    name: str

    def SkToPk(self, sk: int) -> bytes: ...
    def Sign(self, sk: int, message: bytes) -> bytes: ...
    def Verify(self, pk: bytes, message: bytes, signature: bytes) -> bool: ...
    def Aggregate(self, signatures: Sequence[bytes]) -> bytes: ...
    def FastAggregateVerify(
        self, pks: Sequence[bytes], message: bytes, signature: bytes
    ) -> bool: ...
    def AggregateVerify(
        self, pks: Sequence[bytes], messages: Sequence[bytes], signature: bytes
    ) -> bool: ...
    def KeyValidate(self, pk: bytes) -> bool: ...
    def PopProve(self, sk: int) -> bytes: ...
    def PopVerify(self, pk: bytes, proof: bytes) -> bool: ...
    def AggregatePublicKeys(self, pks: Sequence[bytes]) -> bytes: ...
    def VerifyWithValidatedKey(self, pk: bytes, message: bytes, signature: bytes) -> bool: ...


@runtime_checkable
class BLSBackend(Backend, Protocol):
    """What the two real backends offer beyond ``Backend`` (catch-up and conformance helpers)."""

    def BatchVerify(
        self, pks: Sequence[bytes], messages: Sequence[bytes], signatures: Sequence[bytes]
    ) -> bool: ...
    def SignatureValidate(self, signature: bytes) -> bool: ...
    def PointValidateG1(self, data: bytes) -> bool: ...
    def hash_to_G2(self, message: bytes, dst: bytes) -> bytes: ...


# --------------------------------------------------------------------------- input checks


def _is_encoding(value: object, size: int) -> bool:
    return isinstance(value, bytes) and len(value) == size


def _encodings(values: object, size: int | None) -> list[bytes] | None:
    """``values`` as a list of bytes (each ``size`` long unless None), or None if anything else.

    A bytes object is itself a Sequence (of ints), hence the explicit exclusion.
    """
    if not isinstance(values, Sequence) or isinstance(values, bytes | bytearray | str):
        return None
    items = list(values)
    if not all(isinstance(v, bytes) and size in (None, len(v)) for v in items):
        return None
    return items


def _is_triple(pk: object, message: object, signature: object) -> bool:
    return (
        _is_encoding(pk, PUBKEY_SIZE)
        and isinstance(message, bytes)
        and _is_encoding(signature, SIGNATURE_SIZE)
    )


def _require_sk(sk: object) -> int:
    # bool is an int subclass; True as a secret key is certainly a bug upstream.
    if not isinstance(sk, int) or isinstance(sk, bool) or not 0 < sk < CURVE_ORDER:
        raise BLSError("secret key must be an int with 1 <= sk < r")
    return sk


def _require_message(message: object) -> bytes:
    if not isinstance(message, bytes):
        raise BLSError("message must be bytes")
    return message


def _batch_coefficients(
    pks: Sequence[bytes], messages: Sequence[bytes], signatures: Sequence[bytes]
) -> list[int]:
    """Non-zero scalars for random-linear-combination batch verification.

    Derived Fiat-Shamir style from a hash of the whole batch rather than drawn from an RNG: this
    module may not read OS randomness, and a forger who cannot predict the coefficients before
    fixing every input gains nothing (full-size scalars, so grinding is infeasible).
    """
    transcript = hashlib.sha256(_BATCH_DST)
    for pk, message, signature in zip(pks, messages, signatures, strict=True):
        transcript.update(pk + signature + hashlib.sha256(message).digest())
    seed = transcript.digest()
    coefficients = []
    for index in range(len(pks)):
        digest = hashlib.sha512(seed + index.to_bytes(4, "big")).digest()
        coefficients.append(int.from_bytes(digest, "big") % (CURVE_ORDER - 1) + 1)
    return coefficients


_T = TypeVar("_T")


# --------------------------------------------------------------------------- shared boundary


class _Ciphersuite(ABC):
    """Input validation and exception wrapping shared by both backends.

    Public methods check types and lengths, then call the backend's ``_``-prefixed primitive
    inside ``_answer`` (library failure -> False) or ``_produce`` (library failure -> BLSError).
    """

    name: str = ""
    _failures: tuple[type[Exception], ...] = (ValueError, TypeError, ArithmeticError, IndexError)

    def _answer(self, check: Callable[[], bool]) -> bool:
        try:
            return bool(check())
        except self._failures:
            return False

    def _produce(self, make: Callable[[], _T], what: str) -> _T:
        try:
            return make()
        except BLSError:
            raise
        except self._failures as error:
            raise BLSError(f"{self.name}: {what} failed: {error}") from error

    # ---- IETF operations

    def SkToPk(self, sk: int) -> bytes:
        """The compressed public key of ``sk``; BLSError unless 1 <= sk < r."""
        key = _require_sk(sk)
        return self._produce(lambda: self._sk_to_pk(key), "SkToPk")

    def Sign(self, sk: int, message: bytes) -> bytes:
        """The 96-byte signature of ``message`` under ``sk`` (DST = CIPHERSUITE)."""
        key, msg = _require_sk(sk), _require_message(message)
        return self._produce(lambda: self._sign(key, msg), "Sign")

    def Verify(self, pk: bytes, message: bytes, signature: bytes) -> bool:
        """True iff ``pk`` is a valid key and ``signature`` signs ``message`` under it."""
        if not _is_triple(pk, message, signature):
            return False
        return self._answer(lambda: self._verify(pk, message, signature))

    def Aggregate(self, signatures: Sequence[bytes]) -> bytes:
        """Sum of the signatures; BLSError if empty or any is not a G2 point (subgroup checked)."""
        items = _encodings(signatures, SIGNATURE_SIZE)
        if items is None:
            raise BLSError("signatures must be a sequence of 96-byte strings")
        if not items:
            raise BLSError("cannot aggregate an empty list of signatures")
        return self._produce(lambda: self._aggregate(items), "Aggregate")

    def FastAggregateVerify(self, pks: Sequence[bytes], message: bytes, signature: bytes) -> bool:
        """Many keys, one message; every key validated. False for an empty key list."""
        keys = _encodings(pks, PUBKEY_SIZE)
        if not keys or not isinstance(message, bytes):
            return False
        if not _is_encoding(signature, SIGNATURE_SIZE):
            return False
        return self._answer(lambda: self._fast_aggregate_verify(keys, message, signature))

    def AggregateVerify(
        self, pks: Sequence[bytes], messages: Sequence[bytes], signature: bytes
    ) -> bool:
        """Key i signed message i; one aggregate signature. False if empty or lengths differ."""
        keys, msgs = _encodings(pks, PUBKEY_SIZE), _encodings(messages, None)
        if not keys or msgs is None or len(keys) != len(msgs):
            return False
        if not _is_encoding(signature, SIGNATURE_SIZE):
            return False
        return self._answer(lambda: self._aggregate_verify(keys, msgs, signature))

    def KeyValidate(self, pk: bytes) -> bool:
        """True iff ``pk`` decodes canonically to a non-identity point of the G1 subgroup."""
        if not _is_encoding(pk, PUBKEY_SIZE) or pk == IDENTITY_PUBKEY:
            return False
        return self._answer(lambda: self._key_validate(pk))

    def PopProve(self, sk: int) -> bytes:
        """Proof of possession of ``sk``: its signature of its own public key under POP_TAG."""
        key = _require_sk(sk)
        return self._produce(lambda: self._pop_prove(key), "PopProve")

    def PopVerify(self, pk: bytes, proof: bytes) -> bool:
        """True iff ``pk`` is valid and ``proof`` is its proof of possession."""
        if not (_is_encoding(pk, PUBKEY_SIZE) and _is_encoding(proof, SIGNATURE_SIZE)):
            return False
        return self._answer(lambda: self._pop_verify(pk, proof))

    # ---- fast paths for keys validated once at admission

    def AggregatePublicKeys(self, pks: Sequence[bytes]) -> bytes:
        """Compressed sum of already-validated keys (no subgroup re-check).

        The result may be the identity encoding if keys cancel; ``VerifyWithValidatedKey``
        rejects it. BLSError if empty or if a key does not decode.
        """
        keys = _encodings(pks, PUBKEY_SIZE)
        if keys is None:
            raise BLSError("public keys must be a sequence of 48-byte strings")
        if not keys:
            raise BLSError("cannot aggregate an empty list of public keys")
        return self._produce(lambda: self._aggregate_public_keys(keys), "AggregatePublicKeys")

    def VerifyWithValidatedKey(self, pk: bytes, message: bytes, signature: bytes) -> bool:
        """``Verify`` minus the public-key subgroup check; ``pk`` must be validated (or a sum of
        validated keys). The identity key is still rejected; the signature is fully checked."""
        if not _is_triple(pk, message, signature):
            return False
        if pk == IDENTITY_PUBKEY:
            return False
        return self._answer(lambda: self._verify_validated(pk, message, signature))

    # ---- extras: catch-up and conformance

    def BatchVerify(
        self, pks: Sequence[bytes], messages: Sequence[bytes], signatures: Sequence[bytes]
    ) -> bool:
        """True iff every ``signatures[i]`` is a valid signature of ``messages[i]`` by
        ``pks[i]``. False if empty, if lengths differ or if anything is malformed."""
        keys, msgs = _encodings(pks, PUBKEY_SIZE), _encodings(messages, None)
        sigs = _encodings(signatures, SIGNATURE_SIZE)
        if not keys or msgs is None or sigs is None or not len(keys) == len(msgs) == len(sigs):
            return False
        return self._answer(lambda: self._batch_verify(keys, msgs, sigs))

    def SignatureValidate(self, signature: bytes) -> bool:
        """True iff ``signature`` decodes canonically to a point of the G2 subgroup (identity
        included: it is the aggregate of an empty or cancelling set)."""
        if not _is_encoding(signature, SIGNATURE_SIZE):
            return False
        return self._answer(lambda: self._signature_validate(signature))

    def PointValidateG1(self, data: bytes) -> bool:
        """True iff ``data`` decodes canonically to a point of the G1 subgroup, identity
        included (``KeyValidate`` is this minus the identity)."""
        if not _is_encoding(data, PUBKEY_SIZE):
            return False
        return self._answer(lambda: self._point_validate_g1(data))

    def hash_to_G2(self, message: bytes, dst: bytes) -> bytes:
        """hash_to_curve(message) on G2 with domain separation tag ``dst``, compressed."""
        msg = _require_message(message)
        if not isinstance(dst, bytes) or not 0 < len(dst) <= 255:
            raise BLSError("dst must be 1..255 bytes")
        return self._produce(lambda: self._hash_to_g2(msg, dst), "hash_to_G2")

    # ---- primitives each backend provides (inputs already type- and length-checked)
    @abstractmethod
    def _sk_to_pk(self, sk: int) -> bytes: ...
    @abstractmethod
    def _sign(self, sk: int, message: bytes) -> bytes: ...
    @abstractmethod
    def _verify(self, pk: bytes, message: bytes, signature: bytes) -> bool: ...
    @abstractmethod
    def _pop_prove(self, sk: int) -> bytes: ...
    @abstractmethod
    def _pop_verify(self, pk: bytes, proof: bytes) -> bool: ...
    @abstractmethod
    def _aggregate(self, signatures: list[bytes]) -> bytes: ...
    @abstractmethod
    def _fast_aggregate_verify(
        self, pks: list[bytes], message: bytes, signature: bytes
    ) -> bool: ...
    @abstractmethod
    def _aggregate_verify(
        self, pks: list[bytes], messages: list[bytes], signature: bytes
    ) -> bool: ...
    @abstractmethod
    def _key_validate(self, pk: bytes) -> bool: ...
    @abstractmethod
    def _aggregate_public_keys(self, pks: list[bytes]) -> bytes: ...
    @abstractmethod
    def _verify_validated(self, pk: bytes, message: bytes, signature: bytes) -> bool: ...
    @abstractmethod
    def _batch_verify(self, pks: list[bytes], messages: list[bytes], sigs: list[bytes]) -> bool: ...
    @abstractmethod
    def _signature_validate(self, signature: bytes) -> bool: ...
    @abstractmethod
    def _point_validate_g1(self, data: bytes) -> bool: ...
    @abstractmethod
    def _hash_to_g2(self, message: bytes, dst: bytes) -> bytes: ...

    def __repr__(self) -> str:
        return f"<BLS backend {self.name}>"


# --------------------------------------------------------------------------- py_ecc


class _PyEccBackend(_Ciphersuite):
    """The reference: IETF operations delegate to ``py_ecc.bls.G2ProofOfPossession``.

    ``Aggregate`` additionally subgroup-checks each signature (py_ecc only decodes them) so that
    both backends accept and reject exactly the same inputs; the fast paths use py_ecc's
    lower-level functions plus the accelerations below (see the module docstring).
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

    # ---- accelerations of the fast paths; each is checked against py_ecc's plain version in
    # tests/ledger/test_crypto.py and by the conformance vectors.

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
        return bytes(self._pop.Sign(sk, message))

    def _verify(self, pk: bytes, message: bytes, signature: bytes) -> bool:
        return bool(self._pop.Verify(pk, message, signature))

    def _pop_prove(self, sk: int) -> bytes:
        return bytes(self._pop.PopProve(sk))

    def _pop_verify(self, pk: bytes, proof: bytes) -> bool:
        return bool(self._pop.PopVerify(pk, proof))

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
        c = self._curve
        key = self._points.pubkey_to_G1(pk)  # decoded (on curve, canonical), not r-multiplied
        sig = self._decode_g2(signature)
        product = c.pairing(sig, c.G1, final_exponentiate=False) * c.pairing(
            self._hash_point(message, CIPHERSUITE), c.neg(key), final_exponentiate=False
        )
        return self._is_one_after_final_exponentiation(product)

    def _batch_verify(self, pks: list[bytes], messages: list[bytes], sigs: list[bytes]) -> bool:
        # py_ecc is the slow reference: one Verify per triple is simplest and obviously correct.
        return all(self._pop.Verify(*triple) for triple in zip(pks, messages, sigs, strict=True))

    def _signature_validate(self, signature: bytes) -> bool:
        point = self._points.signature_to_G2(signature)
        return bool(self._points.subgroup_check(point))

    def _point_validate_g1(self, data: bytes) -> bool:
        point = self._points.pubkey_to_G1(data)
        return bool(self._points.subgroup_check(point))

    def _hash_to_g2(self, message: bytes, dst: bytes) -> bytes:
        return bytes(self._points.G2_to_signature(self._hash_point(message, dst)))


# --------------------------------------------------------------------------- blst


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


# --------------------------------------------------------------------------- selection

_FACTORIES: Final[dict[str, Callable[[], _Ciphersuite]]] = {
    "py_ecc": _PyEccBackend,
    "blst": _BlstBackend,
}
_IMPORT_NAMES: Final = {"py_ecc": "py_ecc.bls", "blst": "pyblst"}
_CHOICES: Final = ("auto", "py_ecc", "blst")
_instances: dict[str, BLSBackend] = {}
_lock = threading.Lock()


def _importable(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(_IMPORT_NAMES[name]) is not None
    except (ImportError, ValueError):
        return False


def available_backends() -> list[str]:
    """Names of the backends whose library is installed, reference first."""
    return [name for name in _FACTORIES if _importable(name)]


def backend(name: str | None = None) -> BLSBackend:
    """The cached backend ``name``; None reads ``LEDGER_BLS_BACKEND`` (unset or empty = auto).

    ``auto`` is blst when pyblst imports, else py_ecc. BLSError for any other name or for a
    named backend whose library is missing.
    """
    if name is None:
        # The one environment read this package allows (settings pass the value through).
        name = os.environ.get(ENV_VAR, "") or "auto"
        source = f" (from {ENV_VAR})"
    else:
        source = ""
    if name not in _CHOICES:
        raise BLSError(
            f"unknown BLS backend {name!r}{source}; expected one of {', '.join(_CHOICES)}"
        )
    if name != "auto":
        return _instance(name)
    if _importable("blst"):
        try:
            return _instance("blst")
        except BLSError:  # found but unloadable (a broken wheel): the reference still works
            pass
    return _instance("py_ecc")


def _instance(name: str) -> BLSBackend:
    with _lock:
        instance = _instances.get(name)
        if instance is None:
            try:
                instance = _FACTORIES[name]()
            except ImportError as error:
                raise BLSError(f"BLS backend {name!r} is not installed: {error}") from error
            _instances[name] = instance
    return instance


def KeyGen(ikm: bytes, key_info: bytes = b"") -> int:
    """IETF KeyGen (draft-irtf-cfrg-bls-signature-05 sec. 2.3): a secret key from >= 32 bytes of
    input keying material, deterministically (HKDF-SHA256, salt re-hashed until sk != 0)."""
    if not isinstance(ikm, bytes) or len(ikm) < 32:
        raise BLSError("KeyGen needs at least 32 bytes of input keying material")
    if not isinstance(key_info, bytes):
        raise BLSError("key_info must be bytes")
    length = 48  # ceil(3 * ceil(log2(r)) / 16)
    salt = b"BLS-SIG-KEYGEN-SALT-"
    sk = 0
    while sk == 0:
        salt = hashlib.sha256(salt).digest()
        prk = hmac.new(salt, ikm + b"\x00", hashlib.sha256).digest()  # HKDF-Extract
        okm, block, counter = b"", b"", 1
        info = key_info + length.to_bytes(2, "big")
        while len(okm) < length:  # HKDF-Expand
            block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
            okm += block
            counter += 1
        sk = int.from_bytes(okm[:length], "big") % CURVE_ORDER
    return sk
