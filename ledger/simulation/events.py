"""Virtual time for the simulator: a clock that only moves when told, and a priority event queue.

Nothing here reads a real clock: the simulator advances ``VirtualClock`` to the time of the next
event popped from ``EventQueue``. Ties are broken by insertion order, so a run is a pure function
of its seed (TigerBeetle's simulator makes the same choice).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["EventQueue", "SimulationError", "VirtualClock"]

T = TypeVar("T")


class SimulationError(RuntimeError):
    """The simulator itself was driven incorrectly (a bug in a scenario, not in a replica)."""


@dataclass
class VirtualClock:
    """Milliseconds since the start of the scenario; never goes backwards."""

    now_ms: int = 0

    def advance_to(self, at_ms: int) -> None:
        """Move the clock forward to ``at_ms``; raises SimulationError on a step back in time."""
        if at_ms < self.now_ms:
            raise SimulationError(f"clock cannot go back from {self.now_ms} to {at_ms}")
        self.now_ms = at_ms


@dataclass(order=True)
class _Entry(Generic[T]):
    at_ms: int
    sequence: int
    item: T = field(compare=False)


class EventQueue(Generic[T]):
    """A min-heap of ``(at_ms, item)``; equal times pop in the order they were pushed."""

    def __init__(self) -> None:
        self._heap: list[_Entry[T]] = []
        self._sequence = 0

    def push(self, at_ms: int, item: T) -> None:
        """Schedule ``item`` at virtual time ``at_ms``."""
        heapq.heappush(self._heap, _Entry(at_ms, self._sequence, item))
        self._sequence += 1

    def pop(self) -> tuple[int, T]:
        """Remove and return the earliest event; raises SimulationError when empty."""
        if not self._heap:
            raise SimulationError("pop from an empty event queue")
        entry = heapq.heappop(self._heap)
        return entry.at_ms, entry.item

    def peek_time(self) -> int | None:
        """Time of the earliest event, or None when the queue is empty."""
        return self._heap[0].at_ms if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)
