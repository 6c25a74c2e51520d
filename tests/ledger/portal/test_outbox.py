"""The outbox worker against real consensus: sign once, submit, retry the same bytes, commit."""

from __future__ import annotations

import pytest
from django.db import transaction

from ledger import services
from ledger.client import NodeClient
from ledger.models import LedgerOutbox, LedgerSender, OrganizationKey
from ledger.outbox import InvalidPayload, ledger_submit
from ledger.state import Transaction
from tests.ledger.portal.support import LedgerHarness, nodes

COMMITMENT = "ab" * 32


class Boom(Exception):
    pass


@pytest.fixture
def chain(world):
    """acme's portal key registered in a genesis, four real replicas, and the chain pinned."""
    key = services.organization_key_ensure(organization=world.acme)
    harness = LedgerHarness({"acme": bytes.fromhex(key.public_key)})
    services.chain_pin(genesis=harness.genesis_json(), source="test")
    return harness


def test_a_rolled_back_business_change_leaves_no_outbox_row(world) -> None:
    # given a business transaction that queues a ledger transaction, then fails
    with pytest.raises(Boom), transaction.atomic():
        ledger_submit(
            organization=world.acme,
            tx_type="anchor",
            payload={"commitment": COMMITMENT},
            idempotency_key="test.rollback",
        )
        raise Boom
    # then nothing was queued
    assert not LedgerOutbox.objects.filter(idempotency_key="test.rollback").exists()


def test_a_payload_the_ledger_would_refuse_is_refused_at_the_call(world) -> None:
    # given a consent payload with an unknown action word / when queued / then refused at once
    with pytest.raises(InvalidPayload):
        ledger_submit(
            organization=world.acme,
            tx_type="consent",
            payload={"action": "maybe", "commitment": COMMITMENT},
            idempotency_key="test.bad",
        )
    assert not LedgerOutbox.objects.exists()


def test_the_worker_signs_submits_and_tracks_a_row_to_committed(world, chain) -> None:
    # given a queued consent
    row = ledger_submit(
        organization=world.acme,
        tx_type="consent",
        payload={"action": "granted", "commitment": COMMITMENT},
        idempotency_key="test.consent",
    )
    with nodes(chain, 1) as (node,):
        client = NodeClient([node.url], timeout=2)
        # when the worker runs, consensus commits, and the worker runs again after its back-off
        first = services.outbox_drain(client=client)
        chain.commit_pending()
        LedgerOutbox.objects.update(next_attempt_at=None)
        second = services.outbox_drain(client=client)
    row.refresh_from_db()
    # then the row was signed with nonce 1 by acme's key and is committed at a real height
    tx = Transaction.decode(bytes(row.tx_bytes))
    assert first.signed == [row.pk] and first.submitted == [row.pk]
    assert second.committed == [row.pk]
    assert (row.status, row.nonce, tx.nonce, tx.sender) == ("committed", 1, 1, "acme")
    assert row.tx_hash == tx.tx_hash.hex()
    assert row.height is not None and 1 <= row.height <= chain.height
    assert LedgerSender.objects.get(organization=world.acme).next_nonce == 2


def test_a_retry_after_a_node_failure_resubmits_the_same_transaction(world, chain) -> None:
    # given a signed row whose first submission failed (the only node was down)
    row = ledger_submit(
        organization=world.acme,
        tx_type="anchor",
        payload={"commitment": COMMITMENT},
        idempotency_key="test.anchor",
    )
    with nodes(chain, 1) as (node,):
        client = NodeClient([node.url], timeout=2)
        node.down = True
        failed = services.outbox_drain(client=client)
        row.refresh_from_db()
        first_hash, first_bytes = row.tx_hash, bytes(row.tx_bytes)
        # when the node is back and the back-off has elapsed
        node.down = False
        LedgerOutbox.objects.update(next_attempt_at=None)
        services.outbox_drain(client=client)
        chain.commit_pending()
        LedgerOutbox.objects.update(next_attempt_at=None)
        services.outbox_drain(client=client)
    row.refresh_from_db()
    # then the retry carried the very same signed bytes, and it committed once
    assert failed.retrying == [row.pk] and first_hash
    assert (row.tx_hash, bytes(row.tx_bytes)) == (first_hash, first_bytes)
    assert row.status == "committed" and row.attempts == 3
    assert LedgerSender.objects.get(organization=world.acme).next_nonce == 2
    assert [tx.tx_hash.hex() for tx in chain.seen.values()] == [first_hash]


