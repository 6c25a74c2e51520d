"""Consensus values and their canonical encoding (docs/ledger.md, "Messages" and "Encoding").

Every value is a frozen dataclass. ``encode(value)`` is a one-byte type tag followed by the fields
in declaration order (u64 for epochs, rounds, heights and timestamps; u32 for validator indices and
lengths; 32 raw bytes for hashes; u32-length-prefixed byte strings; a 0/1 flag before an optional
value). ``decode`` accepts exactly the bytes ``encode`` produces. The digest of a value is
``SHA-256(encode(value))`` and is computed once per object (``functools.cached_property``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, TypeVar, Union

from .encoding import Reader, Writer
from .errors import DecodeError

__all__ = [
    "HASH_SIZE",
    "ZERO_HASH",
    "Block",
    "BlockHeader",
    "CertifiedBlock",
    "CommitCert",
    "CommittedBlock",
    "Message",
    "Proposal",
    "QuorumCert",
    "SyncRequest",
    "SyncResponse",
    "TimeoutCert",
    "TimeoutMsg",
    "Vote",
    "compute_payload_root",
    "decode",
    "encode",
]

HASH_SIZE = 32
ZERO_HASH = bytes(HASH_SIZE)

T = TypeVar("T")


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def compute_payload_root(payload: Sequence[bytes]) -> bytes:
    """Merkle root over the transactions (RFC 6962 Merkle Tree Hash).

    Leaf ``SHA-256(0x00 || tx)``, node ``SHA-256(0x01 || left || right)``, the split point is the
    largest power of two smaller than the number of leaves; the empty payload hashes to
    ``SHA-256(b"")``.
    """
    level = [_sha256(b"\x00" + tx) for tx in payload]
    if not level:
        return _sha256(b"")
    return _mth(level)


def _mth(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    return _sha256(b"\x01" + _mth(leaves[:split]) + _mth(leaves[split:]))


class _Value:
    """Shared behaviour: canonical bytes and the cached digest."""

    _TAG: ClassVar[int]

    def _write(self, w: Writer) -> None:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    @cached_property
    def encoded(self) -> bytes:
        """The canonical encoding (type tag + fields), computed once."""
        w = Writer()
        w.u8(self._TAG)
        self._write(w)
        return w.getvalue()

    @cached_property
    def hash(self) -> bytes:
        """``SHA-256(encode(self))``, computed once per object."""
        return _sha256(self.encoded)


def _optional(w: Writer, value: _Value | None) -> None:
    w.flag(value is not None)
    if value is not None:
        value._write(w)


def _read_optional(r: Reader, read: Callable[[Reader], T]) -> T | None:
    return read(r) if r.flag() else None


def _read_tuple(r: Reader, read: Callable[[Reader], T]) -> tuple[T, ...]:
    return tuple(read(r) for _ in range(r.count()))


@dataclass(frozen=True)
class BlockHeader(_Value):
    """What validators vote on; the block hash is this header's digest."""

    _TAG: ClassVar[int] = 1
    chain_id: bytes
    epoch: int
    round: int
    height: int
    parent_hash: bytes
    payload_root: bytes
    state_root: bytes
    proposer: int
    timestamp_ms: int

    def _write(self, w: Writer) -> None:
        w.var(self.chain_id)
        w.u64(self.epoch)
        w.u64(self.round)
        w.u64(self.height)
        w.fixed(self.parent_hash, HASH_SIZE)
        w.fixed(self.payload_root, HASH_SIZE)
        w.fixed(self.state_root, HASH_SIZE)
        w.u32(self.proposer)
        w.u64(self.timestamp_ms)

    @classmethod
    def _read(cls, r: Reader) -> BlockHeader:
        return cls(
            chain_id=r.var(),
            epoch=r.u64(),
            round=r.u64(),
            height=r.u64(),
            parent_hash=r.fixed(HASH_SIZE),
            payload_root=r.fixed(HASH_SIZE),
            state_root=r.fixed(HASH_SIZE),
            proposer=r.u32(),
            timestamp_ms=r.u64(),
        )


