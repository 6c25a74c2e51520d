"""The replica end to end: commits, timeouts, timestamps, restarts, sync and epochs."""

from __future__ import annotations

from itertools import pairwise

import pytest

from ledger.consensus import (
    Broadcast,
    ConsensusError,
    Equivocation,
    InvalidMessage,
    NotLeader,
    PersistSafety,
    Proposal,
    Replica,
    Send,
    SyncRequest,
    Vote,
    make_block,
    make_genesis,
    make_root_qc,
    verify_commit,
)
from tests.ledger.consensus.support import (
    CHAIN_ID,
    Driver,
    make_replica,
    validator_infos,
    validator_set,
)


def first_proposal(replicas: list[Replica]) -> Proposal:
    """Round 1 is led by validator 1 (round-robin: round % n); it proposes on start."""
    effects = replicas[1].start(0)
    proposals = [e.message for e in effects if isinstance(e, Broadcast)]
    assert len(proposals) == 1 and isinstance(proposals[0], Proposal)
    return proposals[0]


def four_replicas() -> list[Replica]:
    vset = validator_set(4)
    genesis = make_genesis(CHAIN_ID, vset)
    return [make_replica(i, vset, genesis=genesis) for i in range(4)]


def test_four_replicas_delivering_in_order_commit_the_same_chain() -> None:
    # given four honest replicas and an in-order network
    driver = Driver.of(4)
    driver.start()
    # when messages flow until each has committed 12 blocks
    driver.run(lambda d: d.min_commits() >= 12)
    # then they committed the same blocks, heights 1..12, one per round, with rising timestamps
    chains = [driver.committed_hashes(i)[:12] for i in range(4)]
    assert chains[1] == chains[0] and chains[2] == chains[0] and chains[3] == chains[0]
    blocks = driver.commits[0][:12]
    assert [b.height for b in blocks] == list(range(1, 13))
    assert [b.round for b in blocks] == list(range(1, 13))
    assert all(a.header.timestamp_ms < b.header.timestamp_ms for a, b in pairwise(blocks))
    assert [b.header.proposer for b in blocks[:4]] == [1, 2, 3, 0]
    assert driver.rejected == []
    # and every commit carries a certificate a light client accepts
    for item in driver.replicas[2].committed_with_certs:
        assert verify_commit(validator_set(4), item.block, item.cert)


def test_a_replica_with_bounded_retention_keeps_recent_blocks_and_still_answers_sync() -> None:
    # given validator 0 keeps only about 4 committed blocks in memory
    driver = Driver.of(4)
    driver.replicas[0] = make_replica(0, validator_set(4), retain_committed=4)
    driver.start()
    # when the network commits 30 blocks
    driver.run(lambda d: d.min_commits() >= 30)
    # then it holds at most 2 x 4 of them, the most recent, and committed the same chain
    kept = driver.replicas[0].committed
    assert 4 <= len(kept) <= 8
    assert [b.hash for b in kept] == driver.committed_hashes(1)[: kept[-1].height][-len(kept) :]
    # and a sync request from two blocks below its tip gets exactly those two blocks
    tip = driver.replicas[0].committed_height
    request = SyncRequest(0, tip - 2, kept[-1].hash)
    (answer,) = driver.replicas[0].on_sync_request(1, request, driver.now_ms)
    assert isinstance(answer, Send)
    assert [c.block.height for c in answer.message.committed] == [tip - 1, tip]
    # and retention below what an epoch change hands on is refused
    with pytest.raises(ConsensusError):
        make_replica(0, validator_set(4), retain_committed=3)


def test_a_crashed_validator_is_skipped_through_timeout_certificates() -> None:
    # given validator 1 is down (it leads rounds 1, 5, 9, ...)
    driver = Driver.of(4)
    driver.down = {1}
    driver.start()
    # when the others run until they committed 8 blocks
    driver.run(lambda d: d.min_commits([0, 2, 3]) >= 8)
    # then they agree, none of the blocks was proposed by 1, and its rounds were timed out
    chain = driver.committed_hashes(0)[:8]
    assert driver.committed_hashes(2)[:8] == chain and driver.committed_hashes(3)[:8] == chain
    assert all(b.header.proposer != 1 for b in driver.commits[0])
    assert driver.replicas[0].round > len(driver.commits[0]) + 1
    assert driver.now_ms >= 1_000  # at least one round timer fired


