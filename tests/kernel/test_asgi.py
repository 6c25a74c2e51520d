"""The ASGI body limit: an oversized body is refused before Django reads (and spools) it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from django.core.asgi import get_asgi_application

from kernel.asgi import BodyLimitMiddleware, body_limit


def run(app: Any, scope: dict[str, Any], chunks: list[bytes]) -> tuple[int, bytes, int]:
    """Send ``chunks`` as the body; return (status, response body, chunks the app took)."""
    sent: list[dict[str, Any]] = []
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    taken = 0

    async def receive() -> dict[str, Any]:
        nonlocal taken
        if pending:
            taken += 1
            return pending.pop(0)
        await asyncio.sleep(3600)  # the client waits for the response
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=30))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, taken


def http_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }


async def _never_called(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("the application must not see an oversized body")


def test_a_declared_length_over_the_limit_is_413_before_the_application_runs(settings) -> None:
    settings.API_MAX_BODY_BYTES = 1000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    scope = http_scope(
        "/api/v1/orgs/", [(b"content-type", b"application/json"), (b"content-length", b"5000")]
    )
    status, body, taken = run(BodyLimitMiddleware(_never_called), scope, [b"x" * 5000])
    assert (status, taken) == (413, 0)
    assert json.loads(body)["error"] == {
        "code": "request_too_large",
        "message": "The request body is too large.",
        "details": {"max_bytes": 1000},
    }


def test_a_body_without_a_length_is_cut_off_once_it_passes_the_limit(settings) -> None:
    settings.API_MAX_BODY_BYTES = 1000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    app = BodyLimitMiddleware(get_asgi_application())
    scope = http_scope("/api/v1/orgs/", [(b"content-type", b"application/json")])
    status, body, taken = run(app, scope, [b"x" * 600] * 100)
    assert status == 413
    assert json.loads(body)["error"]["code"] == "request_too_large"
    assert taken == 2  # the third chunk is never read


def test_a_body_within_the_limit_reaches_the_application(settings) -> None:
    settings.API_MAX_BODY_BYTES = 1000
    app = BodyLimitMiddleware(get_asgi_application())
    scope = http_scope("/healthz", [(b"content-type", b"application/json")])
    status, _body, taken = run(app, scope, [b"{}"])
    assert status != 413 and taken == 1


def test_uploads_have_their_own_larger_limit(settings) -> None:
    settings.API_MAX_BODY_BYTES = 1000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    settings.API_MAX_UPLOAD_BYTES = 50_000
    assert body_limit(b"multipart/form-data; boundary=B") == 50_000
    assert body_limit(b"application/json") == 2000
    assert body_limit(None) == 2000


def test_the_served_application_refuses_an_oversized_body(settings) -> None:
    from portal.asgi import application

    settings.API_MAX_BODY_BYTES = 1000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    scope = http_scope(
        "/api/v1/orgs/", [(b"content-type", b"application/json"), (b"content-length", b"5000")]
    )
    status, _body, taken = run(application, scope, [b"x" * 5000])
    assert (status, taken) == (413, 0)
