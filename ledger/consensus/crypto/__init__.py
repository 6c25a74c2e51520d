"""BLS signatures for the ledger: one facade, two interchangeable backends.

Layout
    This facade holds the constants, ``BLSError``, the ``Backend``/``BLSBackend`` protocols,
    backend selection and ``KeyGen``; ``_common`` the input checks and ``_Ciphersuite`` (the
    boundary both backends share); ``_py_ecc`` and ``_blst`` one backend each. Import from
    ``ledger.consensus.crypto`` only.

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
                  which this package builds the same ciphersuite (~1 ms Verify). Byte-identical
                  to py_ecc; both pass the Ethereum conformance vectors
                  (tests/ledger/consensus/test_bls_vectors.py).
    ``backend()`` with no name uses the process default that ``configure(name)`` set (``auto``
    until then: blst when importable, else py_ecc; ``py_ecc``; ``blst``). Anything else raises
    ``BLSError``. This package reads no environment: the Django app passes
    ``settings.LEDGER_BLS_BACKEND`` in ``ready()``, ``python -m ledger.node`` the variable of the
    same name. Beyond ``Backend``,
    both offer ``BatchVerify`` (catch-up), ``SignatureValidate``, ``PointValidateG1`` and
    ``hash_to_G2`` (conformance vectors): the ``BLSBackend`` protocol.

Malformed input
    Verify-style operations (``Verify``, ``*AggregateVerify``, ``KeyValidate``, ``PopVerify``,
    ``BatchVerify``, ...) return ``False`` for any malformed input (wrong type or length, not on
    the curve, not in the subgroup, non-canonical flags, x >= p, identity public key). Operations
    that must produce bytes (``SkToPk``, ``Sign``, ``Aggregate``, ``AggregatePublicKeys``,
    ``PopProve``, ``KeyGen``) raise ``BLSError``. No other exception crosses this boundary.

Cost discipline (py_ecc Verify costs ~260 ms, blst ~1 ms; docs/ledger.md, Cost discipline)
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

import hashlib
import hmac
import threading
from collections.abc import Callable, Sequence
from typing import Final, Protocol, runtime_checkable

__all__ = [
    "CIPHERSUITE",
    "CURVE_ORDER",
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
    "configure",
]

SIGNATURE_SIZE: Final = 96
PUBKEY_SIZE: Final = 48
CIPHERSUITE: Final = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
POP_TAG: Final = b"BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
CURVE_ORDER: Final = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
IDENTITY_PUBKEY: Final = b"\xc0" + bytes(PUBKEY_SIZE - 1)
IDENTITY_SIGNATURE: Final = b"\xc0" + bytes(SIGNATURE_SIZE - 1)


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


# --------------------------------------------------------------------------- selection

# The backends import the definitions above from this package, hence imports this late.
from ._blst import _BlstBackend  # noqa: E402
from ._common import _Ciphersuite  # noqa: E402
from ._py_ecc import _PyEccBackend  # noqa: E402

_FACTORIES: Final[dict[str, Callable[[], _Ciphersuite]]] = {
    "py_ecc": _PyEccBackend,
    "blst": _BlstBackend,
}
_IMPORT_NAMES: Final = {"py_ecc": "py_ecc.bls", "blst": "pyblst"}
_CHOICES: Final = ("auto", "py_ecc", "blst")
_instances: dict[str, BLSBackend] = {}
_lock = threading.Lock()
#: The process default of ``backend()``: one entry, replaced by ``configure``.
_default: list[str] = ["auto"]


def _importable(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(_IMPORT_NAMES[name]) is not None
    except (ImportError, ValueError):
        return False


def available_backends() -> list[str]:
    """Names of the backends whose library is installed, reference first."""
    return [name for name in _FACTORIES if _importable(name)]


def _check_name(name: object) -> str:
    if not isinstance(name, str) or name not in _CHOICES:
        raise BLSError(f"unknown BLS backend {name!r}; expected one of {', '.join(_CHOICES)}")
    return name


def configure(name: str) -> None:
    """Set the backend ``backend()`` returns when called without a name, for this process.

    ``name`` is ``auto``, ``py_ecc`` or ``blst`` (BLSError otherwise); whoever starts the process
    passes its setting here, since the pure core reads no environment.
    """
    checked = _check_name(name)
    with _lock:
        _default[0] = checked


def backend(name: str | None = None) -> BLSBackend:
    """The cached backend ``name``; None means the default set by ``configure`` (``auto``).

    ``auto`` is blst when pyblst imports, else py_ecc. BLSError for any other name or for a
    named backend whose library is missing.
    """
    if name is None:
        name = _default[0]
    _check_name(name)
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
