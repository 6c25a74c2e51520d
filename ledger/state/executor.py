"""The replica-facing hook: execute blocks speculatively by parent state root, prune on commit.

The consensus replica calls ``execute(parent_state_root, txs)`` when it validates or builds a
proposal, compares the result with the root in the block header, and calls ``commit(root)`` when
the block commits. States are kept by root: equal roots are equal states, whatever the path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ledger.state.records import Receipt
from ledger.state.state import State, apply_block
from ledger.state.transactions import Transaction

__all__ = ["ExecutionResult", "Executor"]


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

    @property
    def committed(self) -> State:
        return self._committed

    def state(self, root: bytes) -> State:
        """The state with this root; ``LookupError`` if it was never executed or was pruned."""
        try:
            return self._states[root]
        except KeyError:
            raise LookupError(f"no state with root {root.hex()}") from None

    def execute(
        self, parent_state_root: bytes, txs: Sequence[Transaction], *, begin_epoch: bool = False
    ) -> ExecutionResult:
        """Apply ``txs`` on the parent state; raises ``InvalidBlock`` or ``LookupError``."""
        state, receipts = apply_block(self.state(parent_state_root), txs, begin_epoch=begin_epoch)
        self._states[state.root] = state
        return ExecutionResult(state.root, receipts, state)

    def commit(self, root: bytes) -> State:
        """Mark ``root`` committed and forget states at or below its height (they can no longer
        be extended); descendants of ``root``, all higher, are kept."""
        committed = self.state(root)
        self._committed = committed
        self._states = {
            r: s for r, s in self._states.items() if r == root or s.height > committed.height
        }
        return committed
