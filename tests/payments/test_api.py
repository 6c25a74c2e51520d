"""The payments API without a ledger: validation, idempotency, maker-checker, isolation, the
directory and the approval policy. Settlement on a real ledger is in test_ledger.py."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.models import LedgerOutbox, MirrorAccount
from payments.models import Account, IdempotencyKey, Payment
from payments.services import payment_reference
from tenants.models import AuditEvent, Membership
from tenants.roles import Role
from tests.conftest import World, api_as
from tests.payments.api_support import error_code, pay

pytestmark = pytest.mark.django_db


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "1000"),
        ("amount", 10.5),
        ("amount", 1000.0),
        ("amount", True),
        ("amount", 0),
        ("amount", -5),
        ("amount", 2**63),
        ("currency", "eur"),
        ("currency", "XYZ"),
        ("from_account", "Not An Id!"),
        ("to_account", ""),
        ("memo", "x" * 141),
    ],
)
def test_it_refuses_an_invalid_field_naming_it(
    alice: Any, accounts: dict[str, Account], field: str, value: Any
) -> None:
    # when alice pays with one bad field
    response = pay(alice, **{field: value})
    # then the answer is a validation error that names exactly that field
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert list(response.json()["error"]["details"]["fields"]) == [field]
    assert not Payment.objects.exists()


def test_it_requires_an_idempotency_key(alice: Any, accounts: dict[str, Account]) -> None:
    response = pay(alice, key="")
    assert (response.status_code, error_code(response)) == (400, "idempotency_key_required")
    assert not Payment.objects.exists()


def test_it_refuses_a_source_account_of_another_organization(
    alice: Any, mallory: Any, accounts: dict[str, Account]
) -> None:
    # when mallory (globex) tries to pay from acme's account
    response = pay(mallory, "globex", from_account="acme:main", to_account="globex:main")
    # then acme's account is not hers: 404 account_not_owned, nothing created
    assert (response.status_code, error_code(response)) == (404, "account_not_owned")
    assert not Payment.objects.exists()


def test_it_refuses_an_unknown_or_unopened_payee_account(
    alice: Any, world: World, accounts: dict[str, Account]
) -> None:
    Account.objects.filter(ledger_account_id="globex:main").update(status=Account.Status.OPENING)
    for target in ("nobody:main", "globex:main"):
        response = pay(alice, to_account=target)
        assert (response.status_code, error_code(response)) == (404, "account_not_found")


def test_it_refuses_a_currency_that_is_not_both_accounts(
    alice: Any, accounts: dict[str, Account]
) -> None:
    response = pay(alice, from_account="acme:dollars", currency="USD")
    assert (response.status_code, error_code(response)) == (400, "currency_mismatch")
    assert response.json()["error"]["details"]["to_account"] == "EUR"


def test_a_viewer_cannot_pay(world: World, accounts: dict[str, Account]) -> None:
    Membership.objects.filter(user=world.bob).update(role=Role.VIEWER)
    response = pay(api_as(world.bob, world.acme))
    assert (response.status_code, error_code(response)) == (403, "permission_denied")


# --- idempotency -----------------------------------------------------------------------------


def test_a_replay_answers_with_the_same_payment_and_status(
    alice: Any, accounts: dict[str, Account]
) -> None:
    # given a payment made with a key
    first = pay(alice, key="pay-1", memo="invoice 7")
    # when the same request is sent again with the same key
    again = pay(alice, key="pay-1", memo="invoice 7")
    # then the same payment comes back with the same status code, and only one exists
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert Payment.objects.count() == 1
    assert LedgerOutbox.objects.count() == 1


def test_a_key_reused_with_another_body_is_refused(
    alice: Any, accounts: dict[str, Account]
) -> None:
    pay(alice, key="pay-1", amount=1_000)
    response = pay(alice, key="pay-1", amount=2_000)
    assert (response.status_code, error_code(response)) == (409, "idempotency_key_reused")
    assert list(Payment.objects.values_list("amount", flat=True)) == [1_000]


def test_keys_are_forgotten_after_a_day_and_not_before(
    alice: Any, accounts: dict[str, Account]
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from payments.services import idempotency_keys_expire

    pay(alice, key="old")
    pay(alice, key="new")
    IdempotencyKey.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=24, minutes=1)
    )
    assert idempotency_keys_expire() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


# --- maker-checker ---------------------------------------------------------------------------


def test_an_admin_payment_under_the_threshold_is_queued_on_the_ledger(
    alice: Any, accounts: dict[str, Account]
) -> None:
    response = pay(alice, amount=100_000)  # exactly 1,000.00 EUR: not above
    body = response.json()
    assert response.status_code == 202 and body["status"] == "queued"
    row = LedgerOutbox.objects.get()
    payment = Payment.objects.get()
    assert row.tx_type == "payment"
    assert row.payload == {
        "from_account": "acme:main", "to_account": "globex:main", "currency": "EUR",
        "amount": 100_000, "reference": payment_reference(payment),
    }  # fmt: skip
    assert len(bytes.fromhex(str(row.payload["reference"]))) == 32
    assert (body["direction"], body["payer"], body["payee"]) == ("outgoing", "acme", "globex")


def test_a_member_payment_waits_for_approval(bob: Any, accounts: dict[str, Account]) -> None:
    response = pay(bob, amount=1)
    assert response.json()["status"] == "pending_approval"
    assert not LedgerOutbox.objects.exists()


def test_an_admin_payment_above_the_threshold_waits_for_approval(
    alice: Any, accounts: dict[str, Account]
) -> None:
    response = pay(alice, amount=100_001)
    assert response.json()["status"] == "pending_approval"
    assert not LedgerOutbox.objects.exists()


def test_the_maker_cannot_approve_their_own_payment(
    alice: Any, accounts: dict[str, Account]
) -> None:
    payment = pay(alice, amount=500_000).json()
    response = alice.post(f"/api/v1/orgs/acme/payments/{payment['id']}/approve/")
    assert (response.status_code, error_code(response)) == (403, "self_approval")
    assert Payment.objects.get().status == "pending_approval"


def test_another_admin_approves_and_the_payment_is_queued(
    world: World, alice: Any, bob: Any, accounts: dict[str, Account]
) -> None:
    # given bob's payment waiting for approval
    payment = pay(bob, amount=700).json()
    # when bob tries to approve it (a member), then alice (the owner) does
    denied = bob.post(f"/api/v1/orgs/acme/payments/{payment['id']}/approve/")
    approved = alice.post(f"/api/v1/orgs/acme/payments/{payment['id']}/approve/")
    # then only alice's approval counts, and the payment is on its way to the ledger
    assert (denied.status_code, error_code(denied)) == (403, "permission_denied")
    assert approved.status_code == 200 and approved.json()["status"] == "queued"
    stored = Payment.objects.get()
    assert stored.approved_by == world.alice and stored.outbox is not None
    again = alice.post(f"/api/v1/orgs/acme/payments/{payment['id']}/approve/")
    assert (again.status_code, error_code(again)) == (409, "payment_not_pending")
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"payments.payment.created", "payments.payment.approved"} <= actions


def test_the_threshold_is_per_currency_and_set_by_admins(
    alice: Any, bob: Any, accounts: dict[str, Account]
) -> None:
    # given the default policy
    policy = alice.get("/api/v1/orgs/acme/approval-policy/").json()["thresholds"]
    assert (policy["EUR"], policy["JPY"], policy["BHD"]) == (100_000, 1_000, 1_000_000)
    # when bob tries to change it, then alice lowers EUR to 10.00
    denied = bob.put(
        "/api/v1/orgs/acme/approval-policy/", {"thresholds": {"EUR": 1}}, format="json"
    )
    changed = alice.put(
        "/api/v1/orgs/acme/approval-policy/", {"thresholds": {"EUR": 1_000}}, format="json"
    )
    # then only alice's change holds, and her own 10.01 EUR payment now waits for approval
    assert denied.status_code == 403
    assert changed.status_code == 200 and changed.json()["thresholds"]["EUR"] == 1_000
    assert changed.json()["thresholds"]["USD"] == 100_000
    assert pay(alice, amount=1_000).json()["status"] == "queued"
    assert pay(alice, amount=1_001).json()["status"] == "pending_approval"
    assert AuditEvent.objects.filter(action="payments.policy.updated").count() == 1


@pytest.mark.parametrize("body", [{"thresholds": {"XYZ": 5}}, {"thresholds": {"EUR": "5"}}])
def test_a_bad_policy_is_refused(alice: Any, body: dict[str, Any]) -> None:
    response = alice.put("/api/v1/orgs/acme/approval-policy/", body, format="json")
    assert (response.status_code, error_code(response)) == (400, "validation_error")


def test_the_maker_cancels_before_submission_and_a_stranger_cannot(
    world: World, alice: Any, bob: Any, accounts: dict[str, Account]
) -> None:
    # given a payment alice queued and one bob made
    queued = pay(alice, amount=10).json()
    pending = pay(bob, amount=10).json()
    # when bob (member, not the maker) tries to cancel alice's, and alice cancels hers
    denied = bob.post(f"/api/v1/orgs/acme/payments/{queued['id']}/cancel/")
    canceled = alice.post(f"/api/v1/orgs/acme/payments/{queued['id']}/cancel/")
    own = bob.post(f"/api/v1/orgs/acme/payments/{pending['id']}/cancel/")
    # then the queued one lost its unsigned outbox row, and bob could cancel his own
    assert denied.status_code == 403
    assert canceled.json()["status"] == "canceled" and own.json()["status"] == "canceled"
    assert not LedgerOutbox.objects.exists()


def test_a_payment_already_signed_cannot_be_canceled(
    alice: Any, accounts: dict[str, Account]
) -> None:
    queued = pay(alice, amount=10).json()
    LedgerOutbox.objects.update(nonce=1, tx_hash="ab" * 32)
    response = alice.post(f"/api/v1/orgs/acme/payments/{queued['id']}/cancel/")
    assert (response.status_code, error_code(response)) == (409, "payment_not_cancelable")
    assert Payment.objects.get().status == "queued"


# --- who sees what ---------------------------------------------------------------------------


def test_the_payee_sees_an_incoming_payment_and_a_third_party_sees_nothing(
    world: World, alice: Any, mallory: Any, accounts: dict[str, Account]
) -> None:
    # given acme paying globex
    payment = pay(alice).json()
    # when globex lists its incoming payments and reads the payment
    incoming = mallory.get("/api/v1/orgs/globex/payments/?direction=incoming").json()
    outgoing = mallory.get("/api/v1/orgs/globex/payments/?direction=outgoing").json()
    detail = mallory.get(f"/api/v1/orgs/globex/payments/{payment['id']}/")
    # then it is there for globex as incoming, and nowhere as outgoing
    assert [p["id"] for p in incoming["results"]] == [payment["id"]]
    assert incoming["results"][0]["direction"] == "incoming"
    assert outgoing["results"] == []
    assert detail.status_code == 200 and detail.json()["amount"] == 1_000
    # and the payee can neither approve nor cancel it
    for verb in ("approve", "cancel"):
        response = mallory.post(f"/api/v1/orgs/globex/payments/{payment['id']}/{verb}/")
        assert response.status_code in (403, 404)
    # and an organization that is neither payer nor payee does not see it
    Membership.objects.create(user=world.mallory, organization=world.initech, role=Role.OWNER)
    third = api_as(world.mallory, world.initech)
    assert third.get(f"/api/v1/orgs/initech/payments/{payment['id']}/").status_code == 404
    assert third.get("/api/v1/orgs/initech/payments/").json()["results"] == []
    # while the payer still reads it
    assert alice.get(f"/api/v1/orgs/acme/payments/{payment['id']}/").status_code == 200


def test_mallory_gets_404_on_acme_payments_and_accounts(
    alice: Any, bob: Any, mallory: Any, accounts: dict[str, Account]
) -> None:
    payment = pay(bob, to_account="acme:savings").json()
    for path in (
        "/api/v1/orgs/acme/accounts/",
        "/api/v1/orgs/acme/payments/",
        f"/api/v1/orgs/acme/payments/{payment['id']}/",
        f"/api/v1/orgs/globex/payments/{payment['id']}/",
    ):
        response = mallory.get(path)
        assert (response.status_code, error_code(response)) == (404, "not_found"), path
    response = mallory.post(f"/api/v1/orgs/globex/payments/{payment['id']}/cancel/")
    assert response.status_code == 404
    response = pay(mallory, "acme")
    assert response.status_code == 404


def test_the_directory_lists_every_open_account_without_balances(
    mallory: Any, accounts: dict[str, Account]
) -> None:
    Account.objects.filter(ledger_account_id="initech:main").update(status=Account.Status.OPENING)
    response = mallory.get("/api/v1/directory/accounts/")
    assert response.status_code == 200
    rows = response.json()
    assert [(r["id"], r["organization"]) for r in rows] == [
        ("acme:dollars", "acme"), ("acme:main", "acme"), ("acme:savings", "acme"),
        ("globex:main", "globex"),
    ]  # fmt: skip
    assert set(rows[0]) == {"id", "organization", "currency", "name"}


def test_the_directory_needs_a_signed_in_user(api: Any) -> None:
    assert api.get("/api/v1/directory/accounts/").status_code == 401


# --- accounts --------------------------------------------------------------------------------


def test_an_admin_opens_an_account_and_a_member_cannot(alice: Any, bob: Any, world: World) -> None:
    denied = bob.post("/api/v1/orgs/acme/accounts/", {"currency": "USD", "name": "Ops"})
    response = alice.post("/api/v1/orgs/acme/accounts/", {"currency": "USD", "name": "Ops"})
    assert denied.status_code == 403
    body = response.json()
    assert response.status_code == 202 and body["status"] == "opening"
    assert body["id"].startswith("acme:usd-") and body["currency"] == "USD"
    row = LedgerOutbox.objects.get()
    assert row.tx_type == "account_open"
    assert row.payload == {"account_id": body["id"], "currency": "USD", "owner": "acme"}
    assert AuditEvent.objects.filter(action="payments.account.opened").count() == 1


@pytest.mark.parametrize("body", [{"currency": "usd", "name": "x"}, {"currency": "USD"}])
def test_opening_an_account_validates_its_fields(alice: Any, body: dict[str, Any]) -> None:
    response = alice.post("/api/v1/orgs/acme/accounts/", body, format="json")
    assert (response.status_code, error_code(response)) == (400, "validation_error")


def test_the_account_list_shows_balances_and_adopts_genesis_accounts(
    world: World, bob: Any, accounts: dict[str, Account]
) -> None:
    # given the ledger's genesis funded acme:eur, an account the portal never opened
    MirrorAccount.objects.create(
        account_id="acme:eur", currency="EUR", owner="acme", balance=12_345, height=0
    )
    MirrorAccount.objects.create(
        account_id="globex:eur", currency="EUR", owner="globex", balance=1, height=0
    )
    # when a member lists acme's accounts (twice)
    bob.get("/api/v1/orgs/acme/accounts/")
    rows = bob.get("/api/v1/orgs/acme/accounts/").json()["results"]
    # then the genesis account is there once, open, with its balance; globex's is not
    adopted = [r for r in rows if r["id"] == "acme:eur"]
    assert adopted == [
        {"id": "acme:eur", "currency": "EUR", "name": "EUR account", "status": "open",
         "posted": 12_345, "held": 0, "available": 12_345, "subject_id": None}
    ]  # fmt: skip
    assert "globex:eur" not in {r["id"] for r in rows}
    assert Account.objects.filter(ledger_account_id="acme:eur").count() == 1


# --- events ----------------------------------------------------------------------------------


def test_payment_updates_reach_the_payer_and_the_payee_after_commit(
    world: World,
    alice: Any,
    accounts: dict[str, Account],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from payments import events

    sent: list[tuple[int | None, dict[str, Any]]] = []
    monkeypatch.setattr(events, "publish", lambda org, event: sent.append((org, event)))
    # when acme pays globex: nothing is published before the commit
    with django_capture_on_commit_callbacks(execute=True):
        pay(alice)
        assert sent == []
    # then both organizations' feeds got the update, and initech's did not
    updates = [(org, e["data"]["status"]) for org, e in sent if e["type"] == "payment.updated"]
    assert sorted(updates) == sorted([(world.acme.pk, "queued"), (world.globex.pk, "queued")])
    assert world.initech.pk not in {org for org, _e in sent}
    assert "memo" not in sent[0][1]["data"]
