"""The follower and ledger_verify over blocks committed by four real replicas."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from ledger import events, services
from ledger.client import NodeClient
from ledger.follower import Follower
from ledger.models import (
    LedgerOutbox,
    MirrorAccount,
    MirrorBlock,
    MirrorTransaction,
    OrganizationKey,
)
from ledger.outbox import ledger_submit
from ledger.state import (
    GenesisAccount,
    Leg,
    MultiTransfer,
    Quote,
    sign_approval,
    sign_quote,
    sign_transaction,
)
from tests.ledger.portal.support import CHAIN, VALIDATOR_ORGS, LedgerHarness, nodes, org_key

COMMITMENT = "cd" * 32


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int | None, dict[str, Any]]]:
    sent: list[tuple[int | None, dict[str, Any]]] = []
    monkeypatch.setattr(events, "publish", lambda org, event: sent.append((org, event)))
    return sent


@pytest.fixture
def chain(world):
    key = services.organization_key_ensure(organization=world.acme)
    harness = LedgerHarness(
        {"acme": bytes.fromhex(key.public_key)},
        accounts=(GenesisAccount("acme:eur", "EUR", "acme", 1_000),),
    )
    services.chain_pin(genesis=harness.genesis_json(), source="test")
    return harness


def drain_and_commit(chain: LedgerHarness, client: NodeClient) -> None:
    """One worker pass, consensus commits what it submitted."""
    services.outbox_drain(client=client)
    chain.commit_pending()
    LedgerOutbox.objects.update(next_attempt_at=None)


def follow(client: NodeClient, height: int) -> Follower:
    follower = Follower(
        client,
        services.follower_verifier(client=client),
        services.mirror_block,
        sleep=lambda s: None,
    )
    follower.run(until_height=height)
    return follower


def test_the_follower_verifies_mirrors_and_publishes_committed_blocks(
    world, chain, published, django_capture_on_commit_callbacks
) -> None:
    # given acme's consent and transfer submitted by the worker and committed by consensus
    consent = ledger_submit(
        organization=world.acme, tx_type="consent",
        payload={"action": "granted", "commitment": COMMITMENT}, idempotency_key="f.consent",
    )  # fmt: skip
    ledger_submit(
        organization=world.acme, tx_type="account_open",
        payload={"account_id": "acme:eur-2", "currency": "EUR", "owner": "acme"},
        idempotency_key="f.open",
    )  # fmt: skip
    ledger_submit(
        organization=world.acme, tx_type="transfer",
        payload={"from_account": "acme:eur", "to_account": "acme:eur-2", "currency": "EUR",
                 "amount": 250},
        idempotency_key="f.transfer",
    )  # fmt: skip
    with nodes(chain, 1) as (node,):
        client = NodeClient([node.url], timeout=2)
        drain_and_commit(chain, client)
        # when the follower follows up to the tip
        with django_capture_on_commit_callbacks(execute=True):
            follow(client, chain.height)
    # then every block is mirrored with its signers, the transactions with their receipts, the
    # outbox rows are committed, balances are mirrored, and block.committed went out
    assert MirrorBlock.objects.count() == chain.height
    assert list(MirrorBlock.objects.order_by("height").values_list("hash", flat=True)) == [
        c.block.hash.hex() for c in chain.committed
    ]
    assert all(len(b.signers) >= 3 for b in MirrorBlock.objects.all())
    txs = MirrorTransaction.objects.order_by("nonce")
    assert [(t.tx_type, t.sender, t.nonce, t.status) for t in txs] == [
        ("consent", "acme", 1, "committed"),
        ("account_open", "acme", 2, "committed"),
        ("transfer", "acme", 3, "committed"),
    ]
    consent.refresh_from_db()
    assert consent.status == "committed" and consent.height == txs[0].block.height
    assert dict(MirrorAccount.objects.values_list("account_id", "balance")) == {
        "acme:eur": 750,
        "acme:eur-2": 250,
    }
    alliance = [e for org, e in published if org is None and e["type"] == "block.committed"]
    to_acme = [e for org, e in published if org == world.acme.pk and e["type"] == "block.committed"]
    assert [e["data"]["height"] for e in alliance] == list(range(1, chain.height + 1))
    assert {e["data"]["height"] for e in to_acme} == {t.block.height for t in txs}


def test_a_block_with_a_bad_certificate_is_refused_and_taken_from_another_node(
    world, chain
) -> None:
    # given two nodes, the first serving forged certificates
    chain.run_until(3)
    with nodes(chain, 2) as (liar, honest):
        liar.forge = True
        client = NodeClient([liar.url, honest.url], timeout=2)
        # when the follower follows
        follower = follow(client, 3)
    # then the forged block was refused, and the mirror holds the honest chain
    assert follower.refused and follower.refused[0][0] == liar.url
    assert "certificate" in follower.refused[0][1]
    assert list(MirrorBlock.objects.order_by("height").values_list("certificate", flat=True)) == [
        c.cert.encoded for c in chain.committed[:3]
    ]


def test_the_follower_switches_to_another_node_when_one_is_down(world, chain) -> None:
    # given the first node down
    chain.run_until(2)
    with nodes(chain, 2) as (down, up):
        down.down = True
        # when following / then the blocks come from the second node
        follow(NodeClient([down.url, up.url], timeout=2), 2)
        assert any(r.startswith("GET /v1/blocks") for r in up.requests)
    assert MirrorBlock.objects.count() == 2


def test_a_rotation_with_governance_approvals_activates_the_new_key(world, chain) -> None:
    # given a rotation parked for approvals
    row = services.organization_key_rotate(organization=world.acme)
    with nodes(chain, 1) as (node,):
        client = NodeClient([node.url], timeout=2)
        services.outbox_drain(client=client)
        row.refresh_from_db()
        payload_root = bytes.fromhex(services.governance_root(outbox=row))
        # when three of the four validator organizations approve it
        from ledger.outbox import payload_for

        for org in VALIDATOR_ORGS[:3]:
            approval = sign_approval(
                private_key=org_key(org), org_id=org, chain_id="alliance-test", sender="acme",
                nonce=row.nonce, payload=payload_for(row.tx_type, row.payload),
            )  # fmt: skip
            services.outbox_approval_add(
                outbox=row, org_id=org, signature=approval.signature.hex(), required=3
            )
        drain_and_commit(chain, client)
        follow(client, chain.height)
    # then it committed and the new key is the active one
    row.refresh_from_db()
    assert payload_root and row.status == "committed"
    keys = dict(
        OrganizationKey.objects.filter(organization=world.acme).values_list("status", "public_key")
    )
    assert keys["active"] == row.payload["public_key"] and "retired" in keys


def test_ledger_verify_accepts_the_mirror_and_finds_the_first_tampered_block(
    world, chain, capsys
) -> None:
    # given a mirrored chain with one transaction
    ledger_submit(
        organization=world.acme, tx_type="anchor", payload={"commitment": COMMITMENT},
        idempotency_key="v.anchor",
    )  # fmt: skip
    with nodes(chain, 1) as (node,):
        client = NodeClient([node.url], timeout=2)
        drain_and_commit(chain, client)
        follow(client, chain.height)
    # when verified as is / then it passes
    call_command("ledger_verify")
    assert f"OK {chain.height} blocks, 1 transactions" in capsys.readouterr().out
    # when a mirrored receipt is changed / then that block is reported and the exit code is 1
    tx = MirrorTransaction.objects.get()
    MirrorTransaction.objects.filter(pk=tx.pk).update(status="rejected")
    with pytest.raises(SystemExit) as exit_info:
        call_command("ledger_verify")
    assert exit_info.value.code == 1
    assert f"BAD block {tx.block.height}" in capsys.readouterr().err
    MirrorTransaction.objects.filter(pk=tx.pk).update(status="committed")


def test_ledger_verify_catches_a_tampered_balance(world, chain, capsys) -> None:
    # given a mirrored chain whose genesis funded acme:eur with 1,000
    chain.run_until(2)
    with nodes(chain, 1) as (node,):
        follow(NodeClient([node.url], timeout=2), 2)
    # when the mirrored balance is raised
    MirrorAccount.objects.filter(account_id="acme:eur").update(balance=1_000_000)
    # then ledger_verify reports it
    with pytest.raises(SystemExit):
        call_command("ledger_verify")
    assert "mirrored account acme:eur differs" in capsys.readouterr().err


@pytest.mark.parametrize("what", ["certificate", "state_root", "block"])
def test_ledger_verify_catches_a_tampered_certificate_state_root_or_block(
    world, chain, capsys, what
) -> None:
    # given a mirrored chain of four blocks
    chain.run_until(4)
    with nodes(chain, 1) as (node,):
        follow(NodeClient([node.url], timeout=2), 4)
    # when block 2 is tampered with in the mirror
    second, third = MirrorBlock.objects.get(height=2), MirrorBlock.objects.get(height=3)
    value = {
        "certificate": bytes(third.certificate),  # a real certificate, of another block
        "state_root": "00" * 32,
        "block": bytes(third.block),
    }[what]
    MirrorBlock.objects.filter(pk=second.pk).update(**{what: value})
    # then ledger_verify names block 2 and fails
    with pytest.raises(SystemExit):
        call_command("ledger_verify")
    assert "BAD block 2" in capsys.readouterr().err


def test_a_sponsored_registration_lets_a_new_organizations_queued_rows_through(
    world, chain
) -> None:
    # given globex, unknown to the ledger, with a queued anchor retried as unknown_sender
    anchor = ledger_submit(
        organization=world.globex, tx_type="anchor", payload={"commitment": COMMITMENT},
        idempotency_key="reg.anchor",
    )  # fmt: skip
    with nodes(chain, 1) as (node,):
        client = NodeClient([node.url], timeout=2)
        services.outbox_drain(client=client)
        anchor.refresh_from_db()
        assert anchor.last_error.startswith("unknown_sender")
        # when acme sponsors its registration and three validator organizations approve it
        call_command("ledger_register", "--org", "globex", "--sponsor", "acme")
        services.outbox_drain(client=client)
        row = LedgerOutbox.objects.get(tx_type="org_register")
        root = bytes.fromhex(services.governance_root(outbox=row))
        for org in VALIDATOR_ORGS[:3]:
            services.outbox_approval_add(
                outbox=row, org_id=org, signature=org_key(org).sign(root).hex()
            )
        drain_and_commit(chain, client)  # the registration commits
        drain_and_commit(chain, client)  # globex's anchor is resubmitted and commits
        services.outbox_drain(client=client)
    # then both are committed, the anchor with globex's nonce 1
    row.refresh_from_db()
    anchor.refresh_from_db()
    assert (row.status, anchor.status, anchor.nonce) == ("committed", "committed", 1)


def test_the_mirror_follows_held_funds_through_a_hold_and_its_expiry_at_a_later_block(
    world, chain, capsys
) -> None:
    # given a second EUR account of acme's and a hold of 400 on acme:eur expiring in 5 seconds
    ledger_submit(
        organization=world.acme, tx_type="account_open",
        payload={"account_id": "acme:eur2", "currency": "EUR", "owner": "acme"},
        idempotency_key="h.open",
    )  # fmt: skip
    with nodes(chain, 1) as (node,):
        client = NodeClient([node.url], timeout=2)
        drain_and_commit(chain, client)
        expires_at_ms = chain.committed[-1].block.header.timestamp_ms + 5_000
        ledger_submit(
            organization=world.acme, tx_type="hold_place",
            payload={
                "hold_id": "ab" * 32, "from_account": "acme:eur", "to_account": "acme:eur2",
                "currency": "EUR", "amount": 400, "expires_at_ms": expires_at_ms,
                "reference": "cd" * 32,
            },
            idempotency_key="h.place",
        )  # fmt: skip
        drain_and_commit(chain, client)
        follow(client, chain.height)
        # then the mirror shows the reserved funds, and the replay agrees
        account = MirrorAccount.objects.get(account_id="acme:eur")
        assert (account.balance, account.held, account.available) == (1_000, 400, 600)
        call_command("ledger_verify")
        assert "OK" in capsys.readouterr().out
        # when block time passes the expiry: later blocks carry no transaction at all
        height = chain.height
        chain.driver.now_ms = max(chain.driver.now_ms, expires_at_ms)
        chain.commit_pending()
        follow(client, chain.height)
    # then the block that released the hold updated the mirror
    assert not MirrorTransaction.objects.filter(block__height__gt=height).exists()
    account = MirrorAccount.objects.get(account_id="acme:eur")
    assert (account.balance, account.held) == (1_000, 0)
    call_command("ledger_verify")
    assert "OK" in capsys.readouterr().out
    # and ledger_verify catches a tampered held amount
    MirrorAccount.objects.filter(account_id="acme:eur").update(held=1)
    with pytest.raises(SystemExit):
        call_command("ledger_verify")
    assert "mirrored account acme:eur differs" in capsys.readouterr().err


def test_the_mirror_updates_every_account_of_a_multi_transfer(world) -> None:
    # given val-a and val-b with EUR and USD accounts, and val-b quoting 90 USD for 100 EUR
    harness = LedgerHarness(
        {},
        accounts=(
            GenesisAccount("val-a:eur", "EUR", "val-a", 1_000),
            GenesisAccount("val-a:usd", "USD", "val-a", 0),
            GenesisAccount("val-b:eur", "EUR", "val-b", 0),
            GenesisAccount("val-b:usd", "USD", "val-b", 1_000),
        ),
    )
    services.chain_pin(genesis=harness.genesis_json(), source="test")
    quote = sign_quote(
        private_key=org_key("val-b"),
        chain_id=CHAIN,
        quote=Quote("val-b", b"\x01" * 32, "EUR", 100, "USD", 90, 10**12, bytes(64)),
    )
    legs = (Leg("val-a:eur", "val-b:eur", "EUR", 100), Leg("val-b:usd", "val-a:usd", "USD", 90))
    tx = sign_transaction(
        private_key=org_key("val-a"), chain_id=CHAIN, sender="val-a",
        nonce=harness.tip_state.next_nonce("val-a"),
        payload=MultiTransfer(legs, b"\x02" * 32, quote),
    )  # fmt: skip
    # when val-a's multi-transfer commits and the follower mirrors it
    harness.submit(tx.encoding)
    harness.commit_pending()
    with nodes(harness, 1) as (node,):
        follow(NodeClient([node.url], timeout=2), harness.height)
    # then all four accounts show their new balances
    assert MirrorTransaction.objects.get().status == "committed"
    mirrored = dict(MirrorAccount.objects.values_list("account_id", "balance"))
    assert mirrored == {"val-a:eur": 900, "val-a:usd": 90, "val-b:eur": 100, "val-b:usd": 910}
