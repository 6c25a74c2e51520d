"""Crash faults: a schedule of crashes and restarts, and the simulated durable store.

A crashed replica loses everything in memory; what survives is what it persisted through
``PersistSafety`` effects, which the simulator applies to ``DurableStore`` *in effect order*, so a
vote that follows its ``PersistSafety`` in the effect list leaves only after the state is durable
(the rule the consensus interface promises). A restart builds a fresh ``Replica`` from the last
persisted ``SafetyState`` and lets it catch up from peers by sync.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Crash", "DurableStore"]

S = TypeVar("S")


@dataclass(frozen=True)
class Crash:
    """Validator ``index`` stops at ``at_ms`` and, unless ``restart_ms`` is None, restarts then."""

    index: int
    at_ms: int
    restart_ms: int | None = None


@dataclass
class DurableStore(Generic[S]):
    """Per-validator last persisted safety state (what a disk would hold)."""

    states: dict[int, S] = field(default_factory=dict)
    writes: int = 0

    def persist(self, index: int, state: S) -> None:
        """Make ``state`` durable for ``index`` (overwrites: only the latest matters)."""
        self.states[index] = state
        self.writes += 1

    def load(self, index: int) -> S | None:
        """The last persisted state, or None when the validator never persisted anything."""
        return self.states.get(index)
