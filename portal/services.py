"""Writes of the project layer: single-use tickets that open a realtime socket.

A browser cannot set an ``Authorization`` header on a websocket, and a token in the URL ends up
in logs and proxies' histories. So a client that is already authenticated (session or API token)
asks for a ticket over HTTPS and opens ``/ws/orgs/<org>/events/?ticket=...``: the ticket works
once, for one organization, within :data:`TICKET_SECONDS`. It remembers how it was obtained (the
token or the session), so the socket follows that credential afterwards: revoking the token or
ending the session closes it.

Tickets live in the cache: shared by every web process when ``REDIS_URL`` is set; the
in-process cache otherwise, which suits the embedded single-process server.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.contrib.auth import HASH_SESSION_KEY
from django.contrib.sessions.backends.base import SessionBase
from django.core.cache import cache

from tenants.access import OrgContext

TICKET_SECONDS = 60
_CACHE_PREFIX = "realtime-ticket:"


@dataclass(frozen=True)
class TicketGrant:
    """Who redeemed ticket acts as, and through which credential."""

    organization_slug: str
    user_id: int
    token_id: int | None
    session_key: str | None
    session_hash: str | None


def _key(ticket: str) -> str:
    # Only a digest is stored, so whoever reads the cache cannot open sockets with it.
    return _CACHE_PREFIX + hashlib.sha256(ticket.encode("utf-8")).hexdigest()


def realtime_ticket_create(*, ctx: OrgContext, session: SessionBase | None) -> str:
    """A ticket for ``ctx``'s organization, bound to its API token or else to ``session``."""
    ticket = secrets.token_urlsafe(32)
    from_session = ctx.token is None and session is not None and session.session_key
    grant = {
        "organization_slug": ctx.organization.slug,
        "user_id": ctx.user.pk,
        "token_id": ctx.token.pk if ctx.token is not None else None,
        "session_key": session.session_key if from_session and session else None,
        "session_hash": session.get(HASH_SESSION_KEY) if from_session and session else None,
    }
    cache.set(_key(ticket), grant, timeout=TICKET_SECONDS)
    return ticket


def realtime_ticket_redeem(*, ticket: str) -> TicketGrant | None:
    """The ticket's grant, once: ``None`` when it is unknown, expired or already used."""
    key = _key(ticket)
    grant = cache.get(key)
    # Deleting is the claim: of two concurrent redemptions only one deletes the key.
    if grant is None or not cache.delete(key):
        return None
    return TicketGrant(**grant)
