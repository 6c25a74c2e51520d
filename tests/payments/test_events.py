"""``payment.updated`` on the websocket feeds: the payer's and the payee's, never a third's."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from payments import services
from tenants.models import Membership
from tenants.roles import Role
from tests.conftest import World, token_for
from tests.payments.factories import open_account
from tests.portal.sockets import connect

pytestmark = pytest.mark.django_db(transaction=True)


async def next_payment_event(feed: WebsocketCommunicator) -> dict[str, Any]:
    """The next ``payment.updated`` on ``feed`` (audit events of the same change come too)."""
    while True:
        event = await feed.receive_json_from(timeout=5)
        if event["type"] == "payment.updated":
            return dict(event)


async def test_a_payment_reaches_the_payer_and_the_payee_and_never_a_third(world: World) -> None:
    def given() -> tuple[str, str, str]:
        open_account(world.acme, "main")
        open_account(world.globex, "main")
        Membership.objects.create(user=world.admin, organization=world.initech, role=Role.OWNER)
        return (
            token_for(world.alice, world.acme),
            token_for(world.mallory, world.globex),
            token_for(world.admin, world.initech),
        )

    alice_token, mallory_token, initech_token = await sync_to_async(given)()
    feeds = []
    for org, token in (
        ("acme", alice_token),
        ("globex", mallory_token),
        ("initech", initech_token),
    ):
        feed, ok, _ = await connect(f"/ws/orgs/{org}/events/?token={token}")
        assert ok and (await feed.receive_json_from(timeout=5))["type"] == "feed.ready"
        feeds.append(feed)
    payer, payee, third = feeds

    def acme_pays_globex() -> None:
        services.payment_create(
            organization=world.acme, actor=world.alice, role=Role.OWNER,  # type: ignore[arg-type]
            idempotency_key="feed-1", from_account="acme:main", to_account="globex:main",
            amount=500, currency="EUR", memo="secret memo",
        )  # fmt: skip

    await sync_to_async(acme_pays_globex)()
    for feed, slug in ((payer, "acme"), (payee, "globex")):
        event = await next_payment_event(feed)
        assert event["organization"] == slug
        assert event["data"]["status"] == "queued" and event["data"]["amount"] == 500
        assert "secret memo" not in str(event)
    assert await third.receive_nothing(timeout=0.5)
    for feed in feeds:
        await feed.disconnect()
