"""The network side of a delivery: which addresses a URL may reach, signing, and the POST.

A URL is resolved and every address it resolves to must be public (not private, loopback,
link-local, multicast, reserved or unspecified) unless ``WEBHOOKS_ALLOW_PRIVATE`` is on. The
check runs when an endpoint is saved AND before every attempt, and the request then connects to
the address that was checked (the host name travels in the Host header and TLS SNI), so a DNS
answer that changes between the check and the connection (DNS rebinding) cannot reach inside.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import SplitResult, urlsplit

import httpx
from django.conf import settings
from standardwebhooks.webhooks import Webhook

from webhooks.errors import WEBHOOK_URL_FORBIDDEN, WebhookError

__all__ = ["AttemptResult", "post", "resolve_allowed", "sign"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _split(url: str) -> SplitResult:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(
            WEBHOOK_URL_FORBIDDEN, "The URL must be http:// or https:// with a host."
        )
    return parts


def resolve_allowed(url: str) -> IPAddress:
    """The address to connect to for ``url``, after checking every address it resolves to.

    Raises ``webhook_url_forbidden`` for another scheme, a name that does not resolve, or any
    non-public address (unless ``WEBHOOKS_ALLOW_PRIVATE``).
    """
    parts = _split(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError) as exc:
        raise WebhookError(WEBHOOK_URL_FORBIDDEN, f"The host does not resolve: {exc}.") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise WebhookError(WEBHOOK_URL_FORBIDDEN, "The host does not resolve.")
    # Every answer is checked, not only the first: a name may list a public and a private one.
    forbidden = [str(a) for a in addresses if not _is_public(a)]
    if forbidden and not settings.WEBHOOKS_ALLOW_PRIVATE:
        raise WebhookError(
            WEBHOOK_URL_FORBIDDEN,
            "The URL resolves to a private, loopback, link-local or multicast address.",
            details={"addresses": forbidden},
        )
    return addresses[0]


def sign(*, secrets: list[str], message_id: str, timestamp: datetime, body: str) -> str:
    """The ``webhook-signature`` header: one ``v1,<base64>`` per valid secret, space-separated
    (Standard Webhooks' multi-signature form, used while a rotated secret overlaps)."""
    return " ".join(
        Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=body)
        for secret in secrets
    )


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    duration_ms: int
    error: str

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(*, url: str, headers: dict[str, str], body: str, timeout: float) -> AttemptResult:
    """POST ``body`` to ``url`` on the address checked just now; never raises, never follows a
    redirect (a redirect could lead anywhere, and counts as a failure)."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        parts = _split(url)
        address = resolve_allowed(url)
    except WebhookError as exc:
        return AttemptResult(None, elapsed(), exc.message[:300])
    host = parts.hostname or ""
    literal = f"[{address}]" if address.version == 6 else str(address)
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    pinned = parts._replace(netloc=netloc).geturl()
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            response = client.post(
                pinned,
                content=body.encode(),
                headers={**headers, "Host": host_header, "Content-Type": "application/json"},
                # The certificate is checked against the host name, not the address.
                extensions={"sni_hostname": host},
            )
    except httpx.HTTPError as exc:
        return AttemptResult(None, elapsed(), f"{type(exc).__name__}: {exc}"[:300])
    error = "" if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    return AttemptResult(response.status_code, elapsed(), error)
