"""Websocket consumers: authenticate, resolve the organization through tenants, join only that
organization's group, forward typed events. Nothing else: the per-organization group decides
who receives an event, with no per-message filtering here."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from rest_framework.exceptions import AuthenticationFailed

from kernel.events import ALLIANCE_GROUP, org_group
from tenants.access import OrgContext, resolve
from tenants.authentication import authenticate_token
from tenants.errors import AccessDenied

# Close codes (4000-4999 are application-defined).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


def _token_from_scope(scope: dict[str, Any]) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return query["token"][0]
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            parts = value.decode("latin-1").split()
            if len(parts) == 2 and parts[0].lower() == "bearer":
                return parts[1]
    return None


@database_sync_to_async
def _resolve(scope: dict[str, Any], org_slug: str) -> OrgContext | int:
    raw = _token_from_scope(scope)
    token = None
    user = scope.get("user")
    if raw:
        try:
            token = authenticate_token(raw)
        except AuthenticationFailed:
            return CLOSE_UNAUTHENTICATED
        user = token.membership.user
    if user is None or not user.is_authenticated:
        return CLOSE_UNAUTHENTICATED
    try:
        # Sockets do not hold a database context: they only read the membership once here.
        return resolve(org_slug=org_slug, user=user, token=token, enter_database_context=False)
    except AccessDenied as exc:
        return CLOSE_NOT_FOUND if exc.status == 404 else CLOSE_FORBIDDEN


class OrganizationEventsConsumer(AsyncJsonWebsocketConsumer):
    """``/ws/orgs/<org>/events/``: the organization's live feed (and the alliance feed)."""

    groups: list[str] = []

    async def connect(self) -> None:
        org_slug = self.scope["url_route"]["kwargs"]["org"]
        result = await _resolve(self.scope, org_slug)
        if isinstance(result, int):
            await self.close(code=result)
            return
        self.ctx = result
        self.joined = [org_group(result.organization_id), ALLIANCE_GROUP]
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()  # last, once everything is checked
        await self.send_json(
            {"type": "feed.ready", "organization": org_slug, "role": result.role.value, "data": {}}
        )

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # The feed is one-way; answer pings so clients can check liveness.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong", "data": {}})

    async def feed_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])