def test_failover_submits_through_the_second_node_when_the_first_is_down(world, chain) -> None:
    # given two nodes, the first down
    row = ledger_submit(
        organization=world.acme,
        tx_type="anchor",
        payload={"commitment": COMMITMENT},
        idempotency_key="test.failover",
    )
    with nodes(chain, 2) as (first, second):
        first.down = True
        client = NodeClient([first.url, second.url], timeout=2)
        # when the worker runs
        report = services.outbox_drain(client=client)
    row.refresh_from_db()
    # then the first node was tried and the second one took it
    assert report.submitted == [row.pk] and row.status == "submitted"
    assert "POST /v1/txs/batch" in first.requests and "POST /v1/txs/batch" in second.requests
    assert row.tx_hash in {tx.tx_hash.hex() for tx in chain.seen.values()}


def test_a_sender_unknown_to_the_ledger_is_retried_not_dropped(world, chain) -> None:
    # given globex, not (yet) registered on the ledger, queues a transaction
    row = ledger_submit(
        organization=world.globex,
        tx_type="anchor",
        payload={"commitment": COMMITMENT},
        idempotency_key="test.unknown",
    )
    with nodes(chain, 1) as (node,):
        # when the worker submits it
        report = services.outbox_drain(client=NodeClient([node.url], timeout=2))
    row.refresh_from_db()
    # then it stays queued with the reason, for a later attempt (its registration may follow)
    assert report.retrying == [row.pk]
    assert row.status == "pending" and row.last_error.startswith("unknown_sender")
    assert row.next_attempt_at is not None


def test_a_drain_submits_every_signed_row_in_one_batch_each_with_its_own_outcome(
    world, chain
) -> None:
    # given three acme rows and one of globex, which the ledger does not know yet
    rows = [
        ledger_submit(
            organization=world.acme,
            tx_type="anchor",
            payload={"commitment": f"{i:02x}" * 32},
            idempotency_key=f"test.batch.{i}",
        )
        for i in range(3)
    ]
    stranger = ledger_submit(
        organization=world.globex,
        tx_type="anchor",
        payload={"commitment": COMMITMENT},
        idempotency_key="test.batch.globex",
    )
    with nodes(chain, 1) as (node,):
        client = NodeClient([node.url], timeout=2)
        # when the worker runs, consensus commits, and it polls after the back-off
        first = services.outbox_drain(client=client)
        chain.commit_pending()
        LedgerOutbox.objects.filter(organization=world.acme).update(next_attempt_at=None)
        second = services.outbox_drain(client=client)
        requests = list(node.requests)
    # then one request carried all four, one lookup polled acme's three, and each row got its
    # own outcome
    assert requests.count("POST /v1/txs/batch") == 1
    assert requests.count("POST /v1/txs/lookup") == 1
    assert "POST /v1/txs" not in requests
    assert not [r for r in requests if r.startswith("GET /v1/txs/")]
    assert sorted(first.submitted) == sorted(r.pk for r in rows)
    assert first.retrying == [stranger.pk]
    assert sorted(second.committed) == sorted(r.pk for r in rows)
    for row in rows:
        row.refresh_from_db()
        assert row.status == "committed" and row.attempts == 2
    stranger.refresh_from_db()
    assert stranger.status == "pending" and stranger.last_error.startswith("unknown_sender")
    # and acme's three transactions are on the chain in nonce order
    assert [tx.nonce for tx in chain.seen.values() if tx.sender == "acme"] == [1, 2, 3]


def test_a_transaction_refused_at_the_door_is_rejected_and_its_nonce_given_back(world) -> None:
    # given a ledger that knows initech by another key than the portal's
    services.organization_key_ensure(organization=world.initech)
    chain = LedgerHarness({"initech": bytes(32 * [7])})
    services.chain_pin(genesis=chain.genesis_json(), source="test")
    row = ledger_submit(
        organization=world.initech,
        tx_type="anchor",
        payload={"commitment": COMMITMENT},
        idempotency_key="test.badsig",
    )
    with nodes(chain, 1) as (node,):
        # when the worker submits it
        report = services.outbox_drain(client=NodeClient([node.url], timeout=2))
    row.refresh_from_db()
    # then the node's verdict is final and the unused nonce is given back
    assert report.rejected == [row.pk]
    assert (row.status, row.code) == ("rejected", "bad_signature")
    assert LedgerSender.objects.get(organization=world.initech).next_nonce == 1


