"""Input checks and the boundary both BLS backends share (``_Ciphersuite``).

Private to ``ledger.consensus.crypto``: see the package docstring for the contract.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Final, TypeVar

from . import CURVE_ORDER, IDENTITY_PUBKEY, PUBKEY_SIZE, SIGNATURE_SIZE, BLSError

_BATCH_DST: Final = b"LEDGER_BLS_BATCH_VERIFY_V1"


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
    package may not read OS randomness, and a forger who cannot predict the coefficients before
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
