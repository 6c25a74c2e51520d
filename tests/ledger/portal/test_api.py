"""Explorer REST API and pages over a mirror of real committed blocks; tenant isolation."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from ledger import services
from ledger.client import NodeClient
from ledger.models import LedgerOutbox, MirrorTransaction
from tests.conftest import PASSWORD, api_as
from tests.ledger.portal.conftest import COMMITMENT
from tests.ledger.portal.support import nodes


def test_blocks_are_listed_newest_first_with_their_signers(world, mirrored) -> None:
    # when bob (a plain member) lists blocks
    response = api_as(world.bob, world.acme).get("/api/v1/ledger/blocks/")
    # then every mirrored block is there, newest first, signed by a quorum
    body = response.json()
    assert response.status_code == 200 and body["count"] == mirrored.height
    assert [b["height"] for b in body["results"]] == list(range(mirrored.height, 0, -1))
    assert all(len(b["signers"]) >= 3 for b in body["results"])
    assert body["results"][-1]["hash"] == mirrored.committed[0].block.hash.hex()


def test_a_block_and_a_transaction_are_found_by_height_and_hash(world, mirrored) -> None:
    # given the committed anchor
    tx = MirrorTransaction.objects.get()
    api = api_as(world.bob, world.acme)
    # when its block and its hash are looked up
    block = api.get(f"/api/v1/ledger/blocks/{tx.block.height}/").json()
    found = api.get(f"/api/v1/ledger/txs/{tx.hash.upper()}/").json()
    # then both describe it
    assert [t["hash"] for t in block["transactions"]] == [tx.hash]
    assert block["certificate"] == bytes(tx.block.certificate).hex()
    assert (found["sender"], found["tx_type"], found["status"]) == ("acme", "anchor", "committed")
    assert found["payload"] == {"commitment": COMMITMENT}


def test_unknown_or_malformed_lookups_answer_in_the_error_shape(world, mirrored) -> None:
    api = api_as(world.bob, world.acme)
    missing = api.get(f"/api/v1/ledger/txs/{'0' * 64}/")
    malformed = api.get("/api/v1/ledger/txs/xyz/")
    no_block = api.get("/api/v1/ledger/blocks/9999/")
    anonymous = Client().get("/api/v1/ledger/blocks/")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert (malformed.status_code, malformed.json()["error"]["code"]) == (400, "invalid_hash")
    assert no_block.status_code == 404
    assert anonymous.status_code in (401, 403) and "error" in anonymous.json()


def test_validators_report_health_and_an_unreachable_node(world, mirrored) -> None:
    with nodes(mirrored, 2) as (up, down):
        down.down = True
        with override_settings(LEDGER_NODE_URLS=[up.url, down.url]):
            body = api_as(world.bob, world.acme).get("/api/v1/ledger/validators/").json()
    assert [(n["url"], n["healthy"]) for n in body] == [(up.url, True), (down.url, False)]
    assert body[0]["height"] == mirrored.height


def test_an_organization_sees_its_outbox_transactions_and_accounts(world, mirrored) -> None:
    api = api_as(world.bob, world.acme)
    outbox = api.get("/api/v1/orgs/acme/ledger/outbox/").json()["results"]
    txs = api.get("/api/v1/orgs/acme/ledger/transactions/").json()["results"]
    accounts = api.get("/api/v1/orgs/acme/ledger/accounts/").json()["results"]
    assert [(r["idempotency_key"], r["status"]) for r in outbox] == [
        ("api.queued", "pending"),
        ("api.anchor", "committed"),
    ]
    assert [t["tx_type"] for t in txs] == ["anchor"]
    assert [(a["account_id"], a["balance"]) for a in accounts] == [("acme:eur", 500)]


def test_mallory_sees_none_of_acmes_outbox_transactions_or_accounts(world, mirrored) -> None:
    # given mallory with a globex token
    api = api_as(world.mallory, world.globex)
    acme_row = LedgerOutbox.objects.filter(organization=world.acme).first()
    # when she asks under acme, or under globex
    assert api.get("/api/v1/orgs/acme/ledger/outbox/").status_code == 404
    assert api.get(f"/api/v1/orgs/acme/ledger/outbox/{acme_row.pk}/").status_code == 404
    assert api.get("/api/v1/orgs/acme/ledger/accounts/").status_code == 404
    assert api.get(f"/api/v1/orgs/globex/ledger/outbox/{acme_row.pk}/").status_code == 404
    # then globex's own lists hold nothing of acme's
    assert api.get("/api/v1/orgs/globex/ledger/outbox/").json()["results"] == []
    assert api.get("/api/v1/orgs/globex/ledger/accounts/").json()["results"] == []
    assert api.get("/api/v1/orgs/globex/ledger/transactions/").json()["results"] == []


def test_only_an_owner_starts_a_key_rotation(world, mirrored) -> None:
    denied = api_as(world.bob, world.acme).post("/api/v1/orgs/acme/ledger/keys/rotate/")
    accepted = api_as(world.alice, world.acme).post("/api/v1/orgs/acme/ledger/keys/rotate/")
    again = api_as(world.alice, world.acme).post("/api/v1/orgs/acme/ledger/keys/rotate/")
    assert denied.status_code == 403
    assert accepted.status_code == 202
    assert accepted.json()["outbox"]["tx_type"] == "org_key_rotate"
    assert (again.status_code, again.json()["error"]["code"]) == (409, "rotation_pending")


def test_the_explorer_pages_render_for_a_member(world, mirrored) -> None:
    ui = Client()
    assert ui.login(username="bob", password=PASSWORD)
    tx = MirrorTransaction.objects.get()
    pages = {
        "/o/acme/ledger/": "<title>Ledger · Acme Corporation",
        "/o/acme/ledger/blocks/": "<title>Blocks · Ledger",
        f"/o/acme/ledger/blocks/{tx.block.height}/": f"<title>Block {tx.block.height}",
        f"/o/acme/ledger/txs/{tx.hash}/": "<title>Transaction",
        "/o/acme/ledger/validators/": "<title>Validators",
    }
    for path, title in pages.items():
        response = ui.get(path)
        assert response.status_code == 200, path
        assert title in response.content.decode(), path
    assert tx.hash in ui.get(f"/o/acme/ledger/blocks/{tx.block.height}/").content.decode()
    # the search box takes a hash or a height
    assert ui.get("/o/acme/ledger/blocks/", {"q": tx.hash}).url == f"/o/acme/ledger/txs/{tx.hash}/"
    assert ui.get("/o/acme/ledger/blocks/", {"q": "2"}).url == "/o/acme/ledger/blocks/2/"
    assert Client().get("/o/acme/ledger/").status_code == 302  # anonymous: to the login page


def test_governance_approvals_are_added_through_the_api_until_the_row_can_be_signed(
    world, mirrored
) -> None:
    # given a key rotation parked for approvals, with its governance root shown to admins
    from ledger.models import LedgerOutbox
    from tests.ledger.portal.support import VALIDATOR_ORGS, org_key

    alice = api_as(world.alice, world.acme)
    row_id = alice.post("/api/v1/orgs/acme/ledger/keys/rotate/").json()["outbox"]["id"]
    with nodes(mirrored, 1) as (node,):
        services.outbox_drain(client=NodeClient([node.url], timeout=2))
    parked = alice.get(f"/api/v1/orgs/acme/ledger/outbox/{row_id}/").json()
    root = bytes.fromhex(parked["governance_root"])
    # when three validator organizations' approvals are posted (and one malformed)
    bad = alice.post(
        f"/api/v1/orgs/acme/ledger/outbox/{row_id}/approvals/",
        {"org_id": "val-a", "signature": "zz"},
        format="json",
    )
    statuses = []
    for org in VALIDATOR_ORGS[:3]:
        response = alice.post(
            f"/api/v1/orgs/acme/ledger/outbox/{row_id}/approvals/",
            {"org_id": org, "signature": org_key(org).sign(root).hex()},
            format="json",
        )
        statuses.append(response.json()["status"])
    # then the row waits until the third (of four validators) and then goes back to signing
    assert parked["status"] == "awaiting_approvals" and parked["nonce"] == 3  # after api.queued
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"
    assert statuses == ["awaiting_approvals", "awaiting_approvals", "pending"]
    row = LedgerOutbox.objects.get(pk=row_id)
    assert [a["org_id"] for a in row.approvals] == list(VALIDATOR_ORGS[:3])


def test_the_worker_and_follower_commands_drain_and_mirror(world, mirrored, settings) -> None:
    # given the queued acme row and a node
    from django.core.management import call_command

    from ledger.models import LedgerOutbox, MirrorBlock

    with nodes(mirrored, 1) as (node,):
        settings.LEDGER_NODE_URLS = [node.url]
        # when the commands run
        call_command("ledger_outbox", "--once")
        mirrored.commit_pending()
        LedgerOutbox.objects.update(next_attempt_at=None)
        call_command("ledger_follow", "--until-height", str(mirrored.height))
    # then the queued row is committed and every block is mirrored
    assert LedgerOutbox.objects.get(idempotency_key="api.queued").status == "committed"
    assert MirrorBlock.objects.count() == mirrored.height


def test_a_height_beyond_any_integer_column_is_simply_not_found(world) -> None:
    api = api_as(world.bob, world.acme)
    ui = Client()
    assert ui.login(username="bob", password=PASSWORD)
    assert api.get(f"/api/v1/ledger/blocks/{10**30}/").status_code == 404
    assert ui.get(f"/o/acme/ledger/blocks/{10**30}/").status_code == 404


@pytest.mark.parametrize("query", ["²", "\u0661\u0662", "\U0001d7d7", "9" * 40, "-1"])
def test_the_block_search_reads_only_ascii_digits_as_a_height(world, query) -> None:
    ui = Client()
    assert ui.login(username="bob", password=PASSWORD)
    response = ui.get("/o/acme/ledger/blocks/", {"q": query})
    assert response.status_code == 200
    assert b"Search for a block height or a 64-digit hash." in response.content
