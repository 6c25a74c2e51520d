"""The webhooks API: endpoints with a secret shown once, rotation, the delivery log,
redelivery, who may use it, and signed deliveries that a Standard Webhooks receiver accepts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from kernel.events import publish
from payments import services as payments_services
from tenants.models import AuditEvent, Membership
from tenants.roles import Role
from tests.conftest import World, api_as
from tests.payments.factories import open_account
from tests.webhooks.receiver_support import Receiver
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

ENDPOINTS = "/api/v1/orgs/acme/webhooks/endpoints/"
PAYMENT = {"id": 7, "status": "settled", "amount": 1_000, "currency": "EUR"}


def create(world: World, url: str, event_types: list[str] | None = None) -> dict[str, Any]:
    response = api_as(world.alice, world.acme).post(
        ENDPOINTS,
        {"url": url, "event_types": event_types or ["payment.updated"], "description": "ERP"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    return dict(response.json())


def publish_payment(organization_id: int, capture: Any) -> None:
    with capture(execute=True):
        publish(
            organization_id, {"type": "payment.updated", "organization": "acme", "data": PAYMENT}
        )


def test_it_shows_the_secret_once_at_creation(world: World, hook: Receiver) -> None:
    created = create(world, hook.url)
    assert created["secret"].startswith("whsec_")
    detail = api_as(world.alice, world.acme).get(f"{ENDPOINTS}{created['id']}/").json()
    listing = api_as(world.alice, world.acme).get(ENDPOINTS).json()
    assert "secret" not in detail
    assert detail["event_types"] == ["payment.updated"]
    assert all("secret" not in row for row in listing["results"])
    assert AuditEvent.objects.filter(action="webhooks.endpoint.created").count() == 1


def test_a_delivery_is_signed_so_that_standardwebhooks_verifies_it(
    world: World, hook: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    created = create(world, hook.url)
    # when a payment event is published for acme
    publish_payment(world.acme.pk, django_capture_on_commit_callbacks)
    # then the receiver got one POST that verifies with the endpoint's secret
    assert len(hook.requests) == 1
    received = hook.requests[0]
    body = Webhook(created["secret"]).verify(received.body, received.headers)
    assert body["type"] == "payment.updated"
    assert body["data"] == PAYMENT
    assert body["timestamp"]
    assert received.headers["webhook-id"].startswith("msg_")
    # and the delivery log shows the successful attempt
    log = api_as(world.alice, world.acme).get(f"{ENDPOINTS}{created['id']}/deliveries/").json()
    [delivery] = log["results"]
    assert delivery["status"] == "succeeded"
    assert delivery["message_id"] == received.headers["webhook-id"]
    assert [a["status_code"] for a in delivery["attempts"]] == [204]


def test_a_tampered_body_does_not_verify(
    world: World, hook: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    created = create(world, hook.url)
    publish_payment(world.acme.pk, django_capture_on_commit_callbacks)
    received = hook.requests[0]
    tampered = json.loads(received.body)
    tampered["data"]["amount"] = 1
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(created["secret"]).verify(json.dumps(tampered), received.headers)


def test_after_rotation_both_secrets_verify_during_the_overlap(
    world: World, hook: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    created = create(world, hook.url)
    rotated = api_as(world.alice, world.acme).post(f"{ENDPOINTS}{created['id']}/rotate-secret/")
    assert rotated.status_code == 200
    assert rotated["Cache-Control"] == "no-store"
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != created["secret"]
    publish_payment(world.acme.pk, django_capture_on_commit_callbacks)
    received = hook.requests[0]
    # the header carries two signatures; a receiver with either secret accepts the message
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    Webhook(created["secret"]).verify(received.body, received.headers)
    Webhook(new_secret).verify(received.body, received.headers)


def test_an_endpoint_receives_only_its_organization_and_its_event_types(
    world: World, hook: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    create(world, hook.url, ["ledger.tx"])
    publish_payment(world.acme.pk, django_capture_on_commit_callbacks)  # not subscribed
    with django_capture_on_commit_callbacks(execute=True):
        publish(world.globex.pk, {"type": "ledger.tx", "data": {"hash": "ab"}})  # other org
    assert hook.requests == []
    with django_capture_on_commit_callbacks(execute=True):
        publish(world.acme.pk, {"type": "ledger.tx", "data": {"hash": "ab"}})
    assert len(hook.requests) == 1


def test_it_refuses_event_types_that_members_may_not_read(world: World, hook: Receiver) -> None:
    response = api_as(world.alice, world.acme).post(
        ENDPOINTS, {"url": hook.url, "event_types": ["audit.created"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "webhook_event_type_unknown"
    assert WebhookEndpoint.objects.count() == 0


def test_it_refuses_a_private_url_unless_allowed(world: World, settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    response = api_as(world.alice, world.acme).post(
        ENDPOINTS, {"url": "http://127.0.0.1:8080/", "event_types": ["ledger.tx"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "webhook_url_forbidden"
    assert WebhookEndpoint.objects.count() == 0


def test_redelivery_sends_the_same_message_again(
    world: World, hook: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    create(world, hook.url)
    publish_payment(world.acme.pk, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(world.alice, world.acme).post(
            f"/api/v1/orgs/acme/webhooks/deliveries/{delivery.pk}/redeliver/"
        )
    assert response.status_code == 202
    assert len(hook.requests) == 2
    assert hook.requests[0].headers["webhook-id"] == hook.requests[1].headers["webhook-id"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 2)


def test_a_member_below_admin_cannot_see_or_manage_endpoints(world: World, hook: Receiver) -> None:
    created = create(world, hook.url)
    bob = api_as(world.bob, world.acme)
    assert bob.get(ENDPOINTS).status_code == 403
    assert bob.get(f"{ENDPOINTS}{created['id']}/deliveries/").status_code == 403
    assert bob.post(f"{ENDPOINTS}{created['id']}/rotate-secret/").status_code == 403
    response = bob.post(ENDPOINTS, {"url": hook.url, "event_types": []}, format="json")
    assert response.status_code == 403


def test_mallory_cannot_see_or_touch_acme_endpoints(world: World, hook: Receiver) -> None:
    created = create(world, hook.url)
    # mallory owns globex, so no role check hides a missing organization filter
    Membership.objects.filter(user=world.mallory).update(role=Role.OWNER)
    mallory = api_as(world.mallory, world.globex)
    assert mallory.get(ENDPOINTS).status_code == 404
    assert mallory.post(f"{ENDPOINTS}{created['id']}/rotate-secret/").status_code == 404
    own = "/api/v1/orgs/globex/webhooks/endpoints/"
    assert mallory.get(f"{own}{created['id']}/").status_code == 404
    assert mallory.post(f"{own}{created['id']}/rotate-secret/").status_code == 404
    assert mallory.get(f"{own}{created['id']}/deliveries/").status_code == 404
    assert mallory.get(own).json()["results"] == []
    assert WebhookEndpoint.objects.get().secrets.count() == 1


def test_an_admin_disables_and_deletes_an_endpoint(world: World, hook: Receiver) -> None:
    created = create(world, hook.url)
    alice = api_as(world.alice, world.acme)
    patched = alice.patch(f"{ENDPOINTS}{created['id']}/", {"enabled": False}, format="json")
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    assert alice.delete(f"{ENDPOINTS}{created['id']}/").status_code == 204
    assert WebhookEndpoint.objects.count() == 0


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_a_non_numeric_endpoint_id_is_not_found(world: World, method: str) -> None:
    response = getattr(api_as(world.alice, world.acme), method)(f"{ENDPOINTS}x%FF/", {}, "json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_payment_reaches_the_payee_s_endpoint_through_the_payments_service(
    world: World, hook: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    # given an endpoint of globex, the payee, and a payment made by acme's member
    Membership.objects.filter(user=world.mallory).update(role=Role.OWNER)
    created = api_as(world.mallory, world.globex).post(
        "/api/v1/orgs/globex/webhooks/endpoints/",
        {"url": hook.url, "event_types": ["payment.updated"]},
        format="json",
    )
    secret = created.json()["secret"]
    source = open_account(world.acme, "main")
    target = open_account(world.globex, "main")
    with django_capture_on_commit_callbacks(execute=True):
        made = payments_services.payment_create(
            organization=world.acme,
            actor=world.bob,
            role=Role.MEMBER,
            idempotency_key="webhook-1",
            from_account=source.ledger_account_id,
            to_account=target.ledger_account_id,
            amount=2_500,
            currency="EUR",
        )
    # then globex's receiver got the signed event of that payment
    [received] = hook.requests
    body = Webhook(secret).verify(received.body, received.headers)
    assert body["type"] == "payment.updated"
    assert (body["data"]["id"], body["data"]["amount"]) == (made.payment.pk, 2_500)
    assert "memo" not in body["data"]