@dataclass(frozen=True)
class Block(_Value):
    """A header and its payload (opaque transaction bytes, bound by ``header.payload_root``)."""

    _TAG: ClassVar[int] = 2
    header: BlockHeader
    payload: tuple[bytes, ...] = ()

    @property
    def hash(self) -> bytes:
        """The block hash is the header digest (the payload is bound through the payload root)."""
        return self.header.hash

    @property
    def epoch(self) -> int:
        return self.header.epoch

    @property
    def round(self) -> int:
        return self.header.round

    @property
    def height(self) -> int:
        return self.header.height

    @property
    def parent_hash(self) -> bytes:
        return self.header.parent_hash

    @cached_property
    def payload_bytes(self) -> int:
        """Total size of the transactions."""
        return sum(len(tx) for tx in self.payload)

    def is_payload_consistent(self) -> bool:
        """True when the payload hashes to the header's payload root."""
        return compute_payload_root(self.payload) == self.header.payload_root

    def _write(self, w: Writer) -> None:
        self.header._write(w)
        w.u32(len(self.payload))
        for tx in self.payload:
            w.var(tx)

    @classmethod
    def _read(cls, r: Reader) -> Block:
        return cls(header=BlockHeader._read(r), payload=_read_tuple(r, Reader.var))


@dataclass(frozen=True)
class QuorumCert(_Value):
    """2f+1 votes for ``block_hash``: signer bitmap + one aggregate BLS signature.

    The root certificate of an epoch (genesis, or the reconfiguration block that opened it) has
    an empty bitmap and an empty signature; replicas synthesise it locally and never accept it from
    the network for any other block.
    """

    _TAG: ClassVar[int] = 3
    epoch: int
    round: int
    block_hash: bytes
    signers: bytes
    signature: bytes

    def _write(self, w: Writer) -> None:
        w.u64(self.epoch)
        w.u64(self.round)
        w.fixed(self.block_hash, HASH_SIZE)
        w.var(self.signers)
        w.var(self.signature)

    @classmethod
    def _read(cls, r: Reader) -> QuorumCert:
        return cls(
            epoch=r.u64(), round=r.u64(), block_hash=r.fixed(HASH_SIZE), signers=r.var(),
            signature=r.var(),
        )  # fmt: skip


@dataclass(frozen=True)
class TimeoutCert(_Value):
    """2f+1 timeouts for ``round``; ``high_qc_rounds[i]`` is the i-th signer's reported high QC."""

    _TAG: ClassVar[int] = 4
    epoch: int
    round: int
    signers: bytes
    high_qc_rounds: tuple[int, ...]
    signature: bytes

    @property
    def max_high_qc_round(self) -> int:
        """The highest QC round any signer reported (the lock a new leader must respect)."""
        return max(self.high_qc_rounds, default=0)

    def _write(self, w: Writer) -> None:
        w.u64(self.epoch)
        w.u64(self.round)
        w.var(self.signers)
        w.u32(len(self.high_qc_rounds))
        for value in self.high_qc_rounds:
            w.u64(value)
        w.var(self.signature)

    @classmethod
    def _read(cls, r: Reader) -> TimeoutCert:
        return cls(
            epoch=r.u64(), round=r.u64(), signers=r.var(),
            high_qc_rounds=_read_tuple(r, Reader.u64), signature=r.var(),
        )  # fmt: skip


@dataclass(frozen=True)
class CommitCert(_Value):
    """Proof that a block is committed (docs/ledger.md, "Commit certificate").

    ``headers`` is the chain of descendants from the committed block's child up to a block ``C'``
    whose parent ``C`` has round ``C'.round - 1``; ``qc`` certifies ``C'``. ``C`` is the block the
    2-chain rule commits; the block being proven is ``C`` itself (one header) or an ancestor.
    """

    _TAG: ClassVar[int] = 5
    headers: tuple[BlockHeader, ...]
    qc: QuorumCert

    def _write(self, w: Writer) -> None:
        w.u32(len(self.headers))
        for header in self.headers:
            header._write(w)
        self.qc._write(w)

    @classmethod
    def _read(cls, r: Reader) -> CommitCert:
        return cls(headers=_read_tuple(r, BlockHeader._read), qc=QuorumCert._read(r))


@dataclass(frozen=True)
class Proposal(_Value):
    """The leader's block for a round, justified by the parent's QC (and a TC after a timeout)."""

    _TAG: ClassVar[int] = 6
    block: Block
    qc: QuorumCert
    tc: TimeoutCert | None = None

    def _write(self, w: Writer) -> None:
        self.block._write(w)
        self.qc._write(w)
        _optional(w, self.tc)

    @classmethod
    def _read(cls, r: Reader) -> Proposal:
        return cls(
            block=Block._read(r), qc=QuorumCert._read(r),
            tc=_read_optional(r, TimeoutCert._read),
        )  # fmt: skip


