"""Ledger settings of the portal, parsed strictly (house style rule 11).

Each value is read from ``django.conf.settings`` when the lead has copied the lines below into
portal/settings.py, and from the environment otherwise, so the app works before and after::

    LEDGER_NODE_URLS = env_list("LEDGER_NODE_URLS", [])
    LEDGER_GENESIS_FILE = env_str("LEDGER_GENESIS_FILE") or None
    LEDGER_KEY_ENCRYPTION_KEY = env_str("LEDGER_KEY_ENCRYPTION_KEY") or None
    LEDGER_HTTP_TIMEOUT = env_float("LEDGER_HTTP_TIMEOUT", 5.0)
    LEDGER_STATUS_CACHE_SECONDS = env_float("LEDGER_STATUS_CACHE_SECONDS", 3.0)

``LEDGER_KEY_ENCRYPTION_KEY`` (32 bytes as 64 hex digits or base64; may come from
``LEDGER_KEY_ENCRYPTION_KEY_FILE``) wraps every organization's Ed25519 key. It is required in
production; elsewhere a development key is derived from ``SECRET_KEY``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from kernel.env import env_float, env_list, env_str

__all__ = [
    "genesis_file",
    "http_timeout",
    "key_encryption_key",
    "node_urls",
    "status_cache_seconds",
]


def _setting(name: str, fallback: Any) -> Any:
    return getattr(settings, name) if hasattr(settings, name) else fallback


def node_urls() -> list[str]:
    """Base URLs of the validators' node APIs, in the order the worker tries them."""
    urls = _setting("LEDGER_NODE_URLS", None)
    if urls is None:
        urls = env_list("LEDGER_NODE_URLS", [])
    if isinstance(urls, str):
        urls = [u.strip() for u in urls.split(",") if u.strip()]
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ImproperlyConfigured(f"LEDGER_NODE_URLS entry {url!r} is not an http(s) URL")
    return [u.rstrip("/") for u in urls]


def genesis_file() -> Path | None:
    """The devnet's genesis.json, if configured (else the follower pins /v1/genesis)."""
    value = _setting("LEDGER_GENESIS_FILE", None) or env_str("LEDGER_GENESIS_FILE") or None
    return Path(value) if value else None


def http_timeout() -> float:
    return float(_setting("LEDGER_HTTP_TIMEOUT", None) or env_float("LEDGER_HTTP_TIMEOUT", 5.0))


def status_cache_seconds() -> float:
    value = _setting("LEDGER_STATUS_CACHE_SECONDS", None)
    return float(value if value is not None else env_float("LEDGER_STATUS_CACHE_SECONDS", 3.0))


def key_encryption_key() -> bytes:
    """The 32-byte AES-GCM key wrapping organization signing keys."""
    raw = _setting("LEDGER_KEY_ENCRYPTION_KEY", None) or env_str("LEDGER_KEY_ENCRYPTION_KEY")
    if raw:
        return _parse_key(str(raw))
    if getattr(settings, "PRODUCTION", False):
        raise ImproperlyConfigured("LEDGER_KEY_ENCRYPTION_KEY must be set in production")
    # Development only: stable across restarts of one checkout, useless without SECRET_KEY.
    return hashlib.sha256(b"alliance-ledger/dev-kek/v1\x00" + settings.SECRET_KEY.encode()).digest()


def _parse_key(raw: str) -> bytes:
    text = raw.strip()
    try:
        key = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ImproperlyConfigured("LEDGER_KEY_ENCRYPTION_KEY is not hex or base64") from exc
    if len(key) != 32:
        raise ImproperlyConfigured("LEDGER_KEY_ENCRYPTION_KEY must be 32 bytes")
    return key
