"""Restart and catch-up liveness: the persisted lock QC and last TC, duplicate timeouts, sync retry.

The three permanent stalls the simulator found (docs/ledger.md, "Known liveness bugs", seeds 149,
102 and 965) reduced to the replica mechanisms that fix them.
"""

from __future__ import annotations

from ledger.consensus import (
    Broadcast,
    PersistSafety,
    Replica,
    SafetyState,
    Send,
    SetTimer,
    SyncRequest,
    TimeoutMsg,
)
from tests.ledger.consensus.support import Driver, make_replica, validator_set


def timeouts_of(effects: list[object]) -> list[TimeoutMsg]:
    return [
        e.message for e in effects if isinstance(e, Broadcast) and isinstance(e.message, TimeoutMsg)
    ]


def sync_requests_of(effects: list[object]) -> list[tuple[int, SyncRequest]]:
    return [
        (e.to, e.message)
        for e in effects
        if isinstance(e, Send) and isinstance(e.message, SyncRequest)
    ]


def restart(index: int, state: SafetyState, now_ms: int) -> tuple[Replica, int]:
    """A fresh replica (only genesis in memory) from ``state``; returns it and its deadline."""
    replica = make_replica(index, validator_set(4), safety=state)
    timers = [e.at_ms for e in replica.start(now_ms) if isinstance(e, SetTimer)]
    return replica, timers[-1]


def running_network() -> Driver:
    driver = Driver.of(4)
    driver.start()
    driver.run(lambda d: d.min_commits() >= 3)
    return driver


def test_the_persisted_state_carries_the_qc_that_raised_the_lock() -> None:
    # given four replicas that committed a few blocks
    driver = running_network()
    # when validator 0's last persisted state is read
    state = driver.persisted[0]
    # then it holds the QC of its lock, and that QC is the replica's high QC
    assert state.high_qc is not None
    assert state.high_qc.round == state.preferred_round >= 3
    assert state.high_qc == driver.replicas[0].high_qc


def test_a_validator_restarted_with_its_lock_qc_resumes_its_round_and_times_out() -> None:
    # given validator 0's persisted state (its lock's block is lost with its memory)
    driver = running_network()
    state = driver.persisted[0]
    assert state.high_qc is not None
    # when it restarts from it and its round timer fires
    replica, deadline = restart(0, state, driver.now_ms)
    effects = replica.on_tick(deadline)
    # then it resumes after its lock and times out reporting the persisted QC, durably first
    assert replica.round == state.high_qc.round + 1
    assert [(t.round, t.high_qc) for t in timeouts_of(effects)] == [
        (state.high_qc.round + 1, state.high_qc)
    ]
    assert isinstance(effects[0], PersistSafety)
    assert effects[0].state.highest_timeout_round == state.high_qc.round + 1


def test_without_the_lock_qc_a_restarted_validator_could_not_time_out() -> None:
    # given the same state in the old encoding (four integers, no certificates)
    driver = running_network()
    s = driver.persisted[0]
    old = SafetyState(s.epoch, s.last_voted_round, s.preferred_round, s.highest_timeout_round)
    # when it restarts from it and its timer fires
    replica, deadline = restart(0, old, driver.now_ms)
    effects = replica.on_tick(deadline)
    # then it still constructs, but may sign no timeout: its high QC is below its lock
    assert timeouts_of(effects) == []
    assert replica.round == 1


def test_a_validator_restarted_after_entering_a_round_through_a_tc_hands_that_tc_on() -> None:
    # given validator 1 down: the others time out of round 1 and enter round 2 through TC(1)
    driver = Driver.of(4)
    driver.down = {1}
    driver.start()
    driver.run(lambda d: d.replicas[0].round >= 2)
    state = driver.persisted[0]
    assert state.last_tc is not None and state.last_tc.round == 1
    # when validator 0 restarts from its persisted state and its timer fires
    replica, deadline = restart(0, state, driver.now_ms)
    effects = replica.on_tick(deadline)
    # then it is in round 2 again and its round-2 timeout carries TC(1) for peers still in round 1
    assert replica.round == 2
    assert [(t.round, t.last_tc) for t in timeouts_of(effects)] == [(2, state.last_tc)]


def a_timeout_from_ahead() -> tuple[TimeoutMsg, int]:
    """Validator 2's timeout after a few commits (its high QC is far above genesis)."""
    driver = running_network()
    now = driver.now_ms + 100_000
    (timeout,) = timeouts_of(driver.replicas[2].on_tick(now))
    return timeout, now


def test_a_duplicate_timeout_still_triggers_a_sync_for_its_high_qc() -> None:
    # given a restarted validator that asked validator 2 for blocks after its first timeout
    timeout, now = a_timeout_from_ahead()
    lagging = make_replica(0, validator_set(4))
    lagging.start(now)
    assert [to for to, _ in sync_requests_of(lagging.on_timeout(2, timeout, now))] == [2]
    # when the answer is lost and the same timeout arrives again, one retry interval later
    effects = lagging.on_timeout(2, timeout, now + lagging.params.sync_retry_ms)
    # then its high QC is still looked at: the validator asks again
    assert [(to, r.target_hash) for to, r in sync_requests_of(effects)] == [
        (2, timeout.high_qc.block_hash)
    ]


def test_an_unanswered_sync_request_is_retried_on_the_timer_a_bounded_number_of_times() -> None:
    # given a restarted validator whose sync request to validator 2 was lost
    timeout, now = a_timeout_from_ahead()
    lagging = make_replica(0, validator_set(4))
    lagging.start(now)
    first = lagging.on_timeout(2, timeout, now)
    retry_at = now + lagging.params.sync_retry_ms
    # then it asked to be woken for the retry, the earliest wake-up last (for a caller that
    # keeps only the latest SetTimer)
    timers = [e.at_ms for e in first if isinstance(e, SetTimer)]
    assert retry_at in timers and timers[-1] == min(timers)
    # when its timer fires every retry interval and nobody answers
    targets = []
    for k in range(1, 16):
        effects = lagging.on_tick(now + k * lagging.params.sync_retry_ms)
        targets += [to for to, _ in sync_requests_of(effects)]
    # then it re-sent the request to the other peers in turn, and stopped after a bound
    assert targets[:4] == [3, 1, 2, 3]
    assert 0 < len(targets) < 15
