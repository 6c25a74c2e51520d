"""Safety rules: never vote twice in a round, the 2-chain lock through timeouts, epochs."""

from __future__ import annotations

import pytest

from ledger.consensus import (
    SafetyRules,
    SafetyState,
    SafetyViolation,
    TimeoutCert,
    make_block,
    make_genesis,
    make_root_qc,
)
from ledger.consensus.types import QuorumCert
from tests.ledger.consensus.support import CHAIN_ID, blst, secret_key, validator_set


def rules() -> SafetyRules:
    return SafetyRules(chain_id=CHAIN_ID, index=0, secret_key=secret_key(0), crypto=blst())


GENESIS = make_genesis(CHAIN_ID, validator_set(4))


def block(round: int, payload: bytes = b"tx") -> object:
    return make_block(
        chain_id=CHAIN_ID, epoch=0, round=round, parent=GENESIS, payload=(payload,), proposer=0,
        timestamp_ms=round,
    )  # fmt: skip


def qc_at(round: int) -> QuorumCert:
    return QuorumCert(0, round, bytes([round]) * 32, b"\x07", b"\x00" * 96)


def tc_at(round: int, high_qc_rounds: tuple[int, ...]) -> TimeoutCert:
    return TimeoutCert(0, round, b"\x07", high_qc_rounds, b"\x00" * 96)


def test_a_vote_raises_the_last_voted_round_and_the_lock() -> None:
    # given a fresh state / when voting for round 1 over the genesis QC
    state, vote = rules().sign_vote(SafetyState(0), block(1), make_root_qc(0, GENESIS), None)  # type: ignore[arg-type]
    # then the vote is for round 1 and the state remembers it
    assert (vote.round, vote.voter) == (1, 0)
    assert state == SafetyState(0, last_voted_round=1, preferred_round=0)


def test_it_never_signs_two_votes_in_the_same_round() -> None:
    # given a vote already cast in round 1
    state, _ = rules().sign_vote(SafetyState(0), block(1), make_root_qc(0, GENESIS), None)  # type: ignore[arg-type]
    # when a different block of round 1 asks for a vote / then the rules refuse
    with pytest.raises(SafetyViolation, match="round 1"):
        rules().sign_vote(state, block(1, b"other"), make_root_qc(0, GENESIS), None)  # type: ignore[arg-type]
    # and an older round too
    assert not SafetyRules.is_safe_to_vote(state, 1, 0, None)


def test_a_block_that_skips_rounds_needs_a_tc_for_the_previous_round() -> None:
    # given a replica that last voted in round 3
    state = SafetyState(0, last_voted_round=3, preferred_round=2)
    # when a round-6 block extends a round-4 QC without a TC / then no vote
    assert not SafetyRules.is_safe_to_vote(state, 6, 4, None)
    # with a TC for round 5 whose reported high QCs are at most 4 / then vote
    assert SafetyRules.is_safe_to_vote(state, 6, 4, tc_at(5, (2, 4, 3)))
    # with a TC for another round / then no vote
    assert not SafetyRules.is_safe_to_vote(state, 6, 4, tc_at(4, (2, 3, 3)))


def test_the_lock_forbids_extending_a_qc_older_than_one_reported_in_the_tc() -> None:
    # given a TC for round 5 in which a validator reported a high QC of round 4
    tc = tc_at(5, (4, 2, 2))
    # when the round-6 proposal extends only the round-2 QC
    # then voting is refused: round 4 may be (2-chain) committed and the proposal would fork it
    assert not SafetyRules.is_safe_to_vote(SafetyState(0, 3, 2), 6, 2, tc)
    assert SafetyRules.is_safe_to_vote(SafetyState(0, 3, 2), 6, 4, tc)


def test_a_timeout_blocks_voting_in_that_round_and_reports_the_high_qc() -> None:
    # given a replica in round 4 with a high QC of round 3
    state = SafetyState(0, last_voted_round=3, preferred_round=3)
    # when it times out of round 4
    state, msg = rules().sign_timeout(state, 4, qc_at(3), None)
    # then its state forbids a vote in round 4 and the message reports high QC round 3
    assert (msg.round, msg.high_qc.round) == (4, 3)
    assert state.last_voted_round == 4 and state.highest_timeout_round == 4
    assert not SafetyRules.is_safe_to_vote(state, 4, 3, None)


def test_a_timeout_with_a_high_qc_below_the_lock_is_refused() -> None:
    # given a lock at round 5 / when asked to time out reporting a round-3 QC
    state = SafetyState(0, last_voted_round=5, preferred_round=5)
    # then the rules refuse (a validator must not hide its lock)
    with pytest.raises(SafetyViolation):
        rules().sign_timeout(state, 6, qc_at(3), tc_at(5, (3, 3, 3)))


def test_observing_a_qc_only_raises_the_lock() -> None:
    # given a lock at round 5 / when older and newer QCs are observed
    state = SafetyState(0, 5, 5)
    # then only the newer one moves it
    assert SafetyRules.observe_qc(state, qc_at(3)) == state
    assert SafetyRules.observe_qc(state, qc_at(7)).preferred_round == 7


def test_entering_a_new_epoch_resets_rounds_but_a_newer_persisted_state_wins() -> None:
    # given states from epoch 0 and from epoch 2
    old, newer = SafetyState(0, 40, 39, 38), SafetyState(2, 7, 6, 0)
    # when entering epoch 1 after a root at round 41
    # then the old state restarts at the root round and the newer one is kept as is
    assert SafetyRules.enter_epoch(old, 1, 41) == SafetyState(1, 41, 41, 41)
    assert SafetyRules.enter_epoch(newer, 1, 41) is newer


def test_it_refuses_to_sign_for_another_epoch() -> None:
    # given a state of epoch 1 / when asked to vote for an epoch-0 block
    # then it refuses
    with pytest.raises(SafetyViolation, match="epoch"):
        rules().sign_vote(SafetyState(1), block(1), make_root_qc(0, GENESIS), None)  # type: ignore[arg-type]
