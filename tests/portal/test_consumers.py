"""The organization feed over websockets: authentication, membership, per-organization groups."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from kernel.events import apublish
from portal.asgi import application
from tests.conftest import token_for

pytestmark = pytest.mark.django_db(transaction=True)


async def connect(path: str) -> tuple[WebsocketCommunicator, bool, int | None]:
    communicator = WebsocketCommunicator(
        application, path, headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")]
    )
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def test_an_unauthenticated_socket_is_refused(world) -> None:
    _communicator, connected, code = await connect("/ws/orgs/acme/events/")
    assert connected is False
    assert code == 4401


async def test_a_bad_token_is_refused(world) -> None:
    _communicator, connected, code = await connect("/ws/orgs/acme/events/?token=ap_nope_nope")
    assert (connected, code) == (False, 4401)


async def test_mallory_cannot_join_acmes_feed(world) -> None:
    token = await sync_to_async(token_for)(world.mallory, world.globex)
    _communicator, connected, code = await connect(f"/ws/orgs/acme/events/?token={token}")
    assert (connected, code) == (False, 4404)


async def test_an_acme_event_reaches_alice_and_never_mallory(world) -> None:
    alice_token = await sync_to_async(token_for)(world.alice, world.acme)
    mallory_token = await sync_to_async(token_for)(world.mallory, world.globex)
    alice, ok_a, _ = await connect(f"/ws/orgs/acme/events/?token={alice_token}")
    mallory, ok_m, _ = await connect(f"/ws/orgs/globex/events/?token={mallory_token}")
    assert ok_a and ok_m
    assert (await alice.receive_json_from(timeout=5))["type"] == "feed.ready"
    assert (await mallory.receive_json_from(timeout=5))["type"] == "feed.ready"

    await apublish(
        world.acme.pk,
        {
            "type": "audit.created",
            "organization": "acme",
            "data": {"action": "member.added", "actor": "alice", "object_repr": "carol"},
        },
    )
    event = await alice.receive_json_from(timeout=5)
    assert event["type"] == "audit.created"
    assert event["data"]["object_repr"] == "carol"
    assert await mallory.receive_nothing(timeout=0.5)

    await apublish(None, {"type": "block.committed", "data": {"height": 7}})
    assert (await alice.receive_json_from(timeout=5))["data"] == {"height": 7}
    assert (await mallory.receive_json_from(timeout=5))["data"] == {"height": 7}
    await alice.disconnect()
    await mallory.disconnect()


async def test_a_service_change_is_published_to_the_feed_after_commit(world) -> None:
    from tenants import services
    from tenants.models import Membership
    from tenants.roles import Role

    alice_token = await sync_to_async(token_for)(world.alice, world.acme)
    alice, ok, _ = await connect(f"/ws/orgs/acme/events/?token={alice_token}")
    assert ok
    await alice.receive_json_from(timeout=5)  # feed.ready

    def promote_bob() -> None:
        membership = Membership.objects.get(user=world.bob)
        services.membership_change_role(
            membership=membership, role=Role.OPERATOR, actor=world.alice
        )

    await sync_to_async(promote_bob)()
    event = await asyncio.wait_for(alice.receive_json_from(timeout=5), 6)
    assert event["type"] == "audit.created"
    assert event["data"]["action"] == "member.role_changed"
    await alice.disconnect()


async def test_a_suspended_organization_refuses_its_feed(world) -> None:
    token = await sync_to_async(token_for)(world.alice, world.acme)
    world.acme.status = "suspended"
    await sync_to_async(world.acme.save)()
    _communicator, connected, code = await connect(f"/ws/orgs/acme/events/?token={token}")
    assert (connected, code) == (False, 4403)
