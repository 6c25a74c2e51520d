"""Receipts from the mirror: the REST endpoint, ``manage.py verify_receipt``, tenant isolation,
blocks mirrored before the mirror kept state proofs, and a receipt across an epoch change."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from django.core.management import call_command

from ledger import services
from ledger.client import NodeClient
from ledger.follower import Follower
from ledger.models import MirrorBlock, MirrorTransaction
from ledger.receipts import TransactionReceipt, verify_receipt
from ledger.state import (
    Anchor,
    ValidatorAdd,
    sign_approval,
    sign_transaction,
    with_approvals,
)
from tenants.models import Organization
from tests.conftest import api_as
from tests.ledger.consensus.support import secret_key
from tests.ledger.portal.support import (
    CHAIN,
    VALIDATOR_ORGS,
    LedgerHarness,
    nodes,
    org_key,
    raw_public_key,
    secret_key_pk,
)


def acme_receipt(world) -> tuple[str, dict]:
    tx = MirrorTransaction.objects.get(sender="acme")
    response = api_as(world.bob, world.acme).get(
        f"/api/v1/orgs/acme/ledger/transactions/{tx.hash}/receipt/"
    )
    assert response.status_code == 200
    return tx.hash, response.json()


def verify_file(tmp_path: Path, document: dict, *args: str) -> tuple[int, str, str]:  # type: ignore[type-arg]
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(document))
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("w") as stdout, err.open("w") as stderr:
        try:
            call_command("verify_receipt", str(path), *args, stdout=stdout, stderr=stderr)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.read_text(), err.read_text()


def test_the_sender_gets_a_receipt_that_verifies_offline(world, mirrored, tmp_path) -> None:
    # given acme's committed anchor
    tx_hash, document = acme_receipt(world)
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(mirrored.genesis_json()))
    # when it is verified by the command, with the genesis pinned
    code, out, _ = verify_file(tmp_path, document, "--genesis", str(genesis))
    # then it is valid: the transaction, its block, epoch 0, a quorum of the four validators
    height = MirrorTransaction.objects.get(hash=tx_hash).block.height
    assert code == 0
    assert f"valid: tx {tx_hash} in block {height}, epoch 0, signed by " in out
    assert " of 4 validators" in out and "outcome: committed" in out and "(pinned)" in out


def test_a_changed_byte_or_another_genesis_makes_the_command_fail(
    world, mirrored, tmp_path
) -> None:
    _, document = acme_receipt(world)
    certificate = bytearray(bytes.fromhex(document["block"]["certificate"]))
    certificate[-1] ^= 1
    document["block"]["certificate"] = certificate.hex()
    code, _, err = verify_file(tmp_path, document)
    assert code == 1 and err.startswith("invalid: certificate:")

    _, document = acme_receipt(world)
    other = mirrored.genesis_json()
    block = mirrored.genesis
    later = replace(block, header=replace(block.header, timestamp_ms=1))  # another chain
    other["genesis_block"] = later.encoded.hex()
    genesis = tmp_path / "other-genesis.json"
    genesis.write_text(json.dumps(other))
    code, _, err = verify_file(tmp_path, document, "--genesis", str(genesis))
    assert code == 1 and err.startswith("invalid: genesis:")


def test_mallory_gets_no_receipt_of_acmes_transaction(world, mirrored) -> None:
    tx = MirrorTransaction.objects.get(sender="acme")
    api = api_as(world.mallory, world.globex)
    assert api.get(f"/api/v1/orgs/acme/ledger/transactions/{tx.hash}/receipt/").status_code == 404
    theirs = api.get(f"/api/v1/orgs/globex/ledger/transactions/{tx.hash}/receipt/")
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "not_found")
    malformed = api_as(world.bob, world.acme).get(
        "/api/v1/orgs/acme/ledger/transactions/xyz/receipt/"
    )
    assert malformed.status_code == 400


def test_blocks_mirrored_without_state_proofs_get_receipts_by_replay(world, mirrored) -> None:
    # given a mirror written before it kept state proofs
    MirrorBlock.objects.update(state_proofs={})
    tx = MirrorTransaction.objects.get(sender="acme")
    # when acme asks for the receipt
    receipt = services.receipt_for_transaction(organization=world.acme, tx_hash=tx.hash)
    # then it verifies all the same
    verified = verify_receipt(receipt, crypto=mirrored.crypto, genesis_hash=mirrored.genesis.hash)
    assert verified.tx_hash.hex() == tx.hash and verified.outcome.committed


@pytest.mark.slow
def test_a_receipt_in_a_later_epoch_proves_the_validator_set_change(world) -> None:
    # given val-a (an organization of this portal) adds val-e by governance, then anchors
    val_a = Organization.objects.create(slug="val-a", name="Validator A")
    chain = LedgerHarness({"val-e": raw_public_key(org_key("val-e"))}, joining=1)
    services.chain_pin(genesis=chain.genesis_json(), source="test")
    add = ValidatorAdd(
        "val-e", secret_key_pk(4, chain.crypto), chain.crypto.PopProve(secret_key(4))
    )
    approvals = [
        sign_approval(
            private_key=org_key(org), org_id=org, chain_id=CHAIN, sender="val-a", nonce=1,
            payload=add,
        )
        for org in VALIDATOR_ORGS[:3]
    ]  # fmt: skip
    chain.submit(
        sign_transaction(
            private_key=org_key("val-a"), chain_id=CHAIN, sender="val-a", nonce=1,
            payload=with_approvals(add, approvals),
        ).encoding
    )  # fmt: skip
    chain.driver.run(lambda d: any(c.block.epoch == 1 for c in d.replicas[0].committed_with_certs))
    anchor = sign_transaction(
        private_key=org_key("val-a"), chain_id=CHAIN, sender="val-a", nonce=2,
        payload=Anchor(b"\x07" * 32),
    )  # fmt: skip
    chain.submit(anchor.encoding)
    chain.commit_pending()
    with nodes(chain, 1) as (node,):
        client = NodeClient([node.url], timeout=2)
        follower = Follower(
            client, services.follower_verifier(client=client), services.mirror_block
        )
        follower.run(until_height=chain.height)
    # when val-a asks for the anchor's receipt
    receipt = services.receipt_for_transaction(organization=val_a, tx_hash=anchor.tx_hash.hex())
    document = TransactionReceipt.from_json(json.loads(json.dumps(receipt.to_json())))
    # then it carries the end of epoch 0 and verifies against the five validators of epoch 1
    verified = verify_receipt(document, crypto=chain.crypto, genesis_hash=chain.genesis.hash)
    assert len(receipt.epoch_changes) == 1 and receipt.epoch_changes[0].header.epoch == 0
    assert (verified.epoch, verified.validators, verified.outcome.committed) == (1, 5, True)
    last_of_epoch_0 = MirrorBlock.objects.filter(epoch=0).order_by("-height").first()
    assert "validators" in last_of_epoch_0.state_proofs
