"""Websocket consumers: authenticate, resolve the organization through tenants, join the groups
the caller's role may read, forward typed events. The groups decide who receives an event
(kernel/events.py), with no per-message filtering here.

A socket follows its access for as long as it lives: on an ``access.changed`` notice (published
by the tenants services when a membership, role, token or the organization's status changes)
and on a timer as a backstop (and at its token's expiry), it resolves its access again and
closes when it is gone, or moves between groups when the role changed.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import HASH_SESSION_KEY, get_user_model
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from rest_framework.exceptions import AuthenticationFailed

from kernel.events import (
    ALLIANCE_GROUP,
    Audience,
    org_group,
    token_access_group,
    user_access_group,
)
from tenants import rls
from tenants.access import OrgContext, resolve
from tenants.authentication import authenticate_token
from tenants.errors import AccessDenied
from tenants.roles import Role

# Close codes (4000-4999 are application-defined).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404

# The least role that reads each audience (the API's read roles for the same data).
AUDIENCE_ROLE: dict[Audience, Role] = {"members": Role.VIEWER, "admins": Role.ADMIN}


def token_from_scope(scope: dict[str, Any]) -> str | None:
    """The API token a socket presents (``Authorization: Bearer`` or ``?token=``), if any.

    A socket that presents one is authenticated by it alone, never by a session cookie, so the
    Origin check (which protects cookies) does not apply to it (portal/asgi.py).
    """
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            parts = value.decode("latin-1").split()
            if len(parts) == 2 and parts[0].lower() == "bearer":
                return parts[1]
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return query["token"][0]
    return None


def _session_user(scope: dict[str, Any]) -> Any:
    """The session's user as the database has it now, or ``None`` once the session ended
    (logout, expiry), the password changed or the account was deactivated."""
    user, session = scope.get("user"), scope.get("session")
    if user is None or not user.is_authenticated or session is None:
        return None
    if not session.session_key or not session.exists(session.session_key):
        return None
    current = get_user_model()._default_manager.filter(pk=user.pk, is_active=True).first()
    if current is None:
        return None
    if not constant_time_compare(
        session.get(HASH_SESSION_KEY, ""), current.get_session_auth_hash()
    ):
        return None
    return current


@database_sync_to_async
def _resolve(scope: dict[str, Any], org_slug: str) -> OrgContext | int:
    """The caller's access to ``org_slug`` now, or the close code when it has none."""
    # Consumers share the worker thread's database session with every other socket, so the
    # row-level-security context is entered for this check and then put back as it was.
    previous = rls.get_context()
    try:
        raw = token_from_scope(scope)
        token = None
        if raw:
            try:
                token = authenticate_token(raw)
            except AuthenticationFailed:
                return CLOSE_UNAUTHENTICATED
            user = token.membership.user
        else:
            user = _session_user(scope)
            if user is None:
                return CLOSE_UNAUTHENTICATED
        # As in a request (tenants/middleware.py): the caller's own memberships are visible,
        # no organization's rows are until resolve has proved the membership.
        rls.set_context(system=False, organization_id=None, user_id=user.pk)
        try:
            return resolve(org_slug=org_slug, user=user, token=token)
        except AccessDenied as exc:
            return CLOSE_NOT_FOUND if exc.status == 404 else CLOSE_FORBIDDEN
    finally:
        rls._restore(previous)


class OrganizationEventsConsumer(AsyncJsonWebsocketConsumer):
    """``/ws/orgs/<org>/events/``: the organization's live feed (and the alliance feed)."""

    # Backstop for changes that published no notice (a data fix, a lost message): every socket
    # resolves its access again at least this often.
    recheck_seconds: float = 30.0

    ctx: OrgContext | None = None
    audiences: frozenset[str] = frozenset()
    timer: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.org_slug = self.scope["url_route"]["kwargs"]["org"]
        self.joined: set[str] = set()
        result = await _resolve(self.scope, self.org_slug)
        if isinstance(result, int):
            await self.close(code=result)
            return
        await self._follow(result)
        await self.accept()  # last, once everything is checked
        await self.send_json(
            {
                "type": "feed.ready",
                "organization": self.org_slug,
                "role": result.role.value,
                "data": {},
            }
        )
        self.timer = asyncio.create_task(self._recheck_timer())

    async def disconnect(self, code: int) -> None:
        self.ctx = None
        if self.timer is not None:
            self.timer.cancel()
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = set()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # The feed is one-way; answer pings so clients can check liveness.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong", "data": {}})

    async def feed_event(self, message: dict[str, Any]) -> None:
        # Events already queued for a group this socket has just left are dropped here.
        if self.ctx is not None and message.get("audience", "members") in self.audiences:
            await self.send_json(message["event"])

    async def access_changed(self, message: dict[str, Any]) -> None:
        """Resolve the access again: close when it is gone, follow a changed role."""
        if self.ctx is None:
            return
        result = await _resolve(self.scope, self.org_slug)
        if self.ctx is None:  # disconnected meanwhile
            return
        if isinstance(result, int):
            self.ctx = None
            self.audiences = frozenset()
            await self.close(code=result)
            return
        await self._follow(result)

    async def _follow(self, ctx: OrgContext) -> None:
        """Be in exactly the groups ``ctx`` may read (joining again refreshes a Redis group's
        expiry, so a long-lived socket does not silently fall out of its groups)."""
        audiences = frozenset(a for a, role in AUDIENCE_ROLE.items() if ctx.has_role(role))
        wanted = {org_group(ctx.organization_id, a) for a in audiences}
        wanted |= {ALLIANCE_GROUP, user_access_group(ctx.user.pk)}
        if ctx.token is not None:
            wanted.add(token_access_group(ctx.token.pk))
        for group in self.joined - wanted:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.ctx, self.audiences = ctx, audiences
        for group in wanted:
            await self.channel_layer.group_add(group, self.channel_name)
        self.joined = wanted

    async def _recheck_timer(self) -> None:
        # The notice goes through the socket's own channel so that every re-check runs in the
        # consumer's one message loop, in order with the events.
        while True:
            delay = self.recheck_seconds
            expires_at = self.ctx.token.expires_at if self.ctx and self.ctx.token else None
            if expires_at is not None:
                delay = min(delay, max((expires_at - timezone.now()).total_seconds(), 0) + 0.05)
            await asyncio.sleep(delay)
            await self.channel_layer.send(self.channel_name, {"type": "access.changed"})
