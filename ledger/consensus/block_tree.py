"""The block tree: pending blocks above the last committed block, their QCs, the commit rule.

docs/ledger.md, "Commit rule" (DiemBFT v4 / Jolteon 2-chain): a block B is committed as soon as a
QC certifies a block B' whose parent is B and whose round is exactly ``B.round + 1``; committing B
commits all its uncommitted ancestors too. The tree is mutated only by the replica's apply phase;
``commit_candidates`` is a pure query the replica uses before assigning anything.
"""

from __future__ import annotations

from collections.abc import Sequence

from .types import (
    ZERO_HASH,
    Block,
    BlockHeader,
    CommitCert,
    CommittedBlock,
    QuorumCert,
    compute_payload_root,
)
from .validators import ValidatorSet

__all__ = ["BlockTree", "make_block", "make_genesis", "make_root_qc"]


def make_genesis(
    chain_id: bytes,
    validator_set: ValidatorSet,
    state_root: bytes = ZERO_HASH,
    timestamp_ms: int = 0,
) -> Block:
    """Height 0, round 0, no parent; its payload is the validator set digest, so the genesis hash
    names the chain and its first validator set."""
    payload = (validator_set.digest,)
    header = BlockHeader(
        chain_id=chain_id,
        epoch=validator_set.epoch,
        round=0,
        height=0,
        parent_hash=ZERO_HASH,
        payload_root=compute_payload_root(payload),
        state_root=state_root,
        proposer=0,
        timestamp_ms=timestamp_ms,
    )
    return Block(header, payload)


def make_block(
    *,
    chain_id: bytes,
    epoch: int,
    round: int,
    parent: Block,
    payload: Sequence[bytes],
    proposer: int,
    timestamp_ms: int,
    state_root: bytes | None = None,
) -> Block:
    """A child of ``parent`` (height + 1, payload root computed); ``state_root`` defaults to the
    parent's, which is what replicas without an ``execute`` callback expect."""
    txs = tuple(bytes(tx) for tx in payload)
    header = BlockHeader(
        chain_id=chain_id,
        epoch=epoch,
        round=round,
        height=parent.height + 1,
        parent_hash=parent.hash,
        payload_root=compute_payload_root(txs),
        state_root=parent.header.state_root if state_root is None else state_root,
        proposer=proposer,
        timestamp_ms=timestamp_ms,
    )
    return Block(header, txs)


def make_root_qc(epoch: int, root: Block) -> QuorumCert:
    """The unsigned certificate every replica synthesises for the root block of an epoch (genesis,
    or the reconfiguration block that ended the previous epoch)."""
    return QuorumCert(epoch, root.round, root.hash, b"", b"")


class BlockTree:
    """Blocks that extend the last committed block (``root``), and the QCs known for them."""

    def __init__(self, root: Block, root_qc: QuorumCert) -> None:
        self.root = root
        self.root_qc = root_qc
        self.high_qc = root_qc
        self._blocks: dict[bytes, Block] = {root.hash: root}
        self._qcs: dict[bytes, QuorumCert] = {root.hash: root_qc}

    def get(self, block_hash: bytes) -> Block | None:
        return self._blocks.get(block_hash)

    def __contains__(self, block_hash: bytes) -> bool:
        return block_hash in self._blocks

    def get_qc(self, block_hash: bytes) -> QuorumCert | None:
        return self._qcs.get(block_hash)

    def insert_block(self, block: Block) -> None:
        """Add a block whose parent is in the tree (checked by the caller)."""
        self._blocks.setdefault(block.hash, block)

    def insert_qc(self, qc: QuorumCert) -> None:
        """Record a verified QC for a block in the tree; the highest becomes ``high_qc``."""
        if qc.block_hash not in self._blocks:
            return
        self._qcs.setdefault(qc.block_hash, qc)
        if qc.round > self.high_qc.round:
            self.high_qc = qc

    def path_to(self, block_hash: bytes) -> list[Block] | None:
        """Blocks from just above the root up to ``block_hash`` (inclusive), or None."""
        path: list[Block] = []
        current = self._blocks.get(block_hash)
        while current is not None and current.hash != self.root.hash:
            path.append(current)
            current = self._blocks.get(current.parent_hash)
        if current is None:
            return None
        path.reverse()
        return path

    def commit_candidates(self, qc: QuorumCert) -> list[CommittedBlock]:
        """The blocks ``qc`` would commit, in height order, each with its CommitCert."""
        child = self._blocks.get(qc.block_hash)
        if child is None or child.hash == self.root.hash:
            return []
        parent = self._blocks.get(child.parent_hash)
        if parent is None or parent.hash == self.root.hash or parent.round + 1 != child.round:
            return []
        path = self.path_to(child.hash)
        if path is None:
            return []
        # path = [..., parent, child]; every block but the child is committed. A block's
        # certificate carries the headers from its own child up to ``child``.
        committed = []
        for position, block in enumerate(path[:-1]):
            headers = tuple(b.header for b in path[position + 1 :])
            committed.append(CommittedBlock(block, CommitCert(headers, qc)))
        return committed

    def advance_root(self, block: Block) -> None:
        """Make a committed block the root; forget everything that does not extend it."""
        children: dict[bytes, list[bytes]] = {}
        for h, b in self._blocks.items():
            children.setdefault(b.parent_hash, []).append(h)
        keep = {block.hash}
        stack = [block.hash]
        while stack:
            for child in children.get(stack.pop(), []):
                keep.add(child)
                stack.append(child)
        self._blocks = {h: b for h, b in self._blocks.items() if h in keep}
        self._blocks[block.hash] = block
        self._qcs = {h: q for h, q in self._qcs.items() if h in keep}
        self.root = block

    def pending(self) -> list[Block]:
        """Blocks above the root, by height."""
        return sorted(
            (b for b in self._blocks.values() if b.hash != self.root.hash),
            key=lambda b: (b.height, b.round),
        )

    def snapshot(self) -> tuple[object, ...]:
        return (
            self.root.hash,
            self.high_qc.hash,
            tuple(sorted(self._blocks)),
            tuple(sorted(q.hash for q in self._qcs.values())),
        )
