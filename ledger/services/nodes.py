"""The validators seen from the portal: each node's health, from its node API."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache

from ledger import conf
from ledger.client import NodeClient, NodeUnavailable

_HEALTH_CACHE_KEY = "ledger:validator-health"


def validator_health(*, client: NodeClient | None = None) -> list[dict[str, Any]]:
    """Each node's ``/v1/status`` (or its error), cached for a few seconds so a page view never
    fans out to every node."""
    cached = cache.get(_HEALTH_CACHE_KEY)
    if cached is not None:
        return list(cached)
    own = client is None
    try:
        # A short timeout: this runs on a request thread and a hung node must not hang the page.
        client = client or NodeClient(timeout=min(conf.http_timeout(), 1.0))
    except NodeUnavailable:
        return []
    try:
        statuses = client.statuses()
    finally:
        if own:
            client.close()
    cache.set(_HEALTH_CACHE_KEY, statuses, conf.status_cache_seconds())
    return statuses
