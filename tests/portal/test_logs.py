"""The web server's logs never carry a websocket's API token or ticket."""

from __future__ import annotations

import logging

import pytest

import portal.asgi  # noqa: F401  (installs the filter, as the server does when it loads the app)

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
