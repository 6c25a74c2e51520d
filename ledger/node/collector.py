"""Garbage collection for a validator: freeze what lives, one full collection now and then.

CPython's full collections scan every tracked object; the state grows with the chain (every
anchor, account, grant is a few objects), so they stalled a validator's loop for 150-760 ms every
few seconds under load (measured with a gc callback at 2,000 tx/s), which was most of the p99
finality. So each commit freezes what is alive (``gc.freeze``: moved to the permanent generation,
never scanned again; reference counting still frees it when it dies) and young collections only
see new objects. The price: a reference cycle frozen while alive is not collected when it dies;
one full collection every ``full_gc_every_s`` reclaims those (a pause, but one in minutes instead
of one every few seconds).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

__all__ = ["FullCollector"]

logger = logging.getLogger(__name__)


class FullCollector:
    """Runs one full collection every ``every_s`` seconds on the running loop; ``stats`` holds
    the figures ``GET /v1/status`` shows."""

    def __init__(self, *, index: int, every_s: float) -> None:
        self._index = index
        self._every_s = every_s
        self._timer: asyncio.TimerHandle | None = None
        self.stats: dict[str, float] = {"full_collections": 0, "last_pause_ms": 0.0}

    def start(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self._every_s, self.collect)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def collect(self) -> None:
        started = time.perf_counter()
        gc.unfreeze()
        collected = gc.collect()
        gc.freeze()
        pause_ms = 1000 * (time.perf_counter() - started)
        self.stats["full_collections"] += 1
        self.stats["last_pause_ms"] = round(pause_ms, 1)
        self.stats["last_collected"] = collected
        logger.info(
            "validator %d: full collection freed %d objects in %.0f ms",
            self._index, collected, pause_ms,
        )  # fmt: skip
        self.start()
