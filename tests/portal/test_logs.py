"""The web server's logs never carry a websocket's API token or ticket."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

import portal.asgi  # noqa: F401  (installs the filter, as the server does when it loads the app)
from tests.conftest import embedded_env

REPO = Path(__file__).resolve().parents[2]
# Shaped like a token but malformed, so that refusing it needs no database.
SECRET = "ap_k3yPref1x_s3cr3tS3cr3tS3cr3t"


def test_the_websocket_handshake_line_has_no_token(caplog: pytest.LogCaptureFixture) -> None:
    # The very call uvicorn makes when it accepts a websocket.
    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        logging.getLogger("uvicorn.error").info(
            '%s - "WebSocket %s" [accepted]',
            "10.0.0.7:51234",
            f"/ws/orgs/acme/events/?token={SECRET}&v=2",
        )
    (line,) = [r.getMessage() for r in caplog.records]
    assert SECRET not in line
    assert (
        line == '10.0.0.7:51234 - "WebSocket /ws/orgs/acme/events/?token=[redacted]&v=2" [accepted]'
    )


def test_the_access_log_line_has_no_token_or_ticket(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d',
            "10.0.0.7:51234",
            "GET",
            f"/ws/orgs/acme/events/?ticket={SECRET}&token={SECRET}",
            "1.1",
            403,
        )
    (line,) = [r.getMessage() for r in caplog.records]
    assert SECRET not in line
    assert "?ticket=[redacted]&token=[redacted]" in line


@pytest.mark.slow
def test_a_running_server_logs_no_websocket_token(tmp_path: Path) -> None:
    # given the portal served by uvicorn as in production (uvicorn configures its logging first)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = embedded_env(PORTAL_VAR_DIR=str(tmp_path))
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "portal.asgi:application", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz?token={SECRET}", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)

        # when a client opens a socket with ?token= (malformed, so no database is needed)
        async def open_socket() -> None:
            uri = f"ws://127.0.0.1:{port}/ws/orgs/acme/events/?token={SECRET}"
            with pytest.raises(InvalidStatus):
                async with connect(uri, open_timeout=10):
                    pass

        asyncio.run(open_socket())
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)

    # then neither the access line nor the handshake line carries the token
    assert '"WebSocket /ws/orgs/acme/events/?token=[redacted]" 403' in output, output[-2000:]
    assert "GET /healthz?token=[redacted] HTTP/1.1" in output, output[-2000:]
    assert SECRET not in output
