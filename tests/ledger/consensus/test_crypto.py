"""The BLS facade: both backends agree byte for byte, refuse every malformed input the same way,
and are selected as configured.

py_ecc is slow (Sign ~0.1 s, Verify ~0.3 s), so each test uses it a handful of times at most and
builds its fixtures once per module; the long ones are marked slow.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import random
from collections.abc import Iterator
from typing import Any

import pytest
from py_ecc import optimized_bls12_381 as curve
from py_ecc.bls.ciphersuites import G2ProofOfPossession
from py_ecc.bls.g2_primitives import G2_to_signature, pubkey_to_G1, signature_to_G2, subgroup_check
from py_ecc.bls.hash_to_curve import hash_to_G2 as py_ecc_hash_to_G2
from py_ecc.bls.point_compression import modular_squareroot_in_FQ2
from py_ecc.fields import optimized_bls12_381_FQ2 as FQ2
from py_ecc.optimized_bls12_381 import b2, field_modulus

from ledger.consensus import crypto
from ledger.consensus.crypto import (
    CIPHERSUITE,
    CURVE_ORDER,
    IDENTITY_PUBKEY,
    IDENTITY_SIGNATURE,
    Backend,
    BLSBackend,
    BLSError,
    KeyGen,
    available_backends,
    backend,
    configure,
)

BACKENDS = ("py_ecc", "blst")
MESSAGE = b"vote: epoch 1, round 7, block 0xabc"


@pytest.fixture(params=BACKENDS)
def bls(request: pytest.FixtureRequest) -> BLSBackend:
    return backend(request.param)


@pytest.fixture(scope="module")
def blst() -> BLSBackend:
    return backend("blst")


@pytest.fixture(scope="module")
def keys() -> list[tuple[int, bytes]]:
    """Three (sk, pk) pairs from seeded key material, public keys computed with blst."""
    rng = random.Random(20261125)
    sks = [KeyGen(rng.randbytes(32)) for _ in range(3)]
    return [(sk, backend("blst").SkToPk(sk)) for sk in sks]


def negate(point: bytes) -> bytes:
    """-P from the compressed encoding of P != O: flip the sign-of-y flag (bit 0x20)."""
    return bytes([point[0] ^ 0x20]) + point[1:]


def g1_encoding(x: int, y: int) -> bytes:
    sign = (y * 2) // field_modulus
    return (x | (1 << 383) | (sign << 381)).to_bytes(48, "big")


def g1_points_on_curve(in_subgroup: bool) -> Iterator[bytes]:
    """Curve points with small x (never in the subgroup) or, for True, nothing: use SkToPk."""
    for x in itertools.count(1):
        rhs = (x**3 + 4) % field_modulus
        y = pow(rhs, (field_modulus + 1) // 4, field_modulus)
        if y * y % field_modulus == rhs:
            encoded = g1_encoding(x, y)
            if subgroup_check(pubkey_to_G1(encoded)) is in_subgroup:
                yield encoded


def g2_off_subgroup() -> bytes:
    """A point of the twist curve E'(Fp2) outside G2 (the cofactor is ~2^254)."""
    for k in itertools.count(1):
        x = FQ2([k, 1])
        y = modular_squareroot_in_FQ2(x**3 + b2)
        if y is not None:
            encoded = bytes(G2_to_signature((x, y, FQ2.one())))
            if not subgroup_check(signature_to_G2(encoded)):
                return encoded
    raise AssertionError("unreachable")