def test_organization_keys_are_sealed_and_a_rotation_waits_for_approvals(world, chain) -> None:
    # given acme's active key
    active = OrganizationKey.objects.get(organization=world.acme, status="active")
    key = services.organization_signing_key(organization=world.acme)
    # when a rotation is requested and the worker runs
    row = services.organization_key_rotate(organization=world.acme)
    with nodes(chain, 1) as (node,):
        report = services.outbox_drain(client=NodeClient([node.url], timeout=2))
    row.refresh_from_db()
    # then the private key is not stored in clear, the new key is pending, and the rotation has
    # its nonce reserved while it waits for governance approvals
    assert key.private_bytes_raw() not in bytes(active.sealed_key)
    assert OrganizationKey.objects.filter(organization=world.acme, status="pending").count() == 1
    assert report.parked == [row.pk]
    assert (row.status, row.nonce, row.tx_hash) == ("awaiting_approvals", 1, "")
    assert len(services.governance_root(outbox=row)) == 64


def test_the_worker_publishes_ledger_tx_on_the_organizations_feed_after_commit(
    world, chain, monkeypatch, django_capture_on_commit_callbacks, settings
) -> None:
    # given a queued anchor and a recorder in place of the feed
    from ledger import events, tasks

    sent: list[tuple[int | None, dict]] = []  # type: ignore[type-arg]
    monkeypatch.setattr(events, "publish", lambda org, event: sent.append((org, event)))
    row = ledger_submit(
        organization=world.acme,
        tx_type="anchor",
        payload={"commitment": COMMITMENT},
        idempotency_key="test.publish",
    )
    with nodes(chain, 1) as (node,):
        settings.LEDGER_NODE_URLS = [node.url]
        # when the Celery task runs twice around a commit
        first = tasks.outbox_drain()
        chain.commit_pending()
        LedgerOutbox.objects.update(next_attempt_at=None)
        with django_capture_on_commit_callbacks(execute=True):
            second = tasks.outbox_drain()
    # then it reported its moves and acme's feed got one ledger.tx event with the height
    row.refresh_from_db()
    assert first["signed"] == 1 and first["submitted"] == 1 and second["committed"] == 1
    assert [(org, e["type"], e["data"]["status"]) for org, e in sent] == [
        (world.acme.pk, "ledger.tx", "committed")
    ]
    assert sent[0][1]["data"]["height"] == row.height and sent[0][1]["organization"] == "acme"


def test_a_worker_that_dies_after_posting_resubmits_the_same_transaction_once(
    world, chain, monkeypatch
) -> None:
    # given a worker that crashes right after the node accepted the transaction
    from ledger.services import worker

    row = ledger_submit(
        organization=world.acme,
        tx_type="anchor",
        payload={"commitment": COMMITMENT},
        idempotency_key="test.crash",
    )
    real_record = worker._record_submission

    def crash_after_post(row, result, **kwargs):
        assert result.status == "accepted"  # the node has it
        raise Boom("worker killed")

    with nodes(chain, 1) as (node,):
        client = NodeClient([node.url], timeout=2)
        monkeypatch.setattr(worker, "_record_submission", crash_after_post)
        with pytest.raises(Boom):
            services.outbox_drain(client=client)
        row.refresh_from_db()
        signed_hash = row.tx_hash
        assert row.status == "pending"  # the crash rolled the pass back
        # when a new worker runs (the crashed pass left the row pending) until it commits
        monkeypatch.setattr(worker, "_record_submission", real_record)
        LedgerOutbox.objects.update(next_attempt_at=None)
        services.outbox_drain(client=client)
        chain.commit_pending()
        LedgerOutbox.objects.update(next_attempt_at=None)
        services.outbox_drain(client=client)
    row.refresh_from_db()
    # then the same signed transaction was sent again, the node saw it once, and it committed
    assert row.tx_hash == signed_hash and row.status == "committed"
    committed = [
        Transaction.decode(tx).tx_hash.hex() for c in chain.committed for tx in c.block.payload
    ]
    assert committed == [signed_hash]
