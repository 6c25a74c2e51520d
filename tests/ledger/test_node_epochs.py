"""An epoch change on the real validator network: governance removes a validator, and the
processes move to the next epoch and its smaller set (loopback, blst, random free ports)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.node.devnet import (
    DEVNET_CHAIN_ID,
    LocalCluster,
    anchor_tx,
    free_base_port,
    org_id,
    prepare_devnet,
    read_org_key,
)
from ledger.state import ValidatorRemove, sign_approval, sign_transaction, with_approvals
from tests.ledger.test_node_faults import PARAMS, chain, grows, heights, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    devnet = prepare_devnet(
        tmp_path, validators=4, base_port=free_base_port(8), crypto="blst", params=PARAMS
    )
    running = LocalCluster(devnet, env={"LOG_LEVEL": "INFO"})
    running.start_all()
    try:
        wait_for("all validators to commit", grows(running, list(range(4)), 3), 60)
        yield running
    finally:
        running.close()


def test_a_removed_validator_leaves_at_the_next_epoch_and_the_rest_go_on(
    cluster: LocalCluster,
) -> None:
    directory = cluster.devnet.directory
    keys = [read_org_key(directory / "orgs" / f"{org_id(i)}.ed25519") for i in range(4)]
    # given member-00 carries the removal of member-03, approved by three of the four
    # validator organizations (more than two thirds)
    action = ValidatorRemove(org_id=org_id(3))
    approvals = [
        sign_approval(
            private_key=keys[i], org_id=org_id(i), chain_id=DEVNET_CHAIN_ID,
            sender=org_id(0), nonce=1, payload=action,
        )
        for i in range(3)
    ]  # fmt: skip
    removal = sign_transaction(
        private_key=keys[0], chain_id=DEVNET_CHAIN_ID, sender=org_id(0), nonce=1,
        payload=with_approvals(action, approvals),
    )  # fmt: skip
    # when it is submitted
    assert cluster.submit(0, removal.encode()) == 202
    tx_hash = removal.tx_hash.hex()

    def committed() -> bool:
        found = cluster.get(0, f"/v1/txs/{tx_hash}")
        return found is not None and found["status"] == "committed"

    wait_for("the removal to commit", committed)
    at = int(cluster.get(0, f"/v1/txs/{tx_hash}")["height"])
    # then the three remaining validators enter epoch 1 and keep committing blocks
    remaining = [0, 1, 2]

    def in_epoch_one() -> bool:
        statuses = [cluster.status(i) for i in remaining]
        return all(s is not None and s["epoch"] == 1 and s["height"] > at + 3 for s in statuses)

    wait_for("epoch 1 with blocks on top of the removal", in_epoch_one)
    # and blocks of epoch 1 are certified by the new set of three (signer indices 0..2)
    top = min(heights(cluster, remaining).values())
    blocks = chain(cluster, 0, top)
    assert [b["header"]["epoch"] for b in blocks[:at]] == [0] * at
    later = blocks[at:]
    assert later and all(b["header"]["epoch"] == 1 for b in later)
    assert all(set(b["signers"]) <= {0, 1, 2} and len(b["signers"]) == 3 for b in later)
    # and a transaction sent after the change commits, with validator 3 gone
    cluster.kill(3)
    after = anchor_tx(keys[1], org_id(1), 1, b"\x01" * 32)
    assert cluster.submit(1, after) == 202

    def after_committed() -> bool:
        found = cluster.get(2, f"/v1/txs/{hashlib.sha256(after).hexdigest()}")
        return found is not None and found["status"] == "committed"

    wait_for("a transaction in epoch 1 to commit", after_committed)
    # and the three agree on the chain, block by block
    final = min(heights(cluster, remaining).values())
    hashes = {i: [b["hash"] for b in chain(cluster, i, final)] for i in remaining}
    assert hashes[1] == hashes[0] and hashes[2] == hashes[0]
    for i in range(4):  # no handler failed along the way, the removed validator's included
        log = (cluster.devnet.configs[i].parent / "validator.log").read_text()
        assert "Traceback" not in log, f"validator {i} logged an exception"
