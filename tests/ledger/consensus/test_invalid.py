"""All-or-nothing handlers: every invalid message raises a named error and changes nothing.

Each case compares ``Replica.snapshot()`` (every piece of protocol state) before and after.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import replace

import pytest

from ledger.consensus import (
    Broadcast,
    CommitCert,
    FutureMessage,
    InvalidCertificate,
    InvalidMessage,
    InvalidSignature,
    NotLeader,
    Proposal,
    QuorumCert,
    Replica,
    Send,
    SyncRequest,
    SyncResponse,
    TimeoutMsg,
    Vote,
    WrongSender,
    compute_timeout_signing_root,
    compute_vote_signing_root,
    make_genesis,
)
from ledger.consensus.types import Message
from tests.ledger.consensus.support import (
    CHAIN_ID,
    Driver,
    blst,
    make_replica,
    secret_key,
    validator_set,
)

_STATE: tuple[Driver, int, Proposal] | None = None


def build_run() -> tuple[Driver, int, Proposal]:
    """Four replicas that committed a few blocks, stopped just before a proposal is delivered:
    returns the driver, the receiving replica's index and that (genuine) proposal."""
    driver = Driver.of(4)
    driver.start()
    driver.run(
        lambda d: d.min_commits() >= 5 and bool(d.queue) and isinstance(d.queue[0][2], Proposal)
    )
    _, to, proposal = driver.queue[0]
    assert isinstance(proposal, Proposal)
    return driver, to, proposal


def running() -> tuple[Driver, int, Proposal]:
    """``build_run()`` built once, for the cases that only read it."""
    global _STATE
    if _STATE is None:
        _STATE = build_run()
    return _STATE


def signed_vote(voter: int, round: int, block_hash: bytes, *, epoch: int = 0) -> Vote:
    root = compute_vote_signing_root(CHAIN_ID, epoch, round, block_hash)
    return Vote(epoch, round, block_hash, voter, blst().Sign(secret_key(voter), root))


def broken(qc: QuorumCert) -> QuorumCert:
    """The same QC with another valid-looking signature (a vote's), so the aggregate fails."""
    other = signed_vote(0, qc.round, qc.block_hash).signature
    return replace(qc, signature=other)


def altered(proposal: Proposal, **changes: object) -> Proposal:
    """The genuine proposal with header fields changed."""
    block = proposal.block
    return replace(proposal, block=replace(block, header=replace(block.header, **changes)))


def vote_round(replica: Replica, at_least: int) -> int:
    """The first round >= at_least whose votes go to ``replica`` (it leads the next round)."""
    r = at_least
    while replica.validator_set.leader(r + 1) != replica.index:
        r += 1
    return r


def timeout_from(
    author: int, replica: Replica, *, round: int | None = None, **changes: object
) -> TimeoutMsg:
    r = replica.round if round is None else round
    high_qc = replica.high_qc
    root = compute_timeout_signing_root(CHAIN_ID, 0, r, high_qc.round)
    msg = TimeoutMsg(0, r, author, high_qc, None, blst().Sign(secret_key(author), root))
    return replace(msg, **changes) if changes else msg


Case = Callable[[Replica, Proposal], tuple[int, Message]]


