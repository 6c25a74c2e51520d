"""Protocol constants (docs/ledger.md, "Constants")."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ProtocolParams"]


@dataclass(frozen=True)
class ProtocolParams:
    """Tunable constants of the protocol; every replica of a chain must use the same values.

    Times are milliseconds of the caller's clock (``now_ms``); the core never reads a clock.
    """

    #: Round timeout when the previous round ended with a QC.
    base_timeout_ms: int = 1_000
    #: Upper bound of the exponentially backed-off round timeout.
    max_timeout_ms: int = 60_000
    #: Multiplier per round without a QC (bounded exponential back-off).
    backoff_factor: int = 2
    #: A proposal whose timestamp exceeds the receiver's ``now_ms`` by more than this is rejected.
    max_clock_drift_ms: int = 5_000
    #: Limits on a block payload (sum of transaction sizes, and count).
    max_block_bytes: int = 1_000_000
    max_block_txs: int = 10_000
    #: Votes and timeouts for rounds further than this past the current round are rejected
    #: (``FutureMessage``), which bounds the memory a Byzantine flood can use.
    max_round_lookahead: int = 1_000
    #: At most this many blocks per SyncResponse (committed + pending).
    sync_max_blocks: int = 100
    #: A replica re-sends an unanswered SyncRequest only after this long.
    sync_retry_ms: int = 1_000

    def __post_init__(self) -> None:
        if self.base_timeout_ms <= 0 or self.max_timeout_ms < self.base_timeout_ms:
            raise ValueError("need 0 < base_timeout_ms <= max_timeout_ms")
        if self.backoff_factor < 1:
            raise ValueError("backoff_factor must be >= 1")
        if min(self.max_clock_drift_ms, self.max_round_lookahead, self.sync_retry_ms) < 0:
            raise ValueError("drift, look-ahead and retry must be >= 0")
        if self.max_block_bytes <= 0 or self.max_block_txs <= 0 or self.sync_max_blocks <= 0:
            raise ValueError("block and sync limits must be positive")
