"""ASGI middleware of the kernel: refuse an oversized body before Django reads it.

Django's ASGI handler reads the whole body (spooling it to a temporary file) before any
middleware or parser runs, so the parsers' limits (``kernel.parsers``) alone would still let a
client make the server store a body of any size. This wrapper answers 413
``request_too_large`` as soon as the declared ``Content-Length`` or the bytes received exceed
the largest body the request's kind may have: ``API_MAX_UPLOAD_BYTES`` for multipart uploads,
otherwise the larger of ``API_MAX_BODY_BYTES`` (JSON) and ``DATA_UPLOAD_MAX_MEMORY_SIZE``
(forms). The parsers still apply their own, per-parser limit afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings

from kernel.errors import RequestTooLarge, error_body

__all__ = ["BodyLimitMiddleware", "body_limit"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# The wrapped application's own annotations differ in variance (Django's handler takes a
# ``dict`` scope and a receive returning ``Mapping``), so the wrapper accepts any ASGI callable.
ASGIApp = Callable[..., Awaitable[None]]


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


def body_limit(content_type: bytes | None) -> int:
    """The most bytes a body of this content type may have."""
    if content_type is not None and content_type.lower().startswith(b"multipart/form-data"):
        return int(settings.API_MAX_UPLOAD_BYTES)
    return max(int(settings.API_MAX_BODY_BYTES), int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0))


async def _refuse(scope: Scope, send: Send, limit: int) -> None:
    refusal = RequestTooLarge(details={"max_bytes": limit})
    if str(scope.get("path", "")).startswith("/api/"):
        body = json.dumps(error_body(refusal.code, refusal.message, refusal.details)).encode()
        content_type = b"application/json"
    else:
        body, content_type = refusal.message.encode(), b"text/plain; charset=utf-8"
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Wraps the HTTP application; websockets and lifespan pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(_header(scope, b"content-type"))
        try:
            declared = int(_header(scope, b"content-length") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            await _refuse(scope, send, limit)
            return

        received = 0
        exceeded = False
        started = False

        async def bounded_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Django treats a disconnect while reading as an aborted request and
                    # answers nothing; the 413 is sent below.
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, bounded_receive, tracking_send)
        if exceeded and not started:
            await _refuse(scope, send, limit)
