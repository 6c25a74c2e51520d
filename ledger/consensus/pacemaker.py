"""The pacemaker: rounds, round timers with bounded exponential back-off, timeout certificates.

docs/ledger.md, "Pacemaker". A replica enters round r + 1 when it holds a QC or a TC for round r.
The timer of a round is ``base_timeout_ms * backoff_factor ** k``, capped at ``max_timeout_ms``,
where k is the number of rounds since the last QC (so the timer grows only while the network fails
to certify blocks, and snaps back on the first QC). When the timer fires the replica signs a
timeout for the round and re-broadcasts it each time the timer fires again, until the round ends.
"""

from __future__ import annotations

from .aggregation import TimeoutCollector
from .params import ProtocolParams
from .types import TimeoutCert, TimeoutMsg

__all__ = ["Pacemaker"]

#: Back-off exponent cap, so the arithmetic stays small; max_timeout_ms binds long before.
_MAX_BACKOFF_EXPONENT = 32


class Pacemaker:
    """Current round, its deadline, the TC that opened it, and the timeouts collected so far."""

    def __init__(self, params: ProtocolParams, round: int = 1) -> None:
        self.params = params
        self.round = round
        self.deadline_ms = 0
        #: The TC for ``round - 1`` when the round was entered through a timeout.
        self.last_tc: TimeoutCert | None = None
        #: This replica's own signed timeout for ``round`` (re-broadcast, never re-signed).
        self.my_timeout: TimeoutMsg | None = None
        self.timeouts = TimeoutCollector()

    def round_timeout_ms(self, round: int, high_qc_round: int) -> int:
        """Bounded exponential back-off by the number of rounds without a QC."""
        k = min(max(0, round - high_qc_round - 1), _MAX_BACKOFF_EXPONENT)
        p = self.params
        timeout: int = p.base_timeout_ms * p.backoff_factor**k
        return min(timeout, p.max_timeout_ms)

    def enter_round(
        self, round: int, now_ms: int, high_qc_round: int, tc: TimeoutCert | None
    ) -> int:
        """Move to ``round`` (entered through ``tc`` or a QC); returns the new deadline."""
        self.round = round
        self.last_tc = tc if tc is not None and tc.round == round - 1 else None
        self.my_timeout = None
        self.deadline_ms = now_ms + self.round_timeout_ms(round, high_qc_round)
        self.timeouts.prune_below(round)
        return self.deadline_ms

    def is_expired(self, now_ms: int) -> bool:
        return now_ms >= self.deadline_ms

    def rearm(self, now_ms: int, high_qc_round: int) -> int:
        """After a local timeout: fire again (re-broadcast) one round-timeout later."""
        self.deadline_ms = now_ms + self.round_timeout_ms(self.round, high_qc_round)
        return self.deadline_ms

    def snapshot(self) -> tuple[object, ...]:
        return (
            self.round,
            self.deadline_ms,
            None if self.last_tc is None else self.last_tc.hash,
            None if self.my_timeout is None else self.my_timeout.hash,
            self.timeouts.snapshot(),
        )
