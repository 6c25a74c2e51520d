"""Keep secrets out of the web server's logs.

uvicorn logs every request line and every websocket handshake with its query string; a client
that authenticates a websocket with ``?token=`` would otherwise write its API token into the
access log (and a ``?ticket=`` too).
"""

from __future__ import annotations

import logging
import re

# Query parameters whose values are credentials.
_SECRET_PARAMETER = re.compile(r"([?&](?:token|ticket)=)[^&\s\"]*", re.IGNORECASE)
REDACTED = "[redacted]"

# uvicorn writes HTTP request lines to "uvicorn.access" and websocket handshakes to
# "uvicorn.error".
SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact(text: str) -> str:
    return _SECRET_PARAMETER.sub(lambda m: m.group(1) + REDACTED, text)


class RedactSecrets(logging.Filter):
    """Replace credential query parameters in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


def redact_server_logs() -> None:
    """Install :class:`RedactSecrets` on uvicorn's loggers (once)."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
