"""Typed realtime events and the one function that publishes them, so every payload
has one declared shape.

Events go to one channel-layer group per organization (``org.<id>``) and to the alliance-wide
group (``alliance``) when they concern every member. Usable from views (sync), async consumers
and Celery tasks alike.
"""

from __future__ import annotations

import logging
from typing import Any, Literal, NotRequired, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

logger = logging.getLogger(__name__)

ALLIANCE_GROUP = "alliance"


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
]


def org_group(organization_id: int) -> str:
    return f"org.{organization_id}"


def publish(organization_id: int | None, event: Event) -> None:
    """Send ``event`` to one organization's feed (or to the alliance feed when ``None``).

    Publishing is best effort: a broken channel layer must never fail the business action that
    triggered it, so errors are logged, not raised. Call it after commit.
    """
    event = {**event, "at": event.get("at") or timezone.now().isoformat()}  # type: ignore[typeddict-item]
    group = ALLIANCE_GROUP if organization_id is None else org_group(organization_id)
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "feed.event", "event": event})
    except Exception:
        logger.exception("Could not publish %s to %s", event.get("type"), group)


async def apublish(organization_id: int | None, event: Event) -> None:
    """The async form of :func:`publish` for code already on an event loop."""
    event = {**event, "at": event.get("at") or timezone.now().isoformat()}  # type: ignore[typeddict-item]
    group = ALLIANCE_GROUP if organization_id is None else org_group(organization_id)
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(group, {"type": "feed.event", "event": event})
