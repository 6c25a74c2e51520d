"""An epoch change on the real validator network: governance removes a validator, and the
processes move to the next epoch and its smaller set (loopback, blst, random free ports)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.consensus.crypto import KeyGen, backend
from ledger.node.devnet import (
    DEVNET_CHAIN_ID,
    LocalCluster,
    anchor_tx,
    free_base_port,
    org_id,
    prepare_devnet,
    read_org_key,
    start_validators,
    stop_validators,
)
from ledger.state import (
    OrgRegister,
    ValidatorAdd,
    ValidatorRemove,
    sign_approval,
    sign_transaction,
    with_approvals,
)
from tests.ledger.node.cluster import PARAMS, chain, grows, heights, wait_for

pytestmark = pytest.mark.slow


def governed(keys: list[Any], nonce: int, action: Any) -> bytes:
    """``action`` carried by member-00 with ``nonce``, approved by members 00-02 (3 of 4)."""
    approvals = [
        sign_approval(
            private_key=keys[i], org_id=org_id(i), chain_id=DEVNET_CHAIN_ID,
            sender=org_id(0), nonce=nonce, payload=action,
        )
        for i in range(3)
    ]  # fmt: skip
    return sign_transaction(
        private_key=keys[0], chain_id=DEVNET_CHAIN_ID, sender=org_id(0), nonce=nonce,
        payload=with_approvals(action, approvals),
    ).encode()  # fmt: skip


def committed(cluster: LocalCluster, via: int, tx: bytes) -> bool:
    found = cluster.get(via, f"/v1/txs/{hashlib.sha256(tx).hexdigest()}")
    return found is not None and found["status"] == "committed"


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


def test_an_added_validator_joins_at_the_next_epoch_and_its_vote_is_needed(
    tmp_path: Path,
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    bls = backend("blst")
    # given a 4-validator devnet whose configs already name a fifth peer (member-04, not yet a
    # member), and that fifth validator's keys and configuration
    base = free_base_port(10)
    devnet = prepare_devnet(tmp_path, validators=4, base_port=base, crypto="blst", params=PARAMS)
    new_peer = {"index": 4, "host": "127.0.0.1", "port": base + 8}
    for path in devnet.configs:
        data = json.loads(path.read_text())
        data["peers"].append(new_peer)
        path.write_text(json.dumps(data))
    folder = tmp_path / "validator-4"
    folder.mkdir()
    bls_sk = KeyGen(b"member-04 joins the alliance devnet")
    (folder / "bls.key").write_text(bls_sk.to_bytes(32, "big").hex())
    (folder / "bls.key").chmod(0o600)
    fifth = json.loads(devnet.configs[0].read_text())
    fifth.update(
        index=4, name=org_id(4),
        listen={"host": "127.0.0.1", "port": base + 8},
        http={"host": "127.0.0.1", "port": base + 9},
        peers=[{"index": j, "host": "127.0.0.1", "port": base + 2 * j} for j in range(4)],
    )  # fmt: skip
    (folder / "config.json").write_text(json.dumps(fifth))
    cluster = LocalCluster(devnet, env={"LOG_LEVEL": "INFO"})
    cluster.start_all()
    joiner: list[Any] = []
    try:
        wait_for("all validators to commit", grows(cluster, list(range(4)), 3), 60)
        keys = [read_org_key(tmp_path / "orgs" / f"{org_id(i)}.ed25519") for i in range(4)]
        org_key = Ed25519PrivateKey.generate()
        # when governance registers member-04 and adds it as a validator (with its PoP)
        register = governed(
            keys, 1, OrgRegister(org_id(4), org_key.public_key().public_bytes_raw())
        )
        add = governed(keys, 2, ValidatorAdd(org_id(4), bls.SkToPk(bls_sk), bls.PopProve(bls_sk)))
        assert cluster.submit(0, register) == 202 and cluster.submit(0, add) == 202
        wait_for("the addition to commit", lambda: committed(cluster, 0, add))
        # and the fifth validator starts, from genesis
        joiner = start_validators([folder / "config.json"], env={"LOG_LEVEL": "INFO"})
        url = f"http://127.0.0.1:{base + 9}"

        def joined() -> bool:
            try:
                status = httpx.get(f"{url}/v1/status", timeout=2).json()
            except (httpx.HTTPError, ValueError):
                return False
            top = max(heights(cluster, list(range(4))).values())
            return status["epoch"] == 1 and status["height"] >= top - 2

        # then it catches up into epoch 1, where the set has five validators
        wait_for("the fifth validator to catch up into epoch 1", joined, 60)
        assert all(cluster.status(i)["epoch"] == 1 for i in range(4))
        # and with one of the original four killed, four of five (a quorum) still commit:
        # only possible if the newcomer votes
        cluster.kill(3)
        tx = anchor_tx(keys[1], org_id(1), 1, b"\x04" * 32)
        assert cluster.submit(1, tx) == 202
        wait_for(
            "a transaction to commit with the newcomer's vote", lambda: committed(cluster, 1, tx)
        )
        found = cluster.get(1, f"/v1/txs/{hashlib.sha256(tx).hexdigest()}")
        block = cluster.get(1, f"/v1/blocks/{found['height']}")
        assert block["header"]["epoch"] == 1
        assert sorted(block["signers"]) == [0, 1, 2, 4]
    finally:
        if joiner:
            stop_validators(joiner)
        cluster.close()
    # and no validator logged an exception
    for path in [*devnet.configs[:3], folder / "config.json"]:
        log = (path.parent / "validator.log").read_text()
        assert "Traceback" not in log, f"{path.parent.name} logged an exception"
