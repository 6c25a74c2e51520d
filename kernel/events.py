"""Typed realtime events and the one function that publishes them, so every payload
has one declared shape and one declared audience.

Groups (the only ones a consumer joins):

- ``org.<id>.members``: everyone with a role in the organization (viewers included);
- ``org.<id>.admins``: its admins and owners, who alone may read the audit log, invitations
  (with emails and roles) and other people's tokens;
- ``alliance``: every connected member of every organization;
- ``access.user.<id>`` and ``access.token.<id>``: no events, only the notice that this user's
  or this token's access changed, on which the socket resolves its access again.

Each event kind declares its audience once, in :data:`EVENT_AUDIENCE`; :func:`publish` routes by
it, so a caller cannot send an admin event to the members' group. Usable from views (sync), async
consumers and Celery tasks alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal, NotRequired, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

logger = logging.getLogger(__name__)

ALLIANCE_GROUP = "alliance"

Audience = Literal["members", "admins"]


class Event(TypedDict):
    """Envelope of every event sent to a websocket client."""

    type: str  # e.g. "audit.created", "enrollment.progress", "block.committed"
    organization: NotRequired[str]
    at: NotRequired[str]
    data: dict[str, Any]


class AuditCreatedData(TypedDict):
    action: str
    actor: str
    object_repr: str


EventKind = Literal[
    "audit.created",
    "member.changed",
    "enrollment.progress",
    "block.committed",
    "ledger.tx",
    "payment.updated",
    "hold.updated",
]

# Who may read each kind: "members" is every role of the organization, "admins" only admins and
# owners. Audit events name invitees' emails, roles, token prefixes and removed members, which
# the API shows to admins only; the rest is what any member may list through the API.
EVENT_AUDIENCE: dict[str, Audience] = {
    "audit.created": "admins",
    "member.changed": "admins",
    "enrollment.progress": "members",
    "block.committed": "members",
    "ledger.tx": "members",
    "payment.updated": "members",
    "hold.updated": "members",
}


#: Receives every organization event whose audience is "members", after the websocket send.
EventSink = Callable[[int, Event], None]

_SINKS: list[EventSink] = []


def register_sink(sink: EventSink) -> None:
    """Have :func:`publish` hand every members' event of an organization to ``sink`` too.

    Apps above the kernel (webhooks) register here from ``AppConfig.ready`` so that every event
    a member may read reaches them without each publisher knowing them. Admin-only and
    alliance-wide events never reach a sink. Registering the same sink twice is a no-op.
    """
    if sink not in _SINKS:
        _SINKS.append(sink)


def unregister_sink(sink: EventSink) -> None:
    if sink in _SINKS:
        _SINKS.remove(sink)


def _to_sinks(organization_id: int | None, event: Event) -> None:
    if organization_id is None or EVENT_AUDIENCE.get(event["type"]) != "members":
        return
    event = {**event, "at": event.get("at") or timezone.now().isoformat()}
    for sink in list(_SINKS):
        # Best effort like the websocket send: a failing sink must not fail the business action.
        try:
            sink(organization_id, event)
        except Exception:
            logger.exception("Event sink %r failed on %s", sink, event["type"])


def org_group(organization_id: int, audience: Audience) -> str:
    return f"org.{organization_id}.{audience}"


def user_access_group(user_id: int) -> str:
    return f"access.user.{user_id}"


def token_access_group(token_id: int) -> str:
    return f"access.token.{token_id}"


def _route(organization_id: int | None, event: Event) -> tuple[str, dict[str, Any]] | None:
    """The group and the channel-layer message for ``event``, or ``None`` when it has no
    declared audience (dropped: an undeclared kind must not reach anyone by default)."""
    audience = EVENT_AUDIENCE.get(event["type"])
    if audience is None or (organization_id is None and audience != "members"):
        logger.error("Not publishing %s: no audience declared for it there", event["type"])
        return None
    event = {**event, "at": event.get("at") or timezone.now().isoformat()}
    group = ALLIANCE_GROUP if organization_id is None else org_group(organization_id, audience)
    # The audience travels with the message so a socket whose role was just lowered drops what
    # was already in flight to a group it has left.
    return group, {"type": "feed.event", "audience": audience, "event": event}


def publish(organization_id: int | None, event: Event) -> None:
    """Send ``event`` to the audience of one organization (or to the alliance when ``None``).

    Publishing is best effort: a broken channel layer must never fail the business action that
    triggered it, so errors are logged, not raised. Call it after commit.
    """
    route = _route(organization_id, event)
    layer = get_channel_layer()
    if route is not None and layer is not None:
        try:
            async_to_sync(layer.group_send)(*route)
        except Exception:
            logger.exception("Could not publish %s to %s", event.get("type"), route[0])
    _to_sinks(organization_id, event)


async def apublish(organization_id: int | None, event: Event) -> None:
    """The async form of :func:`publish` for code already on an event loop: the websocket send
    only, since sinks write to the database (call :func:`publish` through ``sync_to_async`` for
    an event that sinks must see)."""
    route = _route(organization_id, event)
    layer = get_channel_layer()
    if route is not None and layer is not None:
        await layer.group_send(*route)


def notify_access_changed(
    *,
    organization_id: int | None = None,
    user_id: int | None = None,
    token_id: int | None = None,
) -> None:
    """Tell the sockets of an organization, a user or a token to resolve their access again:
    they close when it is gone and follow a changed role. Best effort like :func:`publish`
    (each socket also re-checks on a timer); call it after commit."""
    groups = []
    if organization_id is not None:
        groups.append(org_group(organization_id, "members"))  # every socket of the organization
    if user_id is not None:
        groups.append(user_access_group(user_id))
    if token_id is not None:
        groups.append(token_access_group(token_id))
    layer = get_channel_layer()
    if layer is None:
        return
    for group in groups:
        try:
            async_to_sync(layer.group_send)(group, {"type": "access.changed"})
        except Exception:
            logger.exception("Could not notify %s of an access change", group)
