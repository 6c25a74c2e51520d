"""The client's address as the portal records it (audit log, login lock-out, consents)."""

from __future__ import annotations

from typing import Any

__all__ = ["client_ip"]


def client_ip(request: Any) -> str | None:
    """``REMOTE_ADDR`` of a Django or DRF request, or ``None`` when absent.

    Forwarded headers are never read here: any client can send them. Behind a trusted proxy,
    let the ASGI server rewrite the address (uvicorn ``--proxy-headers
    --forwarded-allow-ips=<proxy>``), so ``REMOTE_ADDR`` is already the client's.
    """
    return request.META.get("REMOTE_ADDR") or None