@dataclass(frozen=True)
class Vote(_Value):
    """A validator's signature over the vote signing root of a block; sent to the next leader."""

    _TAG: ClassVar[int] = 7
    epoch: int
    round: int
    block_hash: bytes
    voter: int
    signature: bytes

    def _write(self, w: Writer) -> None:
        w.u64(self.epoch)
        w.u64(self.round)
        w.fixed(self.block_hash, HASH_SIZE)
        w.u32(self.voter)
        w.var(self.signature)

    @classmethod
    def _read(cls, r: Reader) -> Vote:
        return cls(
            epoch=r.u64(), round=r.u64(), block_hash=r.fixed(HASH_SIZE), voter=r.u32(),
            signature=r.var(),
        )  # fmt: skip


@dataclass(frozen=True)
class TimeoutMsg(_Value):
    """A validator gives up on ``round``; signs (round, high_qc.round) and shows its high QC."""

    _TAG: ClassVar[int] = 8
    epoch: int
    round: int
    author: int
    high_qc: QuorumCert
    last_tc: TimeoutCert | None
    signature: bytes

    def _write(self, w: Writer) -> None:
        w.u64(self.epoch)
        w.u64(self.round)
        w.u32(self.author)
        self.high_qc._write(w)
        _optional(w, self.last_tc)
        w.var(self.signature)

    @classmethod
    def _read(cls, r: Reader) -> TimeoutMsg:
        return cls(
            epoch=r.u64(), round=r.u64(), author=r.u32(), high_qc=QuorumCert._read(r),
            last_tc=_read_optional(r, TimeoutCert._read), signature=r.var(),
        )  # fmt: skip


@dataclass(frozen=True)
class SyncRequest(_Value):
    """Ask a peer for the blocks after ``committed_height`` up to (at least) ``target_hash``."""

    _TAG: ClassVar[int] = 9
    epoch: int
    committed_height: int
    target_hash: bytes

    def _write(self, w: Writer) -> None:
        w.u64(self.epoch)
        w.u64(self.committed_height)
        w.fixed(self.target_hash, HASH_SIZE)

    @classmethod
    def _read(cls, r: Reader) -> SyncRequest:
        return cls(epoch=r.u64(), committed_height=r.u64(), target_hash=r.fixed(HASH_SIZE))


@dataclass(frozen=True)
class CommittedBlock(_Value):
    """A committed block with the certificate that proves it."""

    _TAG: ClassVar[int] = 11
    block: Block
    cert: CommitCert

    def _write(self, w: Writer) -> None:
        self.block._write(w)
        self.cert._write(w)

    @classmethod
    def _read(cls, r: Reader) -> CommittedBlock:
        return cls(block=Block._read(r), cert=CommitCert._read(r))


@dataclass(frozen=True)
class CertifiedBlock(_Value):
    """A not-yet-committed block with the QC that certifies it."""

    _TAG: ClassVar[int] = 12
    block: Block
    qc: QuorumCert

    def _write(self, w: Writer) -> None:
        self.block._write(w)
        self.qc._write(w)

    @classmethod
    def _read(cls, r: Reader) -> CertifiedBlock:
        return cls(block=Block._read(r), qc=QuorumCert._read(r))


@dataclass(frozen=True)
class SyncResponse(_Value):
    """Committed blocks in height order, then certified pending blocks extending them."""

    _TAG: ClassVar[int] = 10
    committed: tuple[CommittedBlock, ...] = ()
    certified: tuple[CertifiedBlock, ...] = ()

    def _write(self, w: Writer) -> None:
        w.u32(len(self.committed))
        for item in self.committed:
            item._write(w)
        w.u32(len(self.certified))
        for entry in self.certified:
            entry._write(w)

    @classmethod
    def _read(cls, r: Reader) -> SyncResponse:
        return cls(
            committed=_read_tuple(r, CommittedBlock._read),
            certified=_read_tuple(r, CertifiedBlock._read),
        )


Message = Union[Proposal, Vote, TimeoutMsg, SyncRequest, SyncResponse]  # noqa: UP007

_TYPES: dict[int, Any] = {
    cls._TAG: cls
    for cls in (
        BlockHeader, Block, QuorumCert, TimeoutCert, CommitCert, Proposal, Vote, TimeoutMsg,
        SyncRequest, SyncResponse, CommittedBlock, CertifiedBlock,
    )
}  # fmt: skip


def encode(value: _Value) -> bytes:
    """The canonical bytes of any consensus value."""
    return value.encoded


def decode(data: bytes) -> Any:
    """The value whose canonical encoding is ``data``; raises DecodeError otherwise."""
    r = Reader(data)
    cls = _TYPES.get(r.u8())
    if cls is None:
        raise DecodeError("unknown type tag")
    value = cls._read(r)
    r.finish()
    return value
