"""The validator set of one epoch: keys validated once, decoded and aggregate keys cached.

Cost discipline (docs/ledger.md): a key is checked (KeyValidate + proof of possession) once,
when the set is built; afterwards a quorum certificate costs one aggregate-key lookup (cached per
signer bitmap) and one signature verification, whatever n is. Individual signatures are only
checked to find the culprit after an aggregate failed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from .errors import InvalidValidatorSet

if TYPE_CHECKING:
    from .crypto import Backend

__all__ = ["PUBKEY_SIZE", "SIGNATURE_SIZE", "ValidatorInfo", "ValidatorSet"]

PUBKEY_SIZE = 48
SIGNATURE_SIZE = 96
#: Aggregate keys kept per set; signer bitmaps repeat, so a small cache has a high hit rate.
_AGGREGATE_CACHE_SIZE = 1024


@dataclass(frozen=True)
class ValidatorInfo:
    """One validator: its position in the set, BLS public key, proof of possession and name."""

    index: int
    public_key: bytes
    proof_of_possession: bytes
    name: str = ""

    @classmethod
    def from_secret_key(
        cls, index: int, secret_key: int, crypto: Backend, name: str = ""
    ) -> ValidatorInfo:
        """Build the entry for a key we hold (tests, simulator, key ceremony)."""
        return cls(index, crypto.SkToPk(secret_key), crypto.PopProve(secret_key), name)


class ValidatorSet:
    """The validators of one epoch, in index order (``validators[i].index == i``)."""

    def __init__(
        self,
        validators: Sequence[ValidatorInfo],
        *,
        crypto: Backend,
        epoch: int,
        _already_validated: frozenset[tuple[bytes, bytes]] = frozenset(),
    ) -> None:
        members = tuple(validators)
        if not members:
            raise InvalidValidatorSet("a validator set needs at least one validator")
        if not isinstance(epoch, int) or epoch < 0:
            raise InvalidValidatorSet("epoch must be a non-negative integer")
        seen_keys: set[bytes] = set()
        for position, info in enumerate(members):
            if info.index != position:
                raise InvalidValidatorSet(
                    f"validator at position {position} has index {info.index}"
                )
            if (
                len(info.public_key) != PUBKEY_SIZE
                or len(info.proof_of_possession) != SIGNATURE_SIZE
            ):
                raise InvalidValidatorSet(f"validator {position}: wrong key or proof size")
            if info.public_key in seen_keys:
                raise InvalidValidatorSet(f"validator {position}: duplicate public key")
            seen_keys.add(info.public_key)
            if (info.public_key, info.proof_of_possession) in _already_validated:
                continue
            # The one and only validation of this key (subgroup check + proof of possession, which
            # is what makes aggregating keys safe against rogue-key attacks).
            if not crypto.KeyValidate(info.public_key):
                raise InvalidValidatorSet(f"validator {position}: invalid public key")
            if not crypto.PopVerify(info.public_key, info.proof_of_possession):
                raise InvalidValidatorSet(f"validator {position}: invalid proof of possession")
        self.validators = members
        self.crypto = crypto
        self.epoch = epoch
        self.n = len(members)
        self.f = (self.n - 1) // 3
        #: Smallest number of validators any two of which intersect in at least f + 1 (so in one
        #: honest validator): 2f + 1 when n = 3f + 1, and n - f in general.
        self.quorum = self.n - self.f
        self.bitmap_size = (self.n + 7) // 8
        self._aggregate_keys: dict[bytes, bytes] = {}

    # -- identity -------------------------------------------------------------------------------

    @cached_property
    def digest(self) -> bytes:
        """SHA-256 over the epoch and every (index, key, proof, name): names the set."""
        parts = [b"ALLIANCE-LEDGER/VALIDATOR-SET/V1\x00", self.epoch.to_bytes(8, "big")]
        parts.append(self.n.to_bytes(4, "big"))
        for info in self.validators:
            name = info.name.encode()
            parts += [info.index.to_bytes(4, "big"), info.public_key, info.proof_of_possession]
            parts += [len(name).to_bytes(4, "big"), name]
        return hashlib.sha256(b"".join(parts)).digest()

    def successor(self, validators: Sequence[ValidatorInfo], *, epoch: int) -> ValidatorSet:
        """The set of a later epoch; keys already validated in this set are not checked again."""
        known = frozenset((v.public_key, v.proof_of_possession) for v in self.validators)
        return ValidatorSet(validators, crypto=self.crypto, epoch=epoch, _already_validated=known)

    def leader(self, round: int) -> int:
        """Round-robin leader election over this epoch's set (docs/ledger.md, "Leaders")."""
        return round % self.n

    def public_key(self, index: int) -> bytes:
        return self.validators[index].public_key

    def __repr__(self) -> str:
        return f"ValidatorSet(epoch={self.epoch}, n={self.n}, digest={self.digest.hex()[:16]})"

    # -- bitmaps --------------------------------------------------------------------------------

    def bitmap_from_indices(self, indices: Iterable[int]) -> bytes:
        """Bit i (byte i // 8, bit i % 8, least significant first) is set for each index."""
        bits = bytearray(self.bitmap_size)
        for index in indices:
            if not 0 <= index < self.n:
                raise ValueError(f"validator index {index} out of range")
            bits[index // 8] |= 1 << (index % 8)
        return bytes(bits)

    def indices_from_bitmap(self, bitmap: bytes) -> tuple[int, ...]:
        """The signer indices, ascending; ValueError for a wrong length or bits past n."""
        if len(bitmap) != self.bitmap_size:
            raise ValueError("signer bitmap has the wrong length")
        indices = tuple(i for i in range(self.bitmap_size * 8) if bitmap[i // 8] >> (i % 8) & 1)
        if indices and indices[-1] >= self.n:
            raise ValueError("signer bitmap names a validator past the end of the set")
        return indices

    def is_quorum(self, bitmap: bytes) -> bool:
        """True when the bitmap is well formed and names at least ``quorum`` validators."""
        try:
            return len(self.indices_from_bitmap(bitmap)) >= self.quorum
        except ValueError:
            return False

    # -- signatures -----------------------------------------------------------------------------

    def aggregate_public_key(self, bitmap: bytes) -> bytes:
        """The aggregate of the signers' keys, computed once per bitmap (bounded cache)."""
        cached = self._aggregate_keys.get(bitmap)
        if cached is None:
            keys = [self.validators[i].public_key for i in self.indices_from_bitmap(bitmap)]
            if not keys:
                raise ValueError("empty signer bitmap")
            cached = self.crypto.AggregatePublicKeys(keys)
            if len(self._aggregate_keys) >= _AGGREGATE_CACHE_SIZE:
                self._aggregate_keys.pop(next(iter(self._aggregate_keys)))
            self._aggregate_keys[bitmap] = cached
        return cached

    def verify_aggregate(self, signers: bytes, message: bytes, signature: bytes) -> bool:
        """One verification of an aggregate signature of ``signers`` over one message."""
        if len(signature) != SIGNATURE_SIZE:
            return False
        try:
            key = self.aggregate_public_key(signers)
        except ValueError:  # malformed bitmap, or BLSError from the backend
            return False
        return bool(self.crypto.VerifyWithValidatedKey(key, message, signature))

    def verify_aggregate_multi(
        self, groups: Sequence[tuple[bytes, bytes]], signature: bytes
    ) -> bool:
        """Verify one aggregate over several (signer bitmap, message) groups.

        Used for timeout certificates, whose signers sign different high-QC rounds: signers with
        the same message are grouped, so the cost is one pairing per distinct message.
        """
        if not groups:
            return False
        if len(groups) == 1:
            return self.verify_aggregate(groups[0][0], groups[0][1], signature)
        if len(signature) != SIGNATURE_SIZE or len({m for _, m in groups}) != len(groups):
            return False
        try:
            keys = [self.aggregate_public_key(bitmap) for bitmap, _ in groups]
        except ValueError:
            return False
        return bool(self.crypto.AggregateVerify(keys, [m for _, m in groups], signature))

    def verify_single(self, index: int, message: bytes, signature: bytes) -> bool:
        """One validator's signature (a validated key: no subgroup re-check)."""
        if not 0 <= index < self.n or len(signature) != SIGNATURE_SIZE:
            return False
        key = self.validators[index].public_key
        return bool(self.crypto.VerifyWithValidatedKey(key, message, signature))

    def find_bad_signers(self, partials: Mapping[int, bytes], message: bytes) -> list[int]:
        """Indices whose partial signature over ``message`` is invalid (after a failure only)."""
        return sorted(i for i, sig in partials.items() if not self.verify_single(i, message, sig))

    def aggregate(self, signatures: Sequence[bytes]) -> bytes | None:
        """The aggregate signature, or None when a signature is malformed."""
        try:
            return bytes(self.crypto.Aggregate(list(signatures)))
        except ValueError:  # BLSError is a ValueError
            return None
