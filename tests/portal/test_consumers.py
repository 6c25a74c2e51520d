"""The organization feed over websockets: authentication, membership, per-audience groups,
and sockets that follow access changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, get_args

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from kernel.events import EVENT_AUDIENCE, Event, EventKind, apublish
from portal.asgi import application
from portal.consumers import OrganizationEventsConsumer
from tenants import services
from tenants.models import ApiToken, Membership
from tenants.roles import Role
from tests.conftest import api_as, token_for
from tests.portal.sockets import connect

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _close_the_consumers_connections() -> AsyncIterator[None]:
    yield
    # The consumers' worker thread holds its own database connection; the test database is
    # dropped after the session and must have no one connected.
    await sync_to_async(connections.close_all)()


AUDIT_EVENT: Event = {
    "type": "audit.created",
    "organization": "acme",
    "data": {"action": "invitation.created", "actor": "alice", "object_repr": "carol"},
}
PROGRESS_EVENT: Event = {
    "type": "enrollment.progress",
    "organization": "acme",
    "data": {"enrollment_id": 1, "subject_id": 1, "status": "done", "progress": 100},
}


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


# --- Sockets follow access: a change closes the socket (or narrows it) within seconds --------
async def closed_with(communicator: WebsocketCommunicator) -> int | None:
    """The close code the server sent, waiting (with a deadline) past any event in flight."""
    deadline = asyncio.get_running_loop().time() + 5
    while asyncio.get_running_loop().time() < deadline:
        output = await communicator.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output.get("code")
    return None


async def ready(path: str, **kwargs: Any) -> WebsocketCommunicator:
    communicator, connected, code = await connect(path, **kwargs)
    assert connected, code
    assert (await communicator.receive_json_from(timeout=5))["type"] == "feed.ready"
    return communicator


async def token(user: object, organization: object) -> str:
    return await sync_to_async(token_for)(user, organization)


def feed(slug: str, secret: str) -> str:
    return f"/ws/orgs/{slug}/events/?token={secret}"


def _membership(user: object, organization: object) -> Membership:
    return Membership.objects.get(user=user, organization=organization)


async def test_removing_a_member_closes_their_socket(world) -> None:
    bob = await ready(
        "/ws/orgs/acme/events/", cookie=await sync_to_async(_session_cookie)(world.bob)
    )

    def remove_bob() -> None:
        services.membership_remove(membership=_membership(world.bob, world.acme), actor=world.alice)

    await sync_to_async(remove_bob)()
    assert await closed_with(bob) == 4404


async def test_removing_a_member_closes_their_token_sockets(world) -> None:
    bob = await ready(feed("acme", await token(world.bob, world.acme)))

    def remove_bob() -> None:
        services.membership_remove(membership=_membership(world.bob, world.acme), actor=world.alice)

    await sync_to_async(remove_bob)()
    assert await closed_with(bob) == 4401  # the membership's tokens went with it


async def test_suspending_the_organization_closes_its_sockets(world) -> None:
    bob = await ready(feed("acme", await token(world.bob, world.acme)))
    alice = await ready(feed("acme", await token(world.alice, world.acme)))

    await sync_to_async(services.organization_set_status)(
        organization=world.acme, status="suspended", actor=world.admin
    )
    assert await closed_with(bob) == 4403
    assert await closed_with(alice) == 4403


async def test_revoking_the_token_closes_its_socket(world) -> None:
    def create() -> tuple[ApiToken, str]:
        return services.token_create(membership=_membership(world.bob, world.acme), name="phone")

    api_token, secret = await sync_to_async(create)()
    bob = await ready(f"/ws/orgs/acme/events/?token={secret}")

    await sync_to_async(services.token_revoke)(api_token=api_token, actor=world.bob)
    assert await closed_with(bob) == 4401


async def test_a_socket_closes_when_its_token_expires(world) -> None:
    def create() -> str:
        _token, secret = services.token_create(
            membership=_membership(world.bob, world.acme),
            name="short",
            expires_at=timezone.now() + timedelta(seconds=1),
        )
        return secret

    bob = await ready(f"/ws/orgs/acme/events/?token={await sync_to_async(create)()}")
    # Nobody publishes anything: the socket's own timer notices the expiry.
    assert await closed_with(bob) == 4401


async def test_the_periodic_recheck_closes_a_socket_whose_access_went_silently(
    world, monkeypatch
) -> None:
    monkeypatch.setattr(OrganizationEventsConsumer, "recheck_seconds", 0.2)
    bob = await ready(
        "/ws/orgs/acme/events/", cookie=await sync_to_async(_session_cookie)(world.bob)
    )

    # A change made without the services (a data fix in the shell) publishes nothing.
    await sync_to_async(lambda: _membership(world.bob, world.acme).delete())()
    assert await closed_with(bob) == 4404


async def test_a_lowered_role_stops_admin_events_at_once(world) -> None:
    await sync_to_async(lambda: Membership.objects.filter(user=world.bob).update(role=Role.ADMIN))()
    bob = await ready(feed("acme", await token(world.bob, world.acme)))

    def demote_bob() -> None:
        services.membership_change_role(
            membership=_membership(world.bob, world.acme), role=Role.MEMBER, actor=world.alice
        )

    await sync_to_async(demote_bob)()  # its own audit event is for admins, and bob no longer is
    await apublish(world.acme.pk, AUDIT_EVENT)
    assert await bob.receive_nothing(timeout=0.5)
    await apublish(world.acme.pk, PROGRESS_EVENT)
    assert (await bob.receive_json_from(timeout=5))["type"] == "enrollment.progress"
    await bob.disconnect()


async def test_a_raised_role_receives_admin_events(world) -> None:
    bob = await ready(feed("acme", await token(world.bob, world.acme)))

    def promote_bob() -> None:
        services.membership_change_role(
            membership=_membership(world.bob, world.acme), role=Role.ADMIN, actor=world.alice
        )

    await sync_to_async(promote_bob)()
    # The ping is answered after the access change was processed (one message at a time); the
    # promotion's own audit event may come before it, depending on who was faster.
    await bob.send_json_to({"type": "ping"})
    while (await bob.receive_json_from(timeout=5))["type"] != "pong":
        pass
    await apublish(world.acme.pk, AUDIT_EVENT)
    event = await bob.receive_json_from(timeout=5)
    assert (event["type"], event["data"]["action"]) == ("audit.created", "invitation.created")
    await bob.disconnect()


# --- Per-audience events ------------------------------------------------------------------------
async def test_admin_events_reach_admins_and_never_members_viewers_or_mallory(world) -> None:
    viewer = await sync_to_async(
        lambda: get_user_model().objects.create_user("victor", "victor@acme.example", "x")
    )()
    await sync_to_async(
        lambda: Membership.objects.create(user=viewer, organization=world.acme, role=Role.VIEWER)
    )()
    # Tokens first: creating one is itself an audit event for the admins already listening.
    secrets = [await token(u, o) for u, o in ((world.alice, world.acme), (world.bob, world.acme))]
    secrets += [await token(viewer, world.acme), await token(world.mallory, world.globex)]
    alice = await ready(feed("acme", secrets[0]))
    bob = await ready(feed("acme", secrets[1]))
    victor = await ready(feed("acme", secrets[2]))
    mallory = await ready(feed("globex", secrets[3]))

    await apublish(world.acme.pk, AUDIT_EVENT)
    await apublish(world.acme.pk, PROGRESS_EVENT)

    assert [(await alice.receive_json_from(timeout=5))["type"] for _ in range(2)] == [
        "audit.created",
        "enrollment.progress",
    ]
    assert (await bob.receive_json_from(timeout=5))["type"] == "enrollment.progress"
    assert (await victor.receive_json_from(timeout=5))["type"] == "enrollment.progress"
    assert await bob.receive_nothing(timeout=0.3)
    assert await victor.receive_nothing(timeout=0.3)
    assert await mallory.receive_nothing(timeout=0.3)
    for communicator in (alice, bob, victor, mallory):
        await communicator.disconnect()


async def test_an_invitation_with_its_email_reaches_admins_only(world) -> None:
    alice_secret, bob_secret = (
        await token(world.alice, world.acme),
        await token(world.bob, world.acme),
    )
    alice = await ready(feed("acme", alice_secret))
    bob = await ready(feed("acme", bob_secret))

    await sync_to_async(services.invitation_create)(
        organization=world.acme,
        email="carol@acme.example",
        role=Role.ADMIN,
        actor=world.alice,
        actor_role=Role.OWNER,
    )
    event = await alice.receive_json_from(timeout=5)
    assert (event["type"], event["data"]["action"]) == ("audit.created", "invitation.created")
    assert await bob.receive_nothing(timeout=0.5)
    await alice.disconnect()
    await bob.disconnect()


def test_every_event_kind_declares_its_audience() -> None:
    assert set(get_args(EventKind)) == set(EVENT_AUDIENCE)
    assert EVENT_AUDIENCE["audit.created"] == "admins"


# --- Origin: checked for cookie sessions only ----------------------------------------------------
def _session_cookie(user: object) -> bytes:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def test_a_token_client_without_an_origin_connects(world) -> None:
    token = await sync_to_async(token_for)(world.bob, world.acme)
    communicator = WebsocketCommunicator(
        application,
        "/ws/orgs/acme/events/",
        headers=[(b"authorization", f"Bearer {token}".encode())],
    )
    connected, _code = await communicator.connect(timeout=5)
    assert connected
    await communicator.disconnect()


async def test_a_session_socket_connects_from_the_portals_origin_only(world) -> None:
    cookie = await sync_to_async(_session_cookie)(world.bob)
    bob = await ready("/ws/orgs/acme/events/", cookie=cookie)
    await bob.disconnect()

    for origin in (b"https://evil.example", None):
        headers = [(b"host", b"localhost"), (b"cookie", cookie)]
        if origin:
            headers.append((b"origin", origin))
        communicator = WebsocketCommunicator(application, "/ws/orgs/acme/events/", headers=headers)
        connected, _code = await communicator.connect(timeout=5)
        assert connected is False


async def test_a_foreign_origin_cannot_ride_a_session_with_a_bad_token(world) -> None:
    cookie = await sync_to_async(_session_cookie)(world.bob)
    communicator = WebsocketCommunicator(
        application,
        "/ws/orgs/acme/events/?token=ap_nope_nope",
        headers=[
            (b"host", b"localhost"),
            (b"cookie", cookie),
            (b"origin", b"https://evil.example"),
        ],
    )
    assert await communicator.connect(timeout=5) == (False, 4401)


async def test_logging_out_closes_the_session_socket(world, monkeypatch) -> None:
    monkeypatch.setattr(OrganizationEventsConsumer, "recheck_seconds", 0.2)
    cookie = await sync_to_async(_session_cookie)(world.bob)
    bob = await ready("/ws/orgs/acme/events/", cookie=cookie)

    def log_out() -> None:
        from django.contrib.sessions.models import Session

        Session.objects.all().delete()

    await sync_to_async(log_out)()
    assert await closed_with(bob) == 4401


# --- Production: PostgreSQL (row-level security) and the Redis channel layer -------------------
@pytest.mark.services
async def test_on_postgres_and_redis_a_session_socket_connects_and_follows_access(
    world, postgres, redis_url
) -> None:
    from channels.layers import channel_layers

    from tenants import rls

    assert "Redis" in type(channel_layers["default"]).__name__
    cookie = await sync_to_async(_session_cookie)(world.bob)
    # The web process starts every database session without tenant or system rights.
    await sync_to_async(rls.set_context)(system=False, organization_id=None, user_id=None)
    try:
        bob = await ready("/ws/orgs/acme/events/", cookie=cookie)
        await apublish(world.acme.pk, PROGRESS_EVENT)
        assert (await bob.receive_json_from(timeout=5))["type"] == "enrollment.progress"

        def remove_bob() -> None:
            with rls.system_context():
                services.membership_remove(
                    membership=_membership(world.bob, world.acme), actor=world.alice
                )

        await sync_to_async(remove_bob)()
        assert await closed_with(bob) == 4404
    finally:
        await sync_to_async(rls.set_context)(system=True, organization_id=None, user_id=None)


# --- Tickets: a socket URL that carries no lasting secret ----------------------------------------
def _ticket(client: Any, slug: str = "acme") -> Any:
    return client.post(f"/api/v1/orgs/{slug}/realtime/ticket/")


async def test_a_ticket_opens_one_socket_once_without_an_origin(world) -> None:
    response = await sync_to_async(lambda: _ticket(api_as(world.bob, world.acme)))()
    assert response.status_code == 201
    assert response.json()["expires_in"] == 60
    path = f"/ws/orgs/acme/events/?ticket={response.json()['ticket']}"

    bob = WebsocketCommunicator(application, path)  # no Origin, no cookie
    assert (await bob.connect(timeout=5))[0]
    assert (await bob.receive_json_from(timeout=5))["role"] == "member"
    await bob.disconnect()

    _again, connected, code = await connect(path)
    assert (connected, code) == (False, 4401)


async def test_a_ticket_works_for_its_organization_only(world) -> None:
    response = await sync_to_async(lambda: _ticket(api_as(world.mallory, world.globex), "globex"))()
    _communicator, connected, code = await connect(
        f"/ws/orgs/acme/events/?ticket={response.json()['ticket']}"
    )
    assert (connected, code) == (False, 4401)


async def test_mallory_cannot_get_a_ticket_for_acme(world) -> None:
    response = await sync_to_async(lambda: _ticket(api_as(world.mallory, world.globex)))()
    assert response.status_code == 404


async def test_an_expired_ticket_is_refused(world, monkeypatch) -> None:
    from portal import services as portal_services

    monkeypatch.setattr(portal_services, "TICKET_SECONDS", 0.2)
    response = await sync_to_async(lambda: _ticket(api_as(world.bob, world.acme)))()
    await asyncio.sleep(0.3)  # the ticket's lifetime is the subject here, not async work
    _communicator, connected, code = await connect(
        f"/ws/orgs/acme/events/?ticket={response.json()['ticket']}"
    )
    assert (connected, code) == (False, 4401)


async def test_a_ticket_socket_closes_when_its_token_is_revoked(world) -> None:
    def create() -> tuple[ApiToken, str]:
        api_token, secret = services.token_create(
            membership=_membership(world.bob, world.acme), name="browser"
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return api_token, _ticket(client).json()["ticket"]

    api_token, ticket = await sync_to_async(create)()
    bob = await ready(f"/ws/orgs/acme/events/?ticket={ticket}")
    await sync_to_async(services.token_revoke)(api_token=api_token, actor=world.bob)
    assert await closed_with(bob) == 4401


async def test_a_ticket_socket_from_a_session_closes_when_the_session_ends(
    world, monkeypatch
) -> None:
    monkeypatch.setattr(OrganizationEventsConsumer, "recheck_seconds", 0.2)

    def session_ticket() -> str:
        client = Client()
        client.force_login(world.bob)
        return str(_ticket(client).json()["ticket"])

    bob = await ready(f"/ws/orgs/acme/events/?ticket={await sync_to_async(session_ticket)()}")

    def log_out() -> None:
        from django.contrib.sessions.models import Session

        Session.objects.all().delete()

    await sync_to_async(log_out)()
    assert await closed_with(bob) == 4401
