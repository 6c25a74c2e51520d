"""Websocket consumers: authenticate, resolve the organization through tenants, join the groups
the caller's role may read, forward typed events. The groups decide who receives an event
(kernel/events.py), with no per-message filtering here.

A socket follows its access for as long as it lives: on an ``access.changed`` notice (published
by the tenants services when a membership, role, token or the organization's status changes),
on a timer as a backstop, and at its token's expiry, it checks its credential and resolves its
access again, then closes when either is gone or moves between groups when the role changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, get_user_model
from django.contrib.auth.models import User
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
from portal.services import realtime_ticket_redeem
from tenants import rls
from tenants.access import OrgContext, resolve
from tenants.authentication import authenticate_token
from tenants.errors import AccessDenied
from tenants.models import ApiToken
from tenants.roles import Role

# Close codes (4000-4999 are application-defined).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404

# The least role that reads each audience (the API's read roles for the same data).
AUDIENCE_ROLE: dict[Audience, Role] = {"members": Role.VIEWER, "admins": Role.ADMIN}


def _query(scope: Mapping[str, Any], name: str) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[0] if values else None


def token_from_scope(scope: Mapping[str, Any]) -> str | None:
    """The API token a socket presents (``Authorization: Bearer`` or ``?token=``), if any."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            parts: list[str] = value.decode("latin-1").split()
            if len(parts) == 2 and parts[0].lower() == "bearer":
                return parts[1]
    return _query(scope, "token")


def presents_credential(scope: Mapping[str, Any]) -> bool:
    """Whether the socket presents an API token or a ticket. Such a socket is authenticated by
    it alone, never by a session cookie, so the Origin check (which protects cookies) does not
    apply to it (portal/asgi.py)."""
    return token_from_scope(scope) is not None or _query(scope, "ticket") is not None


@dataclass(frozen=True)
class Principal:
    """Who the socket acts as and the credential it holds, checked again on every re-check."""

    user_id: int
    token_id: int | None = None
    session_key: str | None = None
    session_hash: str | None = None


def _authenticate(scope: Mapping[str, Any], org_slug: str) -> Principal | None:
    """The principal the socket presents at connect time, or ``None``."""
    raw = token_from_scope(scope)
    if raw:
        try:
            token = authenticate_token(raw)
        except AuthenticationFailed:
            return None
        return Principal(user_id=token.membership.user_id, token_id=token.pk)
    ticket = _query(scope, "ticket")
    if ticket:
        grant = realtime_ticket_redeem(ticket=ticket)
        if grant is None or grant.organization_slug != org_slug:
            return None
        return Principal(grant.user_id, grant.token_id, grant.session_key, grant.session_hash)
    user, session = scope.get("user"), scope.get("session")
    if user is None or not user.is_authenticated or session is None:
        return None
    return Principal(user.pk, None, session.session_key, session.get(HASH_SESSION_KEY))


def _current(principal: Principal) -> tuple[User, ApiToken | None] | None:
    """The principal's user (and token) as the database has them now, or ``None`` once the
    token was revoked or expired, the session ended, the password changed or the account was
    deactivated."""
    token = None
    user: User | None
    if principal.token_id is not None:
        # Credentials are checked before any organization is known: explicit system work, as
        # in tenants.authentication.
        with rls.system_context():
            token = (
                ApiToken.objects.select_related("membership__user", "membership__organization")
                .filter(pk=principal.token_id)
                .first()
            )
        if token is None or token.state != "active":
            return None
        user = token.membership.user
    else:
        if not principal.session_key:
            return None
        store = import_module(settings.SESSION_ENGINE).SessionStore
        if not store().exists(principal.session_key):
            return None
        user = get_user_model()._default_manager.filter(pk=principal.user_id).first()
        if user is None or not constant_time_compare(
            principal.session_hash or "", user.get_session_auth_hash()
        ):
            return None
    if not user.is_active:
        return None
    return user, token


@database_sync_to_async
def _resolve(
    principal: Principal | None, scope: Mapping[str, Any], org_slug: str
) -> tuple[Principal, OrgContext] | int:
    """The caller's access to ``org_slug`` now, or the close code when it has none.

    ``principal`` is ``None`` at connect time (it is then read from the socket's credential).
    """
    # Consumers share the worker thread's database session with every other socket, so the
    # row-level-security context is entered for this check and then put back as it was.
    previous = rls.get_context()
    try:
        if principal is None:
            principal = _authenticate(scope, org_slug)
        current = _current(principal) if principal is not None else None
        if principal is None or current is None:
            return CLOSE_UNAUTHENTICATED
        user, token = current
        # As in a request (tenants/middleware.py): the caller's own memberships are visible,
        # no organization's rows are until resolve has proved the membership.
        rls.set_context(system=False, organization_id=None, user_id=user.pk)
        try:
            return principal, resolve(org_slug=org_slug, user=user, token=token)
        except AccessDenied as exc:
            return CLOSE_NOT_FOUND if exc.status == 404 else CLOSE_FORBIDDEN
    finally:
        rls._restore(previous)


class OrganizationEventsConsumer(AsyncJsonWebsocketConsumer):
    """``/ws/orgs/<org>/events/``: the organization's live feed (and the alliance feed)."""

    # Backstop for changes that published no notice (a data fix, a lost message, a password
    # changed elsewhere): every socket resolves its access again at least this often.
    recheck_seconds: float = 30.0

    principal: Principal | None = None
    ctx: OrgContext | None = None
    audiences: frozenset[str] = frozenset()
    timer: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.org_slug = self.scope["url_route"]["kwargs"]["org"]
        self.joined: set[str] = set()
        result = await _resolve(None, self.scope, self.org_slug)
        if isinstance(result, int):
            await self.close(code=result)
            return
        self.principal, ctx = result
        await self._follow(ctx)
        await self.accept()  # last, once everything is checked
        await self.send_json(
            {
                "type": "feed.ready",
                "organization": self.org_slug,
                "role": ctx.role.value,
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
        if self.ctx is None or self.principal is None:
            return
        result = await _resolve(self.principal, self.scope, self.org_slug)
        if self.ctx is None:  # disconnected meanwhile
            return
        if isinstance(result, int):
            self.ctx = None
            self.audiences = frozenset()
            await self.close(code=result)
            return
        await self._follow(result[1])

    async def _follow(self, ctx: OrgContext) -> None:
        """Be in exactly the groups ``ctx`` may read (joining again refreshes a Redis group's
        expiry, so a long-lived socket does not silently fall out of its groups)."""
        audiences = frozenset(a for a, role in AUDIENCE_ROLE.items() if ctx.has_role(role))
        wanted = {org_group(ctx.organization_id, a) for a in audiences}
        wanted |= {ALLIANCE_GROUP, user_access_group(ctx.user.pk)}
        if ctx.token is not None:
            wanted.add(token_access_group(ctx.token.pk))
        self.ctx, self.audiences = ctx, audiences
        for group in self.joined - wanted:
            await self.channel_layer.group_discard(group, self.channel_name)
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
