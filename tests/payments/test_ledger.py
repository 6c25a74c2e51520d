"""Payments decided by a real ledger: four in-process consensus replicas execute the portal's
signed transactions, the outbox worker submits them, and the follower mirrors the blocks and
calls the payments decision handlers inside its transaction."""

from __future__ import annotations

from typing import Any

import pytest

from ledger import services as ledger_services
from ledger.models import LedgerOutbox
from payments.models import Account, Payment
from tests.conftest import World
from tests.payments.api_support import pay
from tests.payments.ledger_support import FUNDS, Pipeline
from tests.payments.mirror_support import balance


def test_a_payment_settles_on_the_ledger_and_the_payee_sees_it(
    world: World, alice: Any, mallory: Any, pipeline: Pipeline
) -> None:
    # given the genesis accounts adopted when each organization lists its accounts
    mine = alice.get("/api/v1/orgs/acme/accounts/").json()["results"]
    mallory.get("/api/v1/orgs/globex/accounts/")
    assert [(a["id"], a["status"], a["posted"]) for a in mine] == [("acme:usd", "open", FUNDS)]
    # when alice pays globex 250.00 USD and the worker and the follower run
    created = pay(alice, from_account="acme:usd", to_account="globex:usd", amount=25_000,
                  currency="USD").json()  # fmt: skip
    assert created["status"] == "queued"
    pipeline.run()
    # then the payment is settled at a real height with its transaction hash, for both sides
    payment = Payment.objects.get()
    assert payment.status == "settled" and payment.failure_code == ""
    assert payment.block_height is not None and len(payment.tx_hash) == 64
    assert payment.tx_hash == LedgerOutbox.objects.get(tx_type="payment").tx_hash
    incoming = mallory.get("/api/v1/orgs/globex/payments/?direction=incoming").json()["results"]
    assert [(p["id"], p["status"], p["tx_hash"]) for p in incoming] == [
        (payment.pk, "settled", payment.tx_hash)
    ]
    assert incoming[0]["settled_at"] is not None
    # and the balances moved on the ledger
    assert (balance("acme:usd"), balance("globex:usd")) == (FUNDS - 25_000, 25_000)
    theirs = mallory.get("/api/v1/orgs/globex/accounts/").json()["results"]
    assert [(a["id"], a["available"]) for a in theirs] == [("globex:usd", 25_000)]


def test_an_account_opens_when_the_ledger_commits_it(alice: Any, pipeline: Pipeline) -> None:
    # given alice opens a EUR account
    opened = alice.post("/api/v1/orgs/acme/accounts/", {"currency": "EUR", "name": "Ops"}).json()
    assert opened["status"] == "opening"
    # when the ledger commits the account_open and the follower mirrors it
    pipeline.run()
    # then the account is open, on the ledger and in the directory, with a zero balance
    assert Account.objects.get(ledger_account_id=opened["id"]).status == "open"
    assert balance(opened["id"]) == 0
    directory = alice.get("/api/v1/directory/accounts/").json()
    assert opened["id"] in {row["id"] for row in directory}


def test_a_decision_is_applied_once_when_the_worker_sees_it_before_the_follower(
    world: World, alice: Any, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.outbox import _DECISION_HANDLERS
    from payments import services

    calls: list[tuple[int, str]] = []

    def counting(row: LedgerOutbox, decision: Any) -> None:
        calls.append((row.pk, decision.status))
        services.payment_decided(row, decision)

    monkeypatch.setitem(_DECISION_HANDLERS, "payment", [counting])
    alice.get("/api/v1/orgs/acme/accounts/")
    Account.objects.create(
        organization=world.globex, currency="USD", name="usd", status="open",
        ledger_account_id="globex:usd",
    )  # fmt: skip
    pay(alice, from_account="acme:usd", to_account="globex:usd", amount=1, currency="USD")
    # when the worker submits, consensus commits, and the worker polls the decision first
    ledger_services.outbox_drain(client=pipeline.client)
    sent = alice.get("/api/v1/orgs/acme/payments/").json()["results"]
    assert [p["status"] for p in sent] == ["submitted"]
    pipeline.chain.commit_pending()
    LedgerOutbox.objects.update(next_attempt_at=None)
    report = ledger_services.outbox_drain(client=pipeline.client)
    assert report.committed and Payment.objects.get().status == "settled"
    # and then the follower mirrors the same block
    pipeline.run()
    # then the handler ran exactly once, for the committed decision
    row = LedgerOutbox.objects.get(tx_type="payment")
    assert calls == [(row.pk, "committed")]
    assert Payment.objects.get().block_height == row.height


def test_twenty_payments_from_an_account_covering_ten_settle_exactly_ten(
    world: World, alice: Any, pipeline: Pipeline
) -> None:
    # given acme:usd holds exactly ten payments' worth, globex:usd is open
    alice.get("/api/v1/orgs/acme/accounts/")
    Account.objects.create(
        organization=world.globex, currency="USD", name="usd", status="open",
        ledger_account_id="globex:usd",
    )  # fmt: skip
    each = FUNDS // 10
    policy = {"thresholds": {"USD": each}}
    assert alice.put("/api/v1/orgs/acme/approval-policy/", policy, format="json").status_code == 200
    # when twenty payments of that amount are queued together and the ledger decides them
    for i in range(20):
        response = pay(alice, key=f"race-{i}", from_account="acme:usd", to_account="globex:usd",
                       amount=each, currency="USD")  # fmt: skip
        assert response.json()["status"] == "queued"
    for _ in range(5):
        pipeline.run()
        assert balance("acme:usd") >= 0
        if not Payment.objects.filter(status="queued").exists():
            break
    # then exactly ten settled, ten were rejected for insufficient funds, and the source is empty
    outcomes = sorted(Payment.objects.values_list("status", "failure_code"))
    assert outcomes == [("rejected", "insufficient_funds")] * 10 + [("settled", "")] * 10
    assert (balance("acme:usd"), balance("globex:usd")) == (0, FUNDS)
