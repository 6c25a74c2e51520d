"""The replica-facing hooks: execute blocks speculatively by parent state root, prune on commit.

The consensus replica (``ledger.consensus.replica.Replica``) takes
``execute: Callable[[bytes, Sequence[bytes], int], bytes]`` (parent state root, encoded
transactions, the block header's ``timestamp_ms`` -> state root; must not raise) and
``on_reconfigure: Callable[[Block], ValidatorSet | None]``. Wire them as
``execute=executor.execute_root`` and, in the node, an ``on_reconfigure`` that calls
``executor.reconfiguration(block.header.state_root)`` and builds the consensus ``ValidatorSet`` of
epoch + 1 from the returned validators. States are kept by root: equal roots are equal states.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from ledger.state.errors import InvalidBlock, StateDivergence
from ledger.state.records import Receipt, Validator
from ledger.state.state import (
    MAX_BLOCK_BYTES,
    BlockProposal,
    State,
    apply_block,
    decode_transactions,
    propose_block,
)
from ledger.state.transactions import Transaction

__all__ = ["INVALID_STATE_ROOT", "ExecutionResult", "Executor"]

INVALID_STATE_ROOT = b""
"""What ``execute_root`` returns for a block that must be rejected. Block headers carry exactly 32
bytes of state root, so this value can never match one, even one chosen by a Byzantine leader."""


@dataclass(frozen=True)
class ExecutionResult:
    """The outcome of executing one block on a parent state."""

    state_root: bytes
    receipts: tuple[Receipt, ...]
    state: State


class Executor:
    """Speculative states of uncommitted blocks, keyed by state root, above one committed state."""

    def __init__(self, committed: State) -> None:
        self._committed = committed
        self._states: dict[bytes, State] = {committed.root: committed}
        self._receipts: dict[bytes, tuple[Receipt, ...]] = {committed.root: ()}
        # (parent root, payload) digest -> resulting root: a block is executed once per process.
        self._executed: dict[bytes, bytes] = {}

    @property
    def committed(self) -> State:
        return self._committed

    def state(self, root: bytes) -> State:
        """The state with this root; ``LookupError`` if it was never executed or was pruned."""
        try:
            return self._states[root]
        except KeyError:
            raise LookupError(f"no state with root {root.hex()}") from None

    def receipts(self, root: bytes) -> tuple[Receipt, ...]:
        """The receipts of the block whose execution produced ``root`` (with reasons)."""
        self.state(root)
        return self._receipts[root]

    def execute(
        self, parent_state_root: bytes, txs: Sequence[Transaction], timestamp_ms: int
    ) -> ExecutionResult:
        """Apply ``txs`` on the parent state at the block's header timestamp; raises
        ``InvalidBlock`` or ``LookupError``."""
        key = _block_key(parent_state_root, [tx.tx_hash for tx in txs], timestamp_ms)
        known = self._executed.get(key)
        if known is not None and known in self._states:
            return ExecutionResult(known, self._receipts[known], self._states[known])
        state, receipts = apply_block(self.state(parent_state_root), txs, timestamp_ms=timestamp_ms)
        self._remember(key, state, receipts)
        return ExecutionResult(state.root, receipts, state)

    def execute_root(
        self, parent_state_root: bytes, payload: Sequence[bytes], timestamp_ms: int
    ) -> bytes:
        """The replica's ``execute`` hook: never raises; ``INVALID_STATE_ROOT`` when the block
        is undecodable, carries a transaction invalid at the door, has a timestamp not after its
        parent's, or has an unknown parent."""
        try:
            hashes = [hashlib.sha256(data).digest() for data in payload]
            known = self.known_root(parent_state_root, hashes, timestamp_ms)
            if known is not None:
                return known
            txs = decode_transactions(payload)
            return self.execute(parent_state_root, txs, timestamp_ms).state_root
        except (InvalidBlock, LookupError):
            return INVALID_STATE_ROOT

    def known_root(
        self, parent_state_root: bytes, tx_hashes: Sequence[bytes], timestamp_ms: int
    ) -> bytes | None:
        """The state root of a block this executor already executed (by its transactions'
        hashes and timestamp) and still holds, else None: a caller can skip decoding."""
        known = self._executed.get(_block_key(parent_state_root, tx_hashes, timestamp_ms))
        return known if known is not None and known in self._states else None

    def propose(
        self,
        parent_state_root: bytes,
        candidates: Sequence[Transaction],
        *,
        timestamp_ms: int,
        max_block_bytes: int = MAX_BLOCK_BYTES,
        max_transactions: int | None = None,
    ) -> BlockProposal:
        """Fill a block on the parent state from mempool candidates (see ``propose_block``) and
        remember the result, so the replica's later ``execute_root`` of it is a cache hit."""
        proposal = propose_block(
            self.state(parent_state_root),
            candidates,
            timestamp_ms=timestamp_ms,
            max_block_bytes=max_block_bytes,
            max_transactions=max_transactions,
        )
        hashes = [tx.tx_hash for tx in proposal.transactions]
        key = _block_key(parent_state_root, hashes, timestamp_ms)
        self._remember(key, proposal.state, proposal.receipts)
        return proposal

    def execute_certified(
        self,
        parent_state_root: bytes,
        payload: Sequence[bytes],
        state_root: bytes,
        timestamp_ms: int,
    ) -> ExecutionResult:
        """Replay a block that arrived with a certificate (catch-up, sync): its transactions must
        reproduce the header's ``state_root``, else ``StateDivergence`` (this validator and the
        quorum disagree: stop and investigate, never vote on). Call it before ``reconfiguration``
        for blocks the replica committed without executing them."""
        result = self.execute(parent_state_root, decode_transactions(payload), timestamp_ms)
        if result.state_root != state_root:
            raise StateDivergence(
                f"replay gives {result.state_root.hex()}, the certified header says "
                f"{state_root.hex()}"
            )
        return result

    def reconfiguration(self, root: bytes) -> tuple[Validator, ...] | None:
        """For ``on_reconfigure``: the next epoch's validators if the block that produced
        ``root`` recorded validator-set changes (the epoch ends there once it commits).
        ``LookupError`` if ``root`` was never executed here (see ``execute_certified``)."""
        state = self.state(root)
        if not state.pending_validator_changes:
            return None
        return state.next_validator_set()

    def commit(self, root: bytes) -> State:
        """Mark ``root`` committed and forget states at or below its height (they can no longer
        be extended); descendants of ``root``, all higher, are kept. Call it on every commit, or
        speculative states accumulate."""
        committed = self.state(root)
        self._committed = committed
        keep = {r for r, s in self._states.items() if r == root or s.height > committed.height}
        self._states = {r: self._states[r] for r in keep}
        self._receipts = {r: self._receipts[r] for r in keep}
        self._executed = {k: r for k, r in self._executed.items() if r in keep}
        return committed

    def _remember(self, key: bytes, state: State, receipts: tuple[Receipt, ...]) -> None:
        self._executed[key] = state.root
        self._states[state.root] = state
        self._receipts[state.root] = receipts


def _block_key(parent_state_root: bytes, tx_hashes: Sequence[bytes], timestamp_ms: int) -> bytes:
    """Digest of (parent state root, timestamp, the block's transaction hashes): a transaction's
    hash is SHA-256 of its encoding, so decoded transactions give their precomputed ``tx_hash``.
    The timestamp is part of the key because the same transactions at another time may expire
    other holds or refuse a quote."""
    digest = hashlib.sha256(parent_state_root)
    digest.update(b"%d;" % timestamp_ms)  # any int (a bad one fails in apply_block, not here)
    for tx_hash in tx_hashes:
        digest.update(tx_hash)
    return digest.digest()