def g1_off_curve() -> bytes:
    for x in itertools.count(1):
        rhs = (x**3 + 4) % field_modulus
        if pow(rhs, (field_modulus - 1) // 2, field_modulus) != 1:
            return (x | (1 << 383)).to_bytes(48, "big")
    raise AssertionError("unreachable")


G1_OFF_SUBGROUP = next(g1_points_on_curve(in_subgroup=False))
G2_OFF_SUBGROUP = g2_off_subgroup()
G1_OFF_CURVE = g1_off_curve()
VALID_PK = bytes.fromhex(  # SkToPk(1), the generator
    "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
)
VALID_SIG = bytes(G2ProofOfPossession.Sign(1, MESSAGE))
NON_CANONICAL_G1 = {
    "compression flag cleared": bytes([VALID_PK[0] & 0x7F]) + VALID_PK[1:],
    "infinity flag on a point": bytes([VALID_PK[0] | 0x40]) + VALID_PK[1:],
    "identity with sign flag": b"\xe0" + bytes(47),
    "identity without infinity flag": b"\x80" + bytes(47),
    "identity with non-zero x": b"\xc0" + bytes(46) + b"\x01",
    "x equal to p": (field_modulus | (1 << 383)).to_bytes(48, "big"),
    "x greater than p": ((field_modulus + 1) | (1 << 383)).to_bytes(48, "big"),
    "not on the curve": G1_OFF_CURVE,
    "not in the subgroup": G1_OFF_SUBGROUP,
}
NON_CANONICAL_G2 = {
    "compression flag cleared": bytes([VALID_SIG[0] & 0x7F]) + VALID_SIG[1:],
    "infinity flag on a point": bytes([VALID_SIG[0] | 0x40]) + VALID_SIG[1:],
    "identity with sign flag": b"\xe0" + bytes(95),
    "identity with non-zero real part": b"\xc0" + bytes(94) + b"\x01",
    "flags on the real part": VALID_SIG[:48] + bytes([VALID_SIG[48] | 0x80]) + VALID_SIG[49:],
    "x_im equal to p": (field_modulus | (1 << 383)).to_bytes(48, "big") + VALID_SIG[48:],
    "x_re equal to p": VALID_SIG[:48] + field_modulus.to_bytes(48, "big"),
    "not in the subgroup": G2_OFF_SUBGROUP,
}
WRONG_TYPES: list[Any] = [None, 7, "97f1d3a7", bytearray(48), memoryview(bytes(48)), [1, 2], b""]


# --------------------------------------------------------------------------- cross-check


@pytest.mark.slow
def test_both_backends_give_identical_bytes_on_random_keys_and_messages(
    keys: list[tuple[int, bytes]],
) -> None:
    # Given seeded keys and random messages of varied lengths
    rng = random.Random(7)
    messages = [rng.randbytes(rng.randrange(0, 200)) for _ in keys]
    reference, fast = backend("py_ecc"), backend("blst")
    # When both backends compute every byte-producing operation
    results = {}
    for crypto_backend in (reference, fast):
        sigs = [crypto_backend.Sign(sk, msg) for (sk, _), msg in zip(keys, messages, strict=True)]
        results[crypto_backend.name] = (
            [crypto_backend.SkToPk(sk) for sk, _ in keys],
            sigs,
            [crypto_backend.PopProve(sk) for sk, _ in keys],
            crypto_backend.Aggregate(sigs),
            crypto_backend.AggregatePublicKeys([pk for _, pk in keys]),
            crypto_backend.hash_to_G2(messages[0], b"ANY-DST"),
        )
    # Then the bytes are identical
    assert results["py_ecc"] == results["blst"]
    # And each backend verifies what the other produced
    pks, sigs = results["blst"][0], results["blst"][1]
    assert reference.AggregateVerify(pks, messages, results["blst"][3]) is True
    assert fast.AggregateVerify(pks, messages, results["py_ecc"][3]) is True


def test_the_fast_g2_subgroup_check_agrees_with_multiplying_by_r() -> None:
    # Given points inside G2 and points of the twist outside it
    rng = random.Random(3)
    reference: Any = backend("py_ecc")
    inside = [signature_to_G2(G2ProofOfPossession.Sign(rng.randrange(1, 1000), b"x"))]
    outside = []
    for k in range(2, 40):
        x = FQ2([k, rng.randrange(field_modulus)])
        y = modular_squareroot_in_FQ2(x**3 + b2)
        if y is not None:
            outside.append((x, y, FQ2.one()))
        if len(outside) == 3:
            break
    # When both checks run / Then psi(P) == [u]P agrees with [r]P == O on every point
    for point in inside + outside:
        assert reference._in_g2(point) is subgroup_check(point)
    assert [reference._in_g2(p) for p in inside + outside] == [True, False, False, False]


def test_the_fast_cofactor_clearing_gives_py_ecc_hash_to_g2_exactly() -> None:
    # Given messages and tags of varied lengths
    reference: Any = backend("py_ecc")
    cases = [
        (b"", CIPHERSUITE),
        (b"abc" * 50, b"QUUX-V01-CS02-with-BLS12381G2_XMD:SHA-256_SSWU_RO_"),
    ]
    for message, dst in cases:
        # When both hash the message to G2
        fast = reference.hash_to_G2(message, dst)
        plain = bytes(G2_to_signature(py_ecc_hash_to_G2(message, dst, hashlib.sha256)))
        # Then the points are identical
        assert fast == plain


def test_the_fast_sign_gives_py_ecc_s_sign_exactly_hashed_root_cached_or_not() -> None:
    # Given random keys and messages, each message signed twice (the second time its hash to
    # G2 comes from the cache)
    from py_ecc.bls import G2ProofOfPossession

    ours: Any = backend("py_ecc")
    rng = random.Random(7)
    for _ in range(3):
        message = rng.randbytes(32)
        for sk in (rng.randrange(1, 2**255), rng.randrange(1, 2**255)):
            # Then our Sign and py_ecc's plain Sign give the same bytes
            assert ours.Sign(sk, message) == G2ProofOfPossession.Sign(sk, message)


# Slow: pure-Python py_ecc pairings for every case, 4 s on a quiet machine, more on a busy one.
@pytest.mark.slow
def test_the_fast_verify_and_pop_verify_answer_like_py_ecc_s_plain_ones() -> None:
    # Given valid signatures and proofs, and the same with the message, key or proof swapped
    from py_ecc.bls import G2ProofOfPossession as plain

    ours: Any = backend("py_ecc")
    rng = random.Random(11)
    sks = [rng.randrange(1, 2**255) for _ in range(2)]
    pks = [plain.SkToPk(sk) for sk in sks]
    message = rng.randbytes(32)
    signature, proof = plain.Sign(sks[0], message), plain.PopProve(sks[0])
    verify_cases = [
        (pks[0], message, signature),
        (pks[1], message, signature),
        (pks[0], message[::-1], signature),
    ]
    pop_cases = [(pks[0], proof), (pks[1], proof), (pks[0], signature)]
    # Then each answer equals py_ecc's own
    assert [ours.Verify(*c) for c in verify_cases] == [plain.Verify(*c) for c in verify_cases]
    assert [ours.Verify(*c) for c in verify_cases] == [True, False, False]
    assert [ours.PopVerify(*c) for c in pop_cases] == [plain.PopVerify(*c) for c in pop_cases]
    assert [ours.PopVerify(*c) for c in pop_cases] == [True, False, False]


def test_the_fast_final_exponentiation_is_the_cube_of_py_ecc_s() -> None:
    # Given Miller loop outputs of a random pairing and of a cancelling product
    reference: Any = backend("py_ecc")
    rng = random.Random(11)
    p_point = curve.multiply(curve.G1, rng.randrange(1, CURVE_ORDER))
    q_point = curve.multiply(curve.G2, rng.randrange(1, CURVE_ORDER))
    f = curve.pairing(q_point, p_point, final_exponentiate=False)
    cancelling = f * curve.pairing(q_point, curve.neg(p_point), final_exponentiate=False)
    # When the fast check runs
    # Then it computes f^(3d) = (py_ecc's f^d)^3, so it is 1 exactly when py_ecc's result is
    assert reference._hard_final_exponentiation(f) == curve.final_exponentiate(f) ** 3
    assert reference._is_one_after_final_exponentiation(f) is False
    assert reference._is_one_after_final_exponentiation(cancelling) is True


# --------------------------------------------------------------------------- edge cases


def test_the_identity_public_key_is_refused(bls: BLSBackend) -> None:
    # Given the identity encoding (0xc0 then zeros), which decodes to a valid G1 point
    # When it is validated or used / Then it is a point but never a key
    assert bls.PointValidateG1(IDENTITY_PUBKEY) is True
    assert bls.KeyValidate(IDENTITY_PUBKEY) is False
    assert bls.Verify(IDENTITY_PUBKEY, MESSAGE, IDENTITY_SIGNATURE) is False
    assert bls.FastAggregateVerify([IDENTITY_PUBKEY], MESSAGE, IDENTITY_SIGNATURE) is False
    assert bls.PopVerify(IDENTITY_PUBKEY, IDENTITY_SIGNATURE) is False
    assert bls.VerifyWithValidatedKey(IDENTITY_PUBKEY, MESSAGE, IDENTITY_SIGNATURE) is False


def test_the_identity_signature_aggregates_but_verifies_nothing(bls: BLSBackend) -> None:
    # Given the identity signature
    # When it is aggregated and verified against a real key
    aggregate = bls.Aggregate([IDENTITY_SIGNATURE, IDENTITY_SIGNATURE])
    # Then it is a valid G2 point, its own aggregate, and no signature of anything
    assert bls.SignatureValidate(IDENTITY_SIGNATURE) is True
    assert aggregate == IDENTITY_SIGNATURE
    assert bls.Verify(VALID_PK, MESSAGE, IDENTITY_SIGNATURE) is False


@pytest.mark.parametrize("case", sorted(NON_CANONICAL_G1))
def test_a_malformed_public_key_is_refused_identically_by_both_backends(case: str) -> None:
    # Given a 48-byte string that is not a canonical G1 subgroup point
    data = NON_CANONICAL_G1[case]
    for name in BACKENDS:
        bls = backend(name)
        # When it is validated or used / Then every check says False, on both backends
        assert bls.PointValidateG1(data) is False
        assert bls.KeyValidate(data) is False
        assert bls.FastAggregateVerify([VALID_PK, data], MESSAGE, VALID_SIG) is False
        assert bls.PopVerify(data, VALID_SIG) is False


@pytest.mark.parametrize("case", sorted(NON_CANONICAL_G2))
def test_a_malformed_signature_is_refused_identically_by_both_backends(case: str) -> None:
    # Given a 96-byte string that is not a canonical G2 subgroup point
    data = NON_CANONICAL_G2[case]
    for name in BACKENDS:
        bls = backend(name)
        # When it is validated, verified or aggregated / Then False or BLSError
        assert bls.SignatureValidate(data) is False
        assert bls.Verify(VALID_PK, MESSAGE, data) is False
        assert bls.VerifyWithValidatedKey(VALID_PK, MESSAGE, data) is False
        with pytest.raises(BLSError):
            bls.Aggregate([VALID_SIG, data])


def test_empty_lists_are_refused(bls: BLSBackend) -> None:
    # Given no keys and no signatures
    # When the aggregate operations are called / Then they refuse rather than accept vacuously
    assert bls.FastAggregateVerify([], MESSAGE, IDENTITY_SIGNATURE) is False
    assert bls.AggregateVerify([], [], IDENTITY_SIGNATURE) is False
    assert bls.BatchVerify([], [], []) is False
    with pytest.raises(BLSError, match="empty"):
        bls.Aggregate([])
    with pytest.raises(BLSError, match="empty"):
        bls.AggregatePublicKeys([])


def test_cancelling_signatures_aggregate_to_the_identity_and_verify_nothing(
    bls: BLSBackend,
) -> None:
    # Given a valid signature and its negation
    # When both are aggregated
    aggregate = bls.Aggregate([VALID_SIG, negate(VALID_SIG)])
    # Then the sum is the identity, which is no signature for the key
    assert aggregate == IDENTITY_SIGNATURE
    assert bls.FastAggregateVerify([VALID_PK, VALID_PK], MESSAGE, aggregate) is False


def test_colluding_keys_that_cancel_cannot_forge_a_quorum(bls: BLSBackend) -> None:
    # Given two valid keys pk and -pk (each with a secret key, so each would pass PoP)
    pk, minus_pk = VALID_PK, negate(VALID_PK)
    assert bls.KeyValidate(minus_pk) is True
    # When their aggregate key is used with the identity signature
    aggregate_key = bls.AggregatePublicKeys([pk, minus_pk])
    # Then the aggregate is the identity and neither path accepts it
    assert aggregate_key == IDENTITY_PUBKEY
    assert bls.VerifyWithValidatedKey(aggregate_key, MESSAGE, IDENTITY_SIGNATURE) is False
    assert bls.FastAggregateVerify([pk, minus_pk], MESSAGE, IDENTITY_SIGNATURE) is False


@pytest.mark.parametrize("sk", [0, -1, CURVE_ORDER, CURVE_ORDER + 1, True, 1.0, "1", None, b"\x01"])
def test_an_invalid_secret_key_raises_bls_error(bls: BLSBackend, sk: Any) -> None:
    # Given a secret key outside 1..r-1 or not an int
    # When it is used to derive, sign or prove / Then BLSError, never another exception
    for operation in (bls.SkToPk, bls.PopProve, lambda key: bls.Sign(key, MESSAGE)):
        with pytest.raises(BLSError, match="secret key"):
            operation(sk)


@pytest.mark.parametrize("value", WRONG_TYPES, ids=repr)
def test_wrong_types_give_false_or_bls_error(bls: BLSBackend, value: Any) -> None:
    # Given a value of the wrong type or length wherever bytes are expected
    # When each operation receives it / Then verify-style ones say False, others raise BLSError
    assert bls.Verify(value, MESSAGE, VALID_SIG) is False
    assert bls.Verify(VALID_PK, value, VALID_SIG) is False
    assert bls.Verify(VALID_PK, MESSAGE, value) is False
    assert bls.KeyValidate(value) is False
    assert bls.SignatureValidate(value) is False
    assert bls.PopVerify(value, VALID_SIG) is False
    assert bls.FastAggregateVerify(value, MESSAGE, VALID_SIG) is False
    assert bls.FastAggregateVerify([value], MESSAGE, VALID_SIG) is False
    assert bls.AggregateVerify([VALID_PK], value, VALID_SIG) is False
    assert bls.BatchVerify([VALID_PK], [MESSAGE], value) is False
    assert bls.VerifyWithValidatedKey(value, MESSAGE, VALID_SIG) is False
    with pytest.raises(BLSError):
        bls.Aggregate(value)
    with pytest.raises(BLSError):
        bls.Aggregate([value])
    with pytest.raises(BLSError):
        bls.AggregatePublicKeys([value])
    if not isinstance(value, bytes):
        with pytest.raises(BLSError):
            bls.Sign(1, value)


@pytest.mark.parametrize(("name", "rounds"), [("py_ecc", 12), ("blst", 400)])
def test_random_bytes_never_raise_anything_but_bls_error(name: str, rounds: int) -> None:
    # Given seeded random byte strings of key and signature sizes (and around them),
    # half of them with a well-formed compression flag so that decoding gets further
    bls, rng = backend(name), random.Random(1234)
    for _ in range(rounds):
        pk = rng.randbytes(rng.choice([47, 48, 48, 48, 49]))
        sig = rng.randbytes(rng.choice([95, 96, 96, 96, 97]))
        if rng.random() < 0.5 and pk and sig:
            pk = bytes([(pk[0] | 0x80) & ~0x40]) + pk[1:]
            sig = bytes([(sig[0] | 0x80) & ~0x40]) + sig[1:]
        # When every operation receives them / Then each returns False or raises BLSError
        assert bls.KeyValidate(pk) is False
        assert bls.Verify(pk, MESSAGE, sig) is False
        assert bls.VerifyWithValidatedKey(VALID_PK, MESSAGE, sig) is False
        assert bls.AggregateVerify([pk], [MESSAGE], sig) is False
        with pytest.raises(BLSError):
            bls.Aggregate([sig])
        # (AggregatePublicKeys trusts its input: py_ecc only decodes, so an off-subgroup point
        # may be summed; blst always subgroup-checks. Either way: bytes or BLSError.)
        with contextlib.suppress(BLSError):
            assert len(bls.AggregatePublicKeys([pk])) == 48


# --------------------------------------------------------------------------- PoP, fast paths


@pytest.mark.slow
def test_a_proof_of_possession_proves_only_its_own_key(
    bls: BLSBackend, keys: list[tuple[int, bytes]]
) -> None:
    # Given two validators' keys and the first one's proof of possession
    (sk, pk), (_, other_pk) = keys[0], keys[1]
    proof = bls.PopProve(sk)
    # When the proof is checked / Then it proves pk, not another key, and is no plain signature
    assert bls.PopVerify(pk, proof) is True
    assert bls.PopVerify(other_pk, proof) is False
    assert bls.Verify(pk, pk, proof) is False


@pytest.mark.slow
def test_verifying_with_the_cached_aggregate_key_equals_fast_aggregate_verify(
    bls: BLSBackend, keys: list[tuple[int, bytes]]
) -> None:
    # Given a quorum's signatures on one message, aggregated, and their aggregate key
    pks = [pk for _, pk in keys]
    aggregate = bls.Aggregate([bls.Sign(sk, MESSAGE) for sk, _ in keys])
    aggregate_key = bls.AggregatePublicKeys(pks)
    # When both paths verify it, on the right and on a wrong message
    # Then they agree
    for message, expected in ((MESSAGE, True), (b"another round", False)):
        assert bls.VerifyWithValidatedKey(aggregate_key, message, aggregate) is expected
        assert bls.FastAggregateVerify(pks, message, aggregate) is expected


def test_batch_verification_catches_errors_that_cancel_in_a_plain_sum(
    blst: BLSBackend, keys: list[tuple[int, bytes]]
) -> None:
    # Given two valid signatures, then the same two with an error +D and -D added
    (sk1, pk1), (sk2, pk2) = keys[0], keys[1]
    m1, m2 = b"block 1", b"block 2"
    sig1, sig2 = blst.Sign(sk1, m1), blst.Sign(sk2, m2)
    delta = blst.hash_to_G2(b"error", b"ANY-DST")
    bad1, bad2 = blst.Aggregate([sig1, delta]), blst.Aggregate([sig2, negate(delta)])
    # When the sets are batch-verified
    # Then the honest set passes and the doctored one fails, though its plain sum is valid
    assert blst.BatchVerify([pk1, pk2], [m1, m2], [sig1, sig2]) is True
    assert blst.AggregateVerify([pk1, pk2], [m1, m2], blst.Aggregate([bad1, bad2])) is True
    assert blst.BatchVerify([pk1, pk2], [m1, m2], [bad1, bad2]) is False
    assert blst.BatchVerify([pk1, pk2], [m1, m2], [sig2, sig1]) is False
    assert blst.BatchVerify([pk1, pk2], [m1], [sig1, sig2]) is False


# --------------------------------------------------------------------------- KeyGen


def test_keygen_is_deterministic_and_matches_the_reference() -> None:
    # Given fixed input keying material
    ikm = bytes(range(32))
    # When keys are derived twice, with another ikm and with key_info
    sk = KeyGen(ikm)
    # Then the same ikm gives the same key, equal to py_ecc's, and anything else differs
    assert KeyGen(ikm) == sk
    assert sk == G2ProofOfPossession.KeyGen(ikm)
    assert KeyGen(ikm, b"validator-3") == G2ProofOfPossession.KeyGen(ikm, b"validator-3")
    assert len({sk, KeyGen(bytes(32)), KeyGen(ikm, b"validator-3")}) == 3
    assert 0 < sk < CURVE_ORDER


@pytest.mark.parametrize("ikm", [bytes(31), b"", "x" * 32, None])
def test_keygen_refuses_short_or_non_bytes_key_material(ikm: Any) -> None:
    # Given key material shorter than 32 bytes or not bytes / When KeyGen runs / Then BLSError
    with pytest.raises(BLSError, match="32 bytes"):
        KeyGen(ikm)


# --------------------------------------------------------------------------- selection


@pytest.fixture
def default_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever a test configures as the process default is undone afterwards."""
    monkeypatch.setattr(crypto, "_default", ["auto"])


@pytest.mark.parametrize(
    ("configured", "expected"),
    [("py_ecc", "py_ecc"), ("blst", "blst"), ("auto", "blst"), (None, "blst")],
)
def test_the_configured_default_selects_the_backend(
    default_backend: None, configured: str | None, expected: str
) -> None:
    # Given a process default configured (or not) and pyblst installed
    if configured is not None:
        configure(configured)
    # When the default backend is asked for / Then it is the configured one, cached
    assert backend().name == expected
    assert backend() is backend(expected)


def test_the_environment_does_not_select_the_backend(
    monkeypatch: pytest.MonkeyPatch, default_backend: None
) -> None:
    # Given the portal's variable set in the environment but nothing configured
    monkeypatch.setenv("LEDGER_BLS_BACKEND", "py_ecc")
    # When the default backend is asked for / Then the pure core ignored the environment
    assert backend().name == "blst"


def test_auto_falls_back_to_py_ecc_without_pyblst(
    monkeypatch: pytest.MonkeyPatch, default_backend: None
) -> None:
    # Given auto selection on a machine where pyblst cannot be imported
    configure("auto")
    monkeypatch.setattr(crypto, "_importable", lambda name: name != "blst")
    # When the default backend is asked for / Then it is the reference
    assert backend().name == "py_ecc"
    assert available_backends() == ["py_ecc"]


def test_auto_falls_back_to_py_ecc_when_pyblst_is_found_but_fails_to_load(
    monkeypatch: pytest.MonkeyPatch, default_backend: None
) -> None:
    # Given auto selection and a pyblst that is on the path but whose extension cannot load
    def broken() -> Any:
        raise ImportError("undefined symbol: blst_p1_uncompress")

    configure("auto")
    monkeypatch.setattr(crypto, "_instances", {})
    monkeypatch.setitem(crypto._FACTORIES, "blst", broken)
    # When the default backend is asked for / Then it is the reference, and naming blst fails
    assert backend().name == "py_ecc"
    with pytest.raises(BLSError, match="not installed: undefined symbol"):
        backend("blst")


@pytest.mark.parametrize("value", ["BLST", "pyecc", "none", " blst", ""])
def test_an_unknown_backend_name_raises_bls_error_and_keeps_the_default(
    default_backend: None, value: str
) -> None:
    # Given the py_ecc default configured
    configure("py_ecc")
    # When an unknown name is configured or passed directly / Then BLSError names the choices
    with pytest.raises(BLSError, match=r"unknown BLS backend.*auto, py_ecc, blst"):
        configure(value)
    with pytest.raises(BLSError, match=r"unknown BLS backend.*auto, py_ecc, blst"):
        backend(value)
    # and the default is still the one configured before
    assert backend().name == "py_ecc"


def test_the_ledger_app_configures_the_default_from_the_portal_setting(
    settings: Any, default_backend: None
) -> None:
    # Given the portal's LEDGER_BLS_BACKEND setting
    from django.apps import apps

    settings.LEDGER_BLS_BACKEND = "py_ecc"
    # When the ledger app gets ready / Then the setting is the process default
    apps.get_app_config("ledger").ready()
    assert backend().name == "py_ecc"


def test_both_backends_are_available_cached_and_implement_the_protocol() -> None:
    # Given the installed environment / When backends are listed and built
    # Then both exist, each is a singleton and satisfies the shared protocols
    assert available_backends() == ["py_ecc", "blst"]
    for name in BACKENDS:
        assert backend(name) is backend(name)
        assert backend(name).name == name
        assert isinstance(backend(name), Backend)
        assert isinstance(backend(name), BLSBackend)