def test_a_vote_leaves_only_after_the_safety_state_that_allows_it_is_persisted() -> None:
    # given the round-1 proposal
    replicas = four_replicas()
    proposal = first_proposal(replicas)
    # when validator 0 receives it
    effects = replicas[0].on_proposal(1, proposal, 0)
    # then the first effect persists last_voted_round = 1, then the vote goes to leader(2) = 2
    assert isinstance(effects[0], PersistSafety) and effects[0].state.last_voted_round == 1
    votes = [e for e in effects if isinstance(e, Send) and isinstance(e.message, Vote)]
    assert [(v.to, v.message.round) for v in votes] == [(2, 1)]
    assert effects.index(votes[0]) > 0


def test_a_replica_restarted_from_its_persisted_state_never_votes_twice_in_a_round() -> None:
    # given validator 0 voted in round 1 and persisted its safety state
    replicas = four_replicas()
    proposal = first_proposal(replicas)
    effects = replicas[0].on_proposal(1, proposal, 0)
    persisted = next(e.state for e in effects if isinstance(e, PersistSafety))
    # when it crashes and restarts from that state
    restarted = make_replica(0, validator_set(4), safety=persisted)
    restarted.start(0)
    # then the same proposal, or a conflicting one from the same leader, gets no vote
    again = restarted.on_proposal(1, proposal, 0)
    assert not any(isinstance(e, Send) and isinstance(e.message, Vote) for e in again)
    assert restarted.safety_state == persisted


def test_a_second_different_proposal_from_the_leader_in_a_round_is_rejected() -> None:
    # given validator 0 holds the round-1 proposal
    replicas = four_replicas()
    proposal = first_proposal(replicas)
    replicas[0].on_proposal(1, proposal, 0)
    genesis = make_genesis(CHAIN_ID, validator_set(4))
    other = make_block(
        chain_id=CHAIN_ID, epoch=0, round=1, parent=genesis, payload=(b"double",), proposer=1,
        timestamp_ms=1,
    )  # fmt: skip
    before = replicas[0].snapshot()
    # when the leader equivocates / then the second block is rejected and nothing changed
    with pytest.raises(Equivocation):
        replicas[0].on_proposal(1, Proposal(other, proposal.qc), 0)
    assert replicas[0].snapshot() == before


@pytest.mark.parametrize(
    ("timestamp_ms", "now_ms", "reason"),
    [
        (0, 0, "not after its parent"),  # genesis has timestamp 0
        (10_000, 4_999, "too far in the future"),  # max_clock_drift_ms = 5,000
    ],
)
def test_a_proposal_with_a_non_monotonic_or_future_timestamp_is_rejected(
    timestamp_ms: int, now_ms: int, reason: str
) -> None:
    # given a round-1 block from the right leader with a bad timestamp
    replicas = four_replicas()
    genesis = make_genesis(CHAIN_ID, validator_set(4))
    block = make_block(
        chain_id=CHAIN_ID, epoch=0, round=1, parent=genesis, payload=(), proposer=1,
        timestamp_ms=timestamp_ms,
    )  # fmt: skip
    before = replicas[0].snapshot()
    # when it is received / then it is rejected and nothing changed
    with pytest.raises(InvalidMessage, match=reason):
        replicas[0].on_proposal(1, Proposal(block, make_root_qc(0, genesis)), now_ms)
    assert replicas[0].snapshot() == before


def test_a_proposal_from_a_validator_that_does_not_lead_the_round_is_rejected() -> None:
    # given validator 2 proposes for round 1 (led by 1)
    replicas = four_replicas()
    genesis = make_genesis(CHAIN_ID, validator_set(4))
    block = make_block(
        chain_id=CHAIN_ID, epoch=0, round=1, parent=genesis, payload=(), proposer=2,
        timestamp_ms=1,
    )  # fmt: skip
    # when it is received / then NotLeader
    with pytest.raises(NotLeader):
        replicas[0].on_proposal(2, Proposal(block, make_root_qc(0, genesis)), 0)


