"""Replicas under a seeded unfriendly network: delays, reordering, loss, duplicates, a crash.

A small complement to ledger/simulation (which runs thousands of seeds and Byzantine behaviours):
a few seeds here keep the replica's own test suite honest about safety and liveness.
"""

from __future__ import annotations

import heapq
import random

import pytest

from ledger.consensus import InvalidMessage
from tests.ledger.consensus.support import Driver, make_replica, validator_set


def run_schedule(seed: int, *, steps: int = 1_500, n: int = 4) -> Driver:
    """Deliver each message after a random delay (1-300 ms), drop 10 %, duplicate 5 %; crash one
    replica for a while and restart it from its persisted safety state."""
    rng = random.Random(seed)
    driver = Driver.of(n)
    driver.start()
    in_flight: list[tuple[int, int, int, int, object]] = []
    sequence = 0
    victim = rng.randrange(n)
    for step in range(steps):
        while driver.queue:
            sender, to, message = driver.queue.popleft()
            if rng.random() < 0.10:
                continue
            for _ in range(2 if rng.random() < 0.05 else 1):
                sequence += 1
                at = driver.now_ms + rng.randint(1, 300)
                heapq.heappush(in_flight, (at, sequence, sender, to, message))
        if step == steps // 4:
            driver.down = {victim}
        if step == steps // 2:
            driver.down = set()
            safety = driver.persisted.get(victim)
            driver.replicas[victim] = make_replica(victim, validator_set(n), safety=safety)
            driver.perform(victim, driver.replicas[victim].start(driver.now_ms))
        next_timer = min(
            (t for i, t in driver.timers.items() if i not in driver.down), default=None
        )
        if in_flight and (next_timer is None or in_flight[0][0] <= next_timer):
            at, _, sender, to, message = heapq.heappop(in_flight)
            driver.now_ms = max(driver.now_ms, at)
            if to in driver.down or sender in driver.down:
                continue
            try:
                effects = driver.replicas[to].on_message(sender, message, driver.now_ms)  # type: ignore[arg-type]
            except InvalidMessage as error:
                driver.rejected.append((to, type(error).__name__))
                continue
            driver.perform(to, effects)
        else:
            driver.tick_earliest()
    return driver


@pytest.mark.parametrize("seed", [1, 2])
def test_an_unfriendly_network_never_makes_two_replicas_commit_different_blocks(seed: int) -> None:
    # given a seeded schedule with loss, reordering, duplicates and a crash-restart
    driver = run_schedule(seed)
    # when every replica's commits are compared height by height
    by_height: dict[int, bytes] = {}
    for blocks in driver.commits.values():
        for block in blocks:
            # then each height has exactly one block (a restarted replica re-commits the same)
            assert by_height.setdefault(block.height, block.hash) == block.hash
    # and the chain kept growing for everybody, including the restarted replica
    heights = {i: max((b.height for b in driver.commits.get(i, [])), default=0) for i in range(4)}
    assert min(heights.values()) >= 40
