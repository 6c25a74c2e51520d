"""Holds decided by a real ledger: placed, captured in part, voided, expired at a later block,
refused for insufficient funds; hidden from other organizations; idempotent."""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest
from rest_framework.response import Response
from rest_framework.test import APIClient

from payments.models import Account, Hold
from payments.services import holds as hold_services
from tenants.models import AuditEvent, Membership
from tenants.roles import Role
from tests.conftest import World, api_as
from tests.ledger.portal.support import LedgerHarness
from tests.payments.api_support import error_code
from tests.payments.ledger_support import FUNDS, Pipeline
from tests.payments.mirror_support import balance, held

_KEYS = count(1)


def place(
    client: APIClient,
    *,
    key: str | None = None,
    amount: int = 10_000,
    expires_in: int = 3600,
    org: str = "acme",
) -> Response:
    body = {
        "from_account": "acme:usd", "to_account": "globex:usd", "amount": amount,
        "currency": "USD", "expires_in": expires_in,
    }  # fmt: skip
    headers = {"HTTP_IDEMPOTENCY_KEY": key or f"hold-{next(_KEYS)}"}
    return client.post(f"/api/v1/orgs/{org}/holds/", body, format="json", **headers)


def accounts_of(client: APIClient, org: str) -> list[tuple[str, int, int, int]]:
    rows = client.get(f"/api/v1/orgs/{org}/accounts/").json()["results"]
    return [(a["id"], a["posted"], a["held"], a["available"]) for a in rows]


@pytest.fixture
def ledger_clock(chain: LedgerHarness, monkeypatch: pytest.MonkeyPatch) -> LedgerHarness:
    """The portal's clock set to the harness's block time (its consensus runs a virtual clock
    from zero), so that expiries the portal computes are within the ledger's window."""

    def now_ms() -> int:
        committed = chain.committed
        return committed[-1].block.header.timestamp_ms if committed else 0

    monkeypatch.setattr(hold_services, "ledger_time_ms", now_ms)
    return chain


@pytest.fixture
def funded(world: World, alice: APIClient, ledger_clock: LedgerHarness) -> None:
    """acme:usd (genesis funds) and globex:usd adopted as open accounts."""
    alice.get("/api/v1/orgs/acme/accounts/")
    Account.objects.create(
        organization=world.globex, currency="USD", name="usd", status="open",
        ledger_account_id="globex:usd",
    )  # fmt: skip


def test_a_placed_hold_becomes_active_and_reduces_what_is_available(
    alice: APIClient, mallory: APIClient, funded: None, pipeline: Pipeline
) -> None:
    # when alice places a 100.00 USD hold for globex and the ledger commits it
    created = place(alice, amount=10_000)
    assert created.status_code == 202 and created.json()["status"] == "queued"
    pipeline.run()
    # then the hold is active, for the payer and the payee, and acme's available funds dropped
    hold = Hold.objects.get()
    assert (hold.status, hold.failure_code) == ("active", "")
    assert alice.get(f"/api/v1/orgs/acme/holds/{hold.pk}/").json()["status"] == "active"
    theirs = mallory.get("/api/v1/orgs/globex/holds/").json()["results"]
    assert [(h["id"], h["payer"], h["status"]) for h in theirs] == [(hold.pk, "acme", "active")]
    assert accounts_of(alice, "acme") == [("acme:usd", FUNDS, 10_000, FUNDS - 10_000)]
    assert AuditEvent.objects.filter(action="payments.hold.placed").count() == 1


def test_a_partial_capture_moves_that_amount_and_releases_the_rest(
    alice: APIClient, mallory: APIClient, funded: None, pipeline: Pipeline
) -> None:
    # given an active hold of 100.00 USD
    hold_pk = place(alice, amount=10_000).json()["id"]
    pipeline.run()
    # when alice captures 60.00 of it
    response = alice.post(f"/api/v1/orgs/acme/holds/{hold_pk}/capture/", {"amount": 6_000},
                          format="json")  # fmt: skip
    assert response.status_code == 202
    pipeline.run()
    # then the hold is captured for 60.00; 60.00 moved, nothing stays held
    hold = Hold.objects.get()
    assert (hold.status, hold.captured_amount, hold.block_height is not None) == (
        "captured", 6_000, True,
    )  # fmt: skip
    assert (balance("acme:usd"), held("acme:usd")) == (FUNDS - 6_000, 0)
    assert balance("globex:usd") == 6_000
    assert accounts_of(mallory, "globex") == [("globex:usd", 6_000, 0, 6_000)]
    # and a second capture is refused
    again = alice.post(f"/api/v1/orgs/acme/holds/{hold_pk}/capture/", {}, format="json")
    assert (again.status_code, error_code(again)) == (409, "hold_not_active")