def test_a_restarted_replica_catches_up_by_sync_and_commits_the_same_chain() -> None:
    # given validator 3 was down while the others committed 6 blocks
    driver = Driver.of(4)
    driver.down = {3}
    driver.start()
    driver.run(lambda d: d.min_commits([0, 1, 2]) >= 6)
    # when it restarts from genesis (and its persisted state) and rejoins
    driver.down = set()
    driver.replicas[3] = make_replica(3, validator_set(4), safety=driver.persisted.get(3))
    driver.perform(3, driver.replicas[3].start(driver.now_ms))
    sync_requests: list[SyncRequest] = []
    original = driver.deliver_one

    def spy() -> None:
        if driver.queue and isinstance(driver.queue[0][2], SyncRequest):
            sync_requests.append(driver.queue[0][2])
        original()

    driver.deliver_one = spy  # type: ignore[method-assign]
    driver.run(lambda d: d.min_commits() >= 10)
    # then it asked a peer for the blocks and committed the same chain from height 1
    assert sync_requests and sync_requests[0].committed_height == 0
    assert driver.committed_hashes(3)[:10] == driver.committed_hashes(0)[:10]


def test_a_committed_reconfiguration_moves_everyone_to_the_next_epoch_and_set() -> None:
    # given 4 validators in epoch 0, a fifth (index 4) following, and a reconfiguration that adds
    # it, carried by the second transaction validator 0 proposes
    vs0 = validator_set(4)
    vs1 = vs0.successor(validator_infos(5), epoch=1)
    genesis = make_genesis(CHAIN_ID, vs0)

    def on_reconfigure(block):
        return vs1 if b"tx-0-2" in block.payload else None

    driver = Driver(
        [make_replica(i, vs0, genesis=genesis, on_reconfigure=on_reconfigure) for i in range(5)]
    )
    driver.start()
    # when they run until 16 blocks are committed
    driver.run(lambda d: d.min_commits() >= 16)
    # then all five switched to epoch 1 exactly once and agree on the chain
    assert all(driver.epochs[i] == [1] for i in range(5))
    chain = driver.committed_hashes(0)[:16]
    assert all(driver.committed_hashes(i)[:16] == chain for i in range(5))
    blocks = driver.commits[0][:16]
    reconfig = next(b for b in blocks if b"tx-0-2" in b.payload)
    after = [b for b in blocks if b.height > reconfig.height]
    # the new epoch starts at the round after the reconfiguration block, on top of it
    assert after[0].parent_hash == reconfig.hash
    assert (after[0].epoch, after[0].round) == (1, reconfig.round + 1)
    assert all(b.epoch == 0 for b in blocks if b.height <= reconfig.height)
    assert all(b.epoch == 1 for b in after)
    # and the new validator (index 4) now leads rounds too
    assert 4 in {b.header.proposer for b in after}
    # and commits of the new epoch verify against the new set only
    item = next(c for c in driver.replicas[0].committed_with_certs if c.block.epoch == 1)
    assert verify_commit(vs1, item.block, item.cert)
    assert not verify_commit(vs0, item.block, item.cert)


def test_a_restarted_leader_does_not_propose_again_in_a_round_it_already_proposed_in() -> None:
    # given validator 1 proposed (and voted) in round 1, and persisted its state
    replicas = four_replicas()
    effects = replicas[1].start(0)
    persisted = next(e.state for e in effects if isinstance(e, PersistSafety))
    # when it restarts from that state
    restarted = make_replica(1, validator_set(4), safety=persisted)
    again = restarted.start(0)
    # then it does not propose a second (conflicting) block for round 1
    assert not any(isinstance(e, Broadcast) and isinstance(e.message, Proposal) for e in again)


def test_a_leader_whose_executor_has_no_state_for_the_parent_proposes_nothing() -> None:
    # given the round-1 leader with an executor that cannot execute on the parent (it answers
    # with an empty root, which no header can carry)
    from ledger.consensus import SetTimer
    from tests.ledger.consensus.support import blst, payload_counter, secret_key

    vset = validator_set(4)
    leader = Replica(
        chain_id=CHAIN_ID, index=1, secret_key=secret_key(1), validator_set=vset,
        genesis=make_genesis(CHAIN_ID, vset), crypto=blst(), payload_source=payload_counter(1),
        execute=lambda parent_root, txs, timestamp_ms: b"",
    )  # fmt: skip
    # when it starts
    effects = leader.start(0)
    # then it broadcasts no proposal, keeps its round timer, and can still time out later
    assert not [e for e in effects if isinstance(e, Broadcast)]
    assert [e for e in effects if isinstance(e, SetTimer)]
    assert leader.round == 1
