"""The simulated network: delay models, drops, duplication, reordering and healing partitions.

Addresses are *endpoints* (ints), not validator indexes: an honest validator ``i`` is endpoint
``i``; a Twins copy of validator ``i`` in an ``n``-validator scenario is endpoint ``n + i``. This is
what lets a partition put the two copies of one key on different sides.

All randomness comes from the ``random.Random`` passed in; the same seed gives the same fate (delay,
drop, duplicate) for every message.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "DelayModel",
    "FixedDelay",
    "LongTailDelay",
    "NetworkConfig",
    "NetworkStats",
    "Partition",
    "SimulatedNetwork",
    "UniformDelay",
]


class DelayModel(Protocol):
    """One-way latency of a message, in whole milliseconds (>= 0)."""

    def sample(self, rng: random.Random) -> int: ...


@dataclass(frozen=True)
class FixedDelay:
    """Every message takes exactly ``ms`` milliseconds (0: the pure-CPU benchmark setting)."""

    ms: int = 10

    def sample(self, rng: random.Random) -> int:
        return self.ms


@dataclass(frozen=True)
class UniformDelay:
    """Latency uniform in ``[low_ms, high_ms]``: messages routinely overtake each other."""

    low_ms: int = 5
    high_ms: int = 50

    def sample(self, rng: random.Random) -> int:
        return rng.randint(self.low_ms, self.high_ms)


@dataclass(frozen=True)
class LongTailDelay:
    """Mostly ``base_ms`` plus jitter; with ``tail_probability`` a Pareto-distributed straggler.

    Models the real-world shape where a few messages are very late (GC pauses, retransmits). The
    tail is capped at ``max_ms`` so that a run's length stays bounded.
    """

    base_ms: int = 10
    jitter_ms: int = 10
    tail_probability: float = 0.05
    tail_alpha: float = 1.5
    max_ms: int = 2_000

    def sample(self, rng: random.Random) -> int:
        delay = self.base_ms + rng.randint(0, self.jitter_ms)
        if rng.random() < self.tail_probability:
            delay = int(self.base_ms * rng.paretovariate(self.tail_alpha)) + delay
        return min(delay, self.max_ms)


@dataclass(frozen=True)
class NetworkConfig:
    """Per-message fault probabilities on top of a delay model."""

    delay: DelayModel = field(default_factory=FixedDelay)
    drop_probability: float = 0.0
    duplicate_probability: float = 0.0
    # A reordered message gets up to ``reorder_extra_ms`` of extra latency, so later messages on
    # the same link overtake it even under a fixed delay.
    reorder_probability: float = 0.0
    reorder_extra_ms: int = 100
    #: Global stabilisation time (partial synchrony): from this virtual time on no message is
    #: dropped any more. None: drops go on forever, and liveness is then only probabilistic (a
    #: lost proposal or vote costs its round, and with exactly a quorum of honest validators every
    #: loss does).
    gst_ms: int | None = None


@dataclass(frozen=True)
class Partition:
    """Between ``start_ms`` (inclusive) and ``heal_ms`` (exclusive) only endpoints of the same
    group can talk. Endpoints listed in no group form one more group together."""

    groups: tuple[frozenset[int], ...]
    start_ms: int
    heal_ms: int

    @staticmethod
    def of(groups: Iterable[Iterable[int]], *, start_ms: int, heal_ms: int) -> Partition:
        """Convenience constructor from plain iterables."""
        return Partition(tuple(frozenset(g) for g in groups), start_ms, heal_ms)

    def is_active(self, now_ms: int) -> bool:
        return self.start_ms <= now_ms < self.heal_ms

    def group_of(self, endpoint: int) -> int:
        for number, group in enumerate(self.groups):
            if endpoint in group:
                return number
        return len(self.groups)

    def separates(self, a: int, b: int, now_ms: int) -> bool:
        """True when the link ``a -> b`` is cut at ``now_ms``."""
        return self.is_active(now_ms) and self.group_of(a) != self.group_of(b)


@dataclass
class NetworkStats:
    """What happened to the messages handed to the network."""

    sent: int = 0
    delivered_copies: int = 0
    dropped: int = 0
    partitioned: int = 0
    duplicated: int = 0


class SimulatedNetwork:
    """Decides, at send time, when (if ever) each copy of a message arrives."""

    def __init__(
        self, config: NetworkConfig, partitions: Iterable[Partition], rng: random.Random
    ) -> None:
        self.config = config
        self.partitions = tuple(partitions)
        self.rng = rng
        self.stats = NetworkStats()

    @property
    def last_heal_ms(self) -> int:
        """When the last partition heals or drops stop (GST), whichever is later; 0 if neither."""
        gst = self.config.gst_ms if self.config.drop_probability > 0 else None
        return max([p.heal_ms for p in self.partitions] + [gst or 0])

    def is_cut(self, sender: int, recipient: int, now_ms: int) -> bool:
        """True when some active partition separates the two endpoints."""
        return any(p.separates(sender, recipient, now_ms) for p in self.partitions)

    def route(self, sender: int, recipient: int, now_ms: int) -> list[int]:
        """Arrival times of the copies of one message (empty when it is lost)."""
        self.stats.sent += 1
        if sender != recipient and self.is_cut(sender, recipient, now_ms):
            self.stats.partitioned += 1
            return []
        config = self.config
        # Draw every random number in a fixed order whatever the outcome, so that changing one
        # probability does not reshuffle the fate of all later messages.
        drop = self.rng.random() < config.drop_probability
        duplicate = self.rng.random() < config.duplicate_probability
        reorder = self.rng.random() < config.reorder_probability
        delays = [config.delay.sample(self.rng), config.delay.sample(self.rng)]
        extra = self.rng.randint(0, config.reorder_extra_ms) if config.reorder_extra_ms else 0
        if sender == recipient:
            # Loopback never crosses the network.
            self.stats.delivered_copies += 1
            return [now_ms]
        if drop and (config.gst_ms is None or now_ms < config.gst_ms):
            self.stats.dropped += 1
            return []
        if reorder:
            delays[0] += extra
        copies = [now_ms + delays[0]]
        if duplicate:
            self.stats.duplicated += 1
            copies.append(now_ms + delays[1])
        self.stats.delivered_copies += len(copies)
        return copies
