"""Typed accessors over the ledger's settings.

portal/settings.py reads and validates every ``LEDGER_*`` value from the environment once (URLs
must be http(s), timeouts positive); this module only reads ``django.conf.settings``, at call
time, so tests can override a setting. The key-encryption key is ``ledger.keys``'s business.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

__all__ = ["genesis_file", "http_timeout", "node_urls", "status_cache_seconds"]


def node_urls() -> list[str]:
    """Base URLs of the validators' node APIs, in the order the worker tries them."""
    return list(settings.LEDGER_NODE_URLS)


def genesis_file() -> Path | None:
    """The devnet's genesis.json, if configured (else the follower pins /v1/genesis)."""
    value = settings.LEDGER_GENESIS_FILE
    return Path(value) if value else None


def http_timeout() -> float:
    """Seconds the node API client waits for one answer."""
    return float(settings.LEDGER_HTTP_TIMEOUT)


def status_cache_seconds() -> float:
    """Seconds the validators' health stays cached."""
    return float(settings.LEDGER_STATUS_CACHE_SECONDS)