def test_a_capture_above_the_held_amount_is_refused(
    alice: APIClient, funded: None, pipeline: Pipeline
) -> None:
    hold_pk = place(alice, amount=10_000).json()["id"]
    pipeline.run()
    response = alice.post(f"/api/v1/orgs/acme/holds/{hold_pk}/capture/", {"amount": 10_001},
                          format="json")  # fmt: skip
    assert (response.status_code, error_code(response)) == (400, "capture_exceeds_hold")


def test_a_voided_hold_releases_everything(
    alice: APIClient, funded: None, pipeline: Pipeline
) -> None:
    hold_pk = place(alice, amount=10_000).json()["id"]
    pipeline.run()
    assert held("acme:usd") == 10_000
    # when alice voids it
    assert alice.post(f"/api/v1/orgs/acme/holds/{hold_pk}/void/").status_code == 202
    pipeline.run()
    # then nothing moved and nothing is held
    assert Hold.objects.get().status == "voided"
    assert (balance("acme:usd"), held("acme:usd"), balance("globex:usd")) == (FUNDS, 0, 0)


def test_a_hold_expires_at_a_later_block_without_any_transaction(
    alice: APIClient, funded: None, pipeline: Pipeline, chain: LedgerHarness
) -> None:
    # given an active hold expiring one second (of block time) after it was placed
    place(alice, amount=10_000, expires_in=1)
    pipeline.run()
    hold = Hold.objects.get()
    assert hold.status == "active" and held("acme:usd") == 10_000
    # when block time passes its expiry and more blocks are mirrored (no transaction of ours)
    chain.driver.now_ms = max(chain.driver.now_ms, hold.expires_at_ms + 1)
    pipeline.run()
    # then the ledger released it at a block, the mirror knows, and so does the portal
    hold.refresh_from_db()
    assert hold.status == "expired" and hold.block_height is not None
    assert (balance("acme:usd"), held("acme:usd")) == (FUNDS, 0)
    assert accounts_of(alice, "acme") == [("acme:usd", FUNDS, 0, FUNDS)]
    # and it can no longer be captured
    response = alice.post(f"/api/v1/orgs/acme/holds/{hold.pk}/capture/", {}, format="json")
    assert error_code(response) == "hold_not_active"


def test_a_hold_above_the_available_funds_is_rejected(
    alice: APIClient, funded: None, pipeline: Pipeline
) -> None:
    place(alice, amount=FUNDS + 1)
    pipeline.run()
    hold = Hold.objects.get()
    assert (hold.status, hold.failure_code) == ("rejected", "insufficient_funds")
    assert held("acme:usd") == 0


def test_mallory_cannot_see_capture_or_void_acme_s_holds(
    world: World, alice: APIClient, funded: None
) -> None:
    # given a hold of acme's for globex, and mallory an owner of globex (no role check hides
    # a missing organization filter)
    hold_pk = place(alice).json()["id"]
    Membership.objects.filter(user=world.mallory, organization=world.globex).update(role=Role.OWNER)
    mallory = api_as(world.mallory, world.globex)
    # then under acme's slug she finds nothing
    assert mallory.get(f"/api/v1/orgs/acme/holds/{hold_pk}/").status_code == 404
    # and as the payee she reads it but cannot capture or void it
    assert mallory.get(f"/api/v1/orgs/globex/holds/{hold_pk}/").status_code == 200
    for action in ("capture", "void"):
        assert mallory.post(f"/api/v1/orgs/globex/holds/{hold_pk}/{action}/").status_code == 404
        assert mallory.post(f"/api/v1/orgs/acme/holds/{hold_pk}/{action}/").status_code == 404
    assert Hold.objects.get().status == "queued"


def test_a_member_cannot_place_a_hold(bob: APIClient, funded: None) -> None:
    assert place(bob).status_code == 403
    assert not Hold.objects.exists()


def test_the_same_key_answers_with_the_same_hold_and_another_body_is_refused(
    alice: APIClient, funded: None
) -> None:
    first = place(alice, key="h-1")
    again = place(alice, key="h-1")
    assert (again.status_code, again.json()["id"]) == (202, first.json()["id"])
    assert Hold.objects.count() == 1
    other = place(alice, key="h-1", amount=1)
    assert (other.status_code, error_code(other)) == (409, "idempotency_key_reused")


def test_an_expiry_beyond_ninety_days_is_refused(alice: APIClient, funded: None) -> None:
    response = place(alice, expires_in=90 * 24 * 3600 + 1)
    assert response.status_code == 400 and not Hold.objects.exists()


def test_hold_updates_reach_the_payer_and_the_payee(
    world: World,
    alice: APIClient,
    funded: None,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    sent: list[tuple[int | None, dict[str, Any]]] = []
    monkeypatch.setattr("payments.events.publish", lambda org, event: sent.append((org, event)))
    with django_capture_on_commit_callbacks(execute=True):
        hold_pk = place(alice).json()["id"]
    assert sorted((org, e["type"], e["data"]["id"]) for org, e in sent) == sorted(
        [(world.acme.pk, "hold.updated", hold_pk), (world.globex.pk, "hold.updated", hold_pk)]
    )
