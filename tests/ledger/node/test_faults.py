"""Fault tests of the validator network: real processes on loopback, blst, random free ports.

Four validators run under a steady stream of anchor transactions (four senders, resubmitted to
another validator while pending, as the portal's outbox does). Every scenario ends with the same
checks: every live validator reaches the same height and state root, their chains agree block by
block, and every transaction a validator accepted is committed in every honest chain.

Waiting is by polling with deadlines. The one exception is the check that a validator set
without quorum commits nothing: that needs an observation window (3 s, after 1 s for frames
already in flight when the two validators died).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.node.devnet import (
    LocalCluster,
    anchor_tx,
    free_base_port,
    org_id,
    prepare_devnet,
    read_org_key,
)
from tests.ledger.node.cluster import PARAMS, chain, grows, heights, wait_for

pytestmark = pytest.mark.slow


class Load(threading.Thread):
    """Open-loop anchors from four senders; pending ones are resubmitted to other validators."""

    def __init__(self, cluster: LocalCluster, rate: float = 40.0) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.rate = rate
        directory = cluster.devnet.directory
        self.keys = {
            org_id(i): read_org_key(directory / "orgs" / f"{org_id(i)}.ed25519")
            for i in range(cluster.n)
        }
        self.nonces = dict.fromkeys(self.keys, 1)
        self.pending: dict[str, tuple[bytes, float]] = {}  # hash -> (tx, last submitted)
        self.accepted: dict[str, bytes] = {}
        self.stopping = threading.Event()
        self.rng = random.Random(7)
        self.lock = threading.Lock()

    def _send(self, tx: bytes) -> bool:
        alive = self.cluster.alive()
        self.rng.shuffle(alive)
        return any(self.cluster.submit(index, tx) in (200, 202) for index in alive)

    def run(self) -> None:
        import hashlib

        senders = list(self.keys)
        turn = 0
        while not self.stopping.is_set():
            sender = senders[turn % len(senders)]
            turn += 1
            nonce = self.nonces[sender]
            tx = anchor_tx(self.keys[sender], sender, nonce, self.rng.randbytes(32))
            tx_hash = hashlib.sha256(tx).hexdigest()
            if self._send(tx):
                with self.lock:
                    self.accepted[tx_hash] = tx
                    self.pending[tx_hash] = (tx, time.monotonic())
                self.nonces[sender] = nonce + 1
            else:
                turn -= 1  # same sender, new commitment, same nonce next time
            self._resubmit()
            self.stopping.wait(1 / self.rate)

    def _resubmit(self) -> None:
        now = time.monotonic()
        with self.lock:
            stale = [(h, tx) for h, (tx, at) in self.pending.items() if now - at > 3.0]
        for tx_hash, tx in stale[:20]:
            self._send(tx)
            with self.lock:
                if tx_hash in self.pending:
                    self.pending[tx_hash] = (tx, now)

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)


def reached(cluster: LocalCluster, indices: list[int], height: int) -> bool:
    found = heights(cluster, indices)
    return len(found) == len(indices) and min(found.values()) >= height


def check_agreement(cluster: LocalCluster, load: Load, honest: list[int]) -> None:
    """All reach one height with one state root; chains equal block by block; every accepted
    transaction in. (Statuses are not compared at one instant: the idle chain makes a block
    every ~300 ms and the leader learns each commit a proposal earlier than the others.)"""
    wait_for("every accepted transaction to commit", lambda: not pending(cluster, load, honest[0]))
    top = max(heights(cluster, honest).values())
    wait_for("honest validators to reach one height", lambda: reached(cluster, honest, top))
    roots = {cluster.get(i, f"/v1/blocks/{top}")["header"]["state_root"] for i in honest}
    assert len(roots) == 1, f"state roots differ at height {top}"
    chains = {i: chain(cluster, i, top) for i in honest}
    reference = [b["hash"] for b in chains[honest[0]]]
    assert len(reference) == top
    for i in honest[1:]:
        assert [b["hash"] for b in chains[i]] == reference, f"validator {i} disagrees"
    committed = {t["hash"] for b in chains[honest[0]] for t in b["transactions"]}
    assert set(load.accepted) <= committed
    for i in honest:  # no handler failed along the way (failures are logged, not fatal)
        log = (cluster.devnet.configs[i].parent / "validator.log").read_text()
        assert "Traceback" not in log, f"validator {i} logged an exception"


def pending(cluster: LocalCluster, load: Load, via: int) -> list[str]:
    """Accepted transactions not yet committed (asks one validator; prunes load.pending). Those
    pending for a while are resubmitted: one accepted by a validator killed before it gossiped
    it exists nowhere else (the portal's outbox retries the same way)."""
    load._resubmit()
    with load.lock:
        hashes = list(load.pending)
    for tx_hash in hashes:
        found = cluster.get(via, f"/v1/txs/{tx_hash}")
        if found is not None and found["status"] == "committed":
            with load.lock:
                load.pending.pop(tx_hash, None)
    with load.lock:
        return list(load.pending)


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[Callable[..., LocalCluster]]:
    clusters: list[LocalCluster] = []

    def make(extra: dict[int, dict[str, Any]] | None = None) -> LocalCluster:
        base = free_base_port(8)
        devnet = prepare_devnet(
            tmp_path / f"net{len(clusters)}",
            validators=4,
            base_port=base,
            crypto="blst",
            params=PARAMS,
            extra={i: {"test_faults": True, **(extra or {}).get(i, {})} for i in range(4)},
        )
        cluster = LocalCluster(devnet, env={"LEDGER_NODE_TEST_MODE": "1", "LOG_LEVEL": "INFO"})
        clusters.append(cluster)
        cluster.start_all()
        wait_for("all validators to commit", grows(cluster, list(range(4)), 3), 60)
        return cluster

    yield make
    for cluster in clusters:
        cluster.close()


def test_it_keeps_committing_through_crashes_of_a_validator_and_of_the_leader(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    # given four validators under load
    cluster = make_cluster()
    load = Load(cluster)
    load.start()
    try:
        for pick_leader in (False, True):
            status = cluster.status(0)
            assert status is not None
            victim = status["round"] % 4 if pick_leader else 2
            # when one validator is killed with SIGKILL
            cluster.kill(victim)
            others = [i for i in range(4) if i != victim]
            # then the other three keep committing
            wait_for("commits without the victim", grows(cluster, others, 5))
            # and when it restarts, it catches up with the others
            target = max(heights(cluster, others).values())
            cluster.start(victim)
            wait_for(
                "the victim to catch up",
                lambda v=victim, t=target: heights(cluster, [v]).get(v, -1) >= t,
            )
    finally:
        load.stop()
    check_agreement(cluster, load, list(range(4)))


def test_it_stops_without_quorum_and_resumes_with_nothing_lost(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    # given four validators under load
    cluster = make_cluster()
    load = Load(cluster)
    load.start()
    try:
        wait_for("some load to commit", grows(cluster, [0, 1], 3))
        # when two of them are killed
        cluster.kill(2)
        cluster.kill(3)
        # then, once in-flight messages are processed, nothing more is committed
        wait_for(
            "in-flight commits to settle", lambda: len(set(heights(cluster, [0, 1]).values())) == 1
        )
        time.sleep(1.0)  # let frames the killed validators sent before dying be processed
        stalled = max(heights(cluster, [0, 1]).values())
        time.sleep(3.0)  # the observation window (see the module docstring)
        # (a lagging survivor may still learn a QC the other had; no height beyond it appears)
        assert max(heights(cluster, [0, 1]).values()) == stalled
        # and when one restarts, commits resume
        cluster.start(2)
        wait_for("commits to resume", grows(cluster, [0, 1, 2], 5), 45)
        cluster.start(3)
    finally:
        load.stop()
    check_agreement(cluster, load, list(range(4)))


def test_it_recovers_from_a_partition_that_heals(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    # given four validators under load
    cluster = make_cluster()
    load = Load(cluster)
    load.start()
    try:
        # when validator 1 is cut off from everyone (until healed below)
        cluster.post(1, "/v1/test/partition", {"peers": [0, 2, 3], "duration_ms": 120_000})
        # then the majority side keeps committing while the isolated one falls behind
        wait_for("the majority to commit", grows(cluster, [0, 2, 3], 5))
        target = max(heights(cluster, [0, 2, 3]).values())
        assert heights(cluster, [1])[1] < target
        # and after the partition heals the isolated validator catches up
        cluster.post(1, "/v1/test/partition", {"peers": [0, 2, 3], "duration_ms": 0})
        wait_for(
            "the healed validator to catch up", lambda: heights(cluster, [1]).get(1, -1) >= target
        )
    finally:
        load.stop()
    check_agreement(cluster, load, list(range(4)))


@pytest.mark.parametrize("behaviour", ["equivocate", "bad_signature"])
def test_a_byzantine_validator_changes_nothing_for_the_honest_three(
    make_cluster: Callable[..., LocalCluster], behaviour: str
) -> None:
    # given validator 3 misbehaves
    cluster = make_cluster({3: {"byzantine": behaviour}})
    load = Load(cluster)
    load.start()
    try:
        # when the network runs under load until the misbehaviour happened five times
        log = cluster.devnet.configs[3].parent / "validator.log"
        wait_for(
            "five Byzantine messages",
            lambda: f"byzantine ({behaviour}): 5 messages rewritten" in log.read_text(),
        )
        wait_for("honest commits", grows(cluster, [0, 1, 2], 10))
    finally:
        load.stop()
    # then the honest three agree on one chain holding every accepted transaction
    check_agreement(cluster, load, [0, 1, 2])
    if behaviour == "bad_signature":  # and they counted what they refused
        refused = [cluster.status(i)["rejected_messages"] for i in (0, 1, 2)]
        assert sum(sum(r.values()) for r in refused) > 0, refused


def test_all_four_killed_together_resume_from_their_storage(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    # given four validators that committed some load
    cluster = make_cluster()
    load = Load(cluster)
    load.start()
    try:
        wait_for("some load to commit", grows(cluster, [0, 1, 2, 3], 5))
        before = max(heights(cluster, [0, 1, 2, 3]).values())
        # when all of them are killed at once and restarted
        for i in range(4):
            cluster.kill(i)
        for i in range(4):
            cluster.start(i)
        # then they resume from their storage (locks included) and commit on top of it
        wait_for(
            "commits after a full restart",
            lambda: min(heights(cluster, [0, 1, 2, 3]).values(), default=-1) >= before + 3,
        )
    finally:
        load.stop()
    check_agreement(cluster, load, list(range(4)))
