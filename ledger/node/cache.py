"""The blocks and quorum certificates a validator keeps beside its replica.

Blocks (by hash) are kept as parents, to rebuild a state that was never executed here and to
replay commits; QCs (by the hash of the block they certify) justify the certified chain the node
persists above its tip. Both are bounded: blocks below the last commit and QCs for blocks the
replica forgot are pruned.
"""

from __future__ import annotations

from collections.abc import Callable

from ledger.consensus import Block, Message, Proposal, QuorumCert, SyncResponse, TimeoutMsg

__all__ = ["BlockCache"]

#: Past this many QCs, those whose block the replica no longer holds are dropped.
_MAX_QCS = 256


class BlockCache:
    """Blocks by hash and QCs by certified block hash; see the module docstring."""

    def __init__(self) -> None:
        self._blocks: dict[bytes, Block] = {}
        self._qcs: dict[bytes, QuorumCert] = {}

    def add_block(self, block: Block) -> None:
        self._blocks[block.hash] = block

    def block(self, block_hash: bytes) -> Block | None:
        return self._blocks.get(block_hash)

    def parent(self, block: Block) -> Block | None:
        return self._blocks.get(block.parent_hash)

    def blocks_by_state_root(self) -> dict[bytes, Block]:
        return {b.header.state_root: b for b in self._blocks.values()}

    def add_qc(self, qc: QuorumCert) -> None:
        self._qcs[qc.block_hash] = qc

    def qc_for(self, block_hash: bytes) -> QuorumCert | None:
        return self._qcs.get(block_hash)

    def learn(self, message: Message) -> None:
        """Remember the QCs and blocks a message carries."""
        if isinstance(message, Proposal):
            self.add_qc(message.qc)
            self._blocks.setdefault(message.block.hash, message.block)
        elif isinstance(message, TimeoutMsg):
            self.add_qc(message.high_qc)
        elif isinstance(message, SyncResponse):
            for item in message.committed:
                self._blocks.setdefault(item.block.hash, item.block)
            for entry in message.certified:
                self._qcs[entry.block.hash] = entry.qc
                self._blocks.setdefault(entry.block.hash, entry.block)

    def prune_blocks_below(self, height: int) -> None:
        self._blocks = {h: b for h, b in self._blocks.items() if b.height >= height}

    def prune_qcs(self, is_known: Callable[[bytes], bool]) -> None:
        """Past the bound, keep only the QCs whose block ``is_known`` (to the replica)."""
        if len(self._qcs) > _MAX_QCS:
            self._qcs = {h: q for h, q in self._qcs.items() if is_known(h)}