CASES: dict[str, tuple[Case, type[InvalidMessage], str | None]] = {
    "vote signed by someone else than the sender": (
        lambda r, p: (1, signed_vote(0, vote_round(r, r.round), p.block.hash)),
        WrongSender,
        None,
    ),
    "vote with a malformed signature": (
        lambda r, p: (
            0,
            replace(signed_vote(0, vote_round(r, r.round), p.block.hash), signature=b"short"),
        ),
        InvalidSignature,
        "malformed",
    ),
    "vote far beyond the look-ahead window": (
        lambda r, p: (0, signed_vote(0, vote_round(r, r.round + 1001), p.block.hash)),
        FutureMessage,
        None,
    ),
    "proposal from a non-leader": (
        lambda r, p: ((p.block.header.proposer + 1) % 4, p),
        NotLeader,
        None,
    ),
    "proposal whose QC signature does not verify": (
        lambda r, p: (p.block.header.proposer, replace(p, qc=broken(p.qc))),
        InvalidCertificate,
        "QC does not verify",
    ),
    "proposal for another chain": (
        lambda r, p: (p.block.header.proposer, altered(p, chain_id=b"other-chain")),
        InvalidMessage,
        "another chain",
    ),
    "proposal whose payload does not match its root": (
        lambda r, p: (p.block.header.proposer, altered(p, payload_root=b"\x00" * 32)),
        InvalidMessage,
        "payload root",
    ),
    "proposal with a wrong height": (
        lambda r, p: (p.block.header.proposer, altered(p, height=99)),
        InvalidMessage,
        "height",
    ),
    "proposal with a wrong state root": (
        lambda r, p: (p.block.header.proposer, altered(p, state_root=b"\x09" * 32)),
        InvalidMessage,
        "state root",
    ),
    "proposal with a height that has no 64-bit encoding": (
        lambda r, p: (p.block.header.proposer, altered(p, height=2**64)),
        InvalidMessage,
        "malformed Proposal",
    ),
    "vote whose signature is not bytes": (
        lambda r, p: (0, replace(signed_vote(0, r.round, p.block.hash), signature="sig")),
        InvalidMessage,
        "malformed Vote",
    ),
    "timeout whose author is not the sender": (
        lambda r, p: (2, timeout_from(1, r)),
        WrongSender,
        None,
    ),
    "timeout carrying a QC that does not verify": (
        lambda r, p: (1, timeout_from(1, r, high_qc=broken(r.high_qc))),
        InvalidCertificate,
        None,
    ),
    "timeout far beyond the look-ahead window": (
        lambda r, p: (1, timeout_from(1, r, round=r.round + 5000)),
        FutureMessage,
        None,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_invalid_message_raises_its_named_error_and_changes_nothing(name: str) -> None:
    # given a replica in the middle of a run, about to receive a genuine proposal
    driver, index, proposal = running()
    replica = driver.replicas[index]
    make, error, reason = CASES[name]
    sender, message = make(replica, proposal)
    before = replica.snapshot()
    # when the invalid message arrives / then the named error is raised and nothing changed
    with pytest.raises(error, match=reason):
        replica.on_message(sender, message, driver.now_ms)
    assert replica.snapshot() == before


def test_a_bad_vote_that_would_complete_a_quorum_is_rejected_and_the_good_one_then_forms_it() -> (
    None
):
    # given validator 2 (leader of round 2) holds its own vote and 0's vote for the round-1 block
    vset = validator_set(4)
    genesis = make_genesis(CHAIN_ID, vset)
    replicas = [make_replica(i, vset, genesis=genesis) for i in range(4)]
    proposal = next(e.message for e in replicas[1].start(0) if isinstance(e, Broadcast))
    replicas[2].start(0)
    replicas[2].on_proposal(1, proposal, 0)
    block_hash = proposal.block.hash  # type: ignore[union-attr]
    replicas[2].on_vote(0, signed_vote(0, 1, block_hash), 0)
    before = replicas[2].snapshot()
    # when validator 3's vote arrives signed over the wrong message
    bad = replace(signed_vote(3, 1, block_hash), signature=signed_vote(3, 2, block_hash).signature)
    with pytest.raises(InvalidSignature, match="validator 3"):
        replicas[2].on_vote(3, bad, 0)
    # then nothing changed, and the genuine vote then forms the QC and 2 proposes round 2
    assert replicas[2].snapshot() == before
    effects = replicas[2].on_vote(3, signed_vote(3, 1, block_hash), 0)
    assert replicas[2].high_qc.block_hash == block_hash and replicas[2].round == 2
    assert any(isinstance(e, Broadcast) and isinstance(e.message, Proposal) for e in effects)


def test_a_sync_response_with_a_forged_commit_certificate_changes_nothing() -> None:
    # given a replica that has only genesis, and a peer's committed blocks
    driver, _, _ = running()
    fresh = make_replica(3, validator_set(4))
    items = driver.replicas[0].committed_with_certs[:3]
    forged_cert = CommitCert(items[0].cert.headers, broken(items[0].cert.qc))
    forged = (replace(items[0], cert=forged_cert), *items[1:])
    before = fresh.snapshot()
    # when the forged response arrives / then it is rejected and nothing changed
    with pytest.raises(InvalidCertificate):
        fresh.on_sync_response(0, SyncResponse(forged, ()), 0)
    assert fresh.snapshot() == before
    # and blocks that do not extend its chain are refused too
    with pytest.raises(InvalidMessage, match="do not extend"):
        fresh.on_sync_response(0, SyncResponse(items[1:], ()), 0)
    assert fresh.snapshot() == before
    # while the genuine response commits them
    effects = fresh.on_sync_response(0, SyncResponse(items, ()), 0)
    assert [c.block.hash for c in fresh.committed_with_certs] == [i.block.hash for i in items]
    assert not any(isinstance(e, Send) for e in effects)


def _mutate(value: object, rng: random.Random) -> object:
    """One random change deep inside a message: an integer or byte string, or a tuple's items."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return rng.choice([0, 1, value + 1, value - 1, -1, 2**64, rng.randrange(10**6)])
    if isinstance(value, bytes):
        return rng.choice([b"", value[:-1], value + b"\0", bytes(len(value)), rng.randbytes(8)])
    if isinstance(value, tuple):
        if not value:
            return value
        items = list(value)
        position = rng.randrange(len(items))
        if rng.random() < 0.3:
            items.pop(position)
        else:
            items[position] = _mutate(items[position], rng)
        return tuple(items)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        chosen = rng.choice(dataclasses.fields(value))
        changed = _mutate(getattr(value, chosen.name), rng)
        return dataclasses.replace(value, **{chosen.name: changed})  # type: ignore[misc]
    return value


def test_random_mutations_of_genuine_messages_raise_only_named_errors_and_change_nothing() -> None:
    # given genuine messages of a run, and a replica in the middle of it plus one at genesis
    driver, index, proposal = build_run()  # its own run: accepted mutations change state
    peer = driver.replicas[0]
    sync = peer.on_sync_request(3, SyncRequest(0, 0, bytes(32)), 0)[0].message  # type: ignore[union-attr]
    genuine: list[Message] = [proposal, sync, timeout_from(1, driver.replicas[index])]
    genuine.append(
        signed_vote(0, vote_round(driver.replicas[index], proposal.block.round), b"\x01" * 32)
    )
    rng = random.Random(7)
    for _ in range(300):
        message = genuine[rng.randrange(len(genuine))]
        for _ in range(rng.randint(1, 3)):
            message = _mutate(message, rng)  # type: ignore[assignment]
        victim = rng.choice([driver.replicas[index], make_replica(3, validator_set(4))])
        before = victim.snapshot()
        # when the mutated message arrives from some validator
        try:
            victim.on_message(rng.randrange(4), message, driver.now_ms)
        except InvalidMessage:
            # then a rejection is a named error and leaves the state untouched
            assert victim.snapshot() == before
        # (an accepted mutation is one that is still valid, e.g. a changed payload byte)
