"""Ethereum's BLS conformance vectors (ciphersuite ``..._POP_``) against both backends.

Runs only when ``BLS_VECTORS_DIR`` points at the vectors (``.ci/run`` sets it to the folder of
the vectors beside the checkout): unset -> skipped with a reason; set but missing or incomplete ->
failed. Each file is ``{"input": ..., "output": ...}`` under one folder per handler; ``output``
null means "the operation must refuse" (BLSError for Sign/Aggregate).

Which facade function covers which handler (same on both backends; pyblst lacks no primitive):
    sign                   Sign
    verify                 Verify
    aggregate              Aggregate
    fast_aggregate_verify  FastAggregateVerify, and VerifyWithValidatedKey(AggregatePublicKeys)
                           whenever every key passes KeyValidate
    aggregate_verify       AggregateVerify
    batch_verify           BatchVerify (blst: random linear combination; py_ecc: loop)
    deserialization_G1     PointValidateG1 (identity accepted) and KeyValidate (identity refused)
    deserialization_G2     SignatureValidate
    hash_to_G2             hash_to_G2(msg, QUUX test DST), compared in compressed form

py_ecc takes about a minute for the whole set on this machine, so its cases are marked slow.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ledger.consensus.crypto import IDENTITY_PUBKEY, BLSBackend, BLSError, backend

HANDLERS = (
    "sign",
    "verify",
    "aggregate",
    "fast_aggregate_verify",
    "aggregate_verify",
    "batch_verify",
    "deserialization_G1",
    "deserialization_G2",
    "hash_to_G2",
)
BACKENDS = ("py_ecc", "blst")
ENV = "BLS_VECTORS_DIR"
# The hash_to_G2 vectors are the IETF hash-to-curve test vectors, which use this DST.
HASH_TO_G2_DST = b"QUUX-V01-CS02-with-BLS12381G2_XMD:SHA-256_SSWU_RO_"
FIELD_MODULUS = int(
    "1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab",
    16,
)


def _unhex(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


def _compress_g2(x: str, y: str) -> bytes:
    """The 96-byte compressed encoding of the affine G2 point given as "re,im" hex pairs."""
    x_re, x_im = (int(part, 16) for part in x.split(","))
    y_re, y_im = (int(part, 16) for part in y.split(","))
    # The sign bit is the "larger half" test on y's imaginary part, or its real part if that is 0.
    sign = (y_im if y_im else y_re) * 2 // FIELD_MODULUS
    high = x_im | (1 << 383) | (sign << 381)
    return high.to_bytes(48, "big") + x_re.to_bytes(48, "big")


def check_sign(crypto: BLSBackend, given: Any, expected: Any) -> None:
    sk, message = int(given["privkey"], 16), _unhex(given["message"])
    if expected is None:
        with pytest.raises(BLSError):
            crypto.Sign(sk, message)
    else:
        assert crypto.Sign(sk, message) == _unhex(expected)


def check_verify(crypto: BLSBackend, given: Any, expected: Any) -> None:
    pk, message = _unhex(given["pubkey"]), _unhex(given["message"])
    assert crypto.Verify(pk, message, _unhex(given["signature"])) is expected


def check_aggregate(crypto: BLSBackend, given: Any, expected: Any) -> None:
    signatures = [_unhex(s) for s in given]
    if expected is None:
        with pytest.raises(BLSError):
            crypto.Aggregate(signatures)
    else:
        assert crypto.Aggregate(signatures) == _unhex(expected)


def check_fast_aggregate_verify(crypto: BLSBackend, given: Any, expected: Any) -> None:
    pks = [_unhex(pk) for pk in given["pubkeys"]]
    message, signature = _unhex(given["message"]), _unhex(given["signature"])
    assert crypto.FastAggregateVerify(pks, message, signature) is expected
    # The cached-aggregate-key path agrees whenever its precondition (validated keys) holds.
    if pks and all(crypto.KeyValidate(pk) for pk in pks):
        aggregate = crypto.AggregatePublicKeys(pks)
        assert crypto.VerifyWithValidatedKey(aggregate, message, signature) is expected


def check_aggregate_verify(crypto: BLSBackend, given: Any, expected: Any) -> None:
    pks = [_unhex(pk) for pk in given["pubkeys"]]
    messages = [_unhex(m) for m in given["messages"]]
    assert crypto.AggregateVerify(pks, messages, _unhex(given["signature"])) is expected


def check_batch_verify(crypto: BLSBackend, given: Any, expected: Any) -> None:
    pks = [_unhex(pk) for pk in given["pubkeys"]]
    messages = [_unhex(m) for m in given["messages"]]
    signatures = [_unhex(s) for s in given["signatures"]]
    assert crypto.BatchVerify(pks, messages, signatures) is expected


def check_deserialization_g1(crypto: BLSBackend, given: Any, expected: Any) -> None:
    data = _unhex(given["pubkey"])
    assert crypto.PointValidateG1(data) is expected
    assert crypto.KeyValidate(data) is (expected and data != IDENTITY_PUBKEY)


def check_deserialization_g2(crypto: BLSBackend, given: Any, expected: Any) -> None:
    assert crypto.SignatureValidate(_unhex(given["signature"])) is expected


def check_hash_to_g2(crypto: BLSBackend, given: Any, expected: Any) -> None:
    point = crypto.hash_to_G2(given["msg"].encode(), HASH_TO_G2_DST)
    assert point == _compress_g2(expected["x"], expected["y"])


CHECKS: dict[str, Callable[[BLSBackend, Any, Any], None]] = {
    "sign": check_sign,
    "verify": check_verify,
    "aggregate": check_aggregate,
    "fast_aggregate_verify": check_fast_aggregate_verify,
    "aggregate_verify": check_aggregate_verify,
    "batch_verify": check_batch_verify,
    "deserialization_G1": check_deserialization_g1,
    "deserialization_G2": check_deserialization_g2,
    "hash_to_G2": check_hash_to_g2,
}


def collect_cases() -> list[Any]:
    """One pytest param per (backend, vector file); a single skip or failure marker otherwise."""
    root = os.environ.get(ENV)
    if not root:
        reason = f"{ENV} is not set (CI sets it to the folder of the Ethereum BLS vectors)"
        return [pytest.param(None, None, None, marks=pytest.mark.skip(reason=reason), id="unset")]
    folder = Path(root)
    files = sorted(folder.glob("*/*.json")) if folder.is_dir() else []
    cases = []
    for name in BACKENDS:
        marks = [pytest.mark.slow] if name == "py_ecc" else []
        for path in files:
            handler = path.parent.name
            case_id = f"{name}-{handler}-{path.stem}"
            cases.append(pytest.param(name, handler, path, marks=marks, id=case_id))
    return cases or [pytest.param(None, None, folder, id="missing")]


def test_the_vectors_directory_has_every_handler() -> None:
    # Given the directory CI points at
    root = os.environ.get(ENV)
    if not root:
        pytest.skip(f"{ENV} is not set (CI sets it to the folder of the Ethereum BLS vectors)")
    folder = Path(root)
    # When its handler folders are listed
    present = (
        {p.name for p in folder.iterdir() if any(p.glob("*.json"))} if folder.is_dir() else set()
    )
    # Then every handler has vectors (a missing folder fails rather than silently passing)
    assert folder.is_dir(), f"{ENV}={root} does not exist"
    assert sorted(set(HANDLERS) - present) == []


@pytest.mark.parametrize(("backend_name", "handler", "path"), collect_cases())
def test_the_backend_matches_the_conformance_vector(
    backend_name: str | None, handler: str | None, path: Path | None
) -> None:
    # Given one vector file (the placeholder case means the folder held none)
    assert backend_name is not None and handler is not None, f"no vectors found under {path}"
    vector = json.loads(path.read_text()) if path else {}
    crypto = backend(backend_name)
    # When the handler's facade function runs on the input / Then it gives the expected output
    CHECKS[handler](crypto, vector["input"], vector["output"])
