"""Every error code of the webhooks app, in one place (rendered by the one exception handler)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from kernel.errors import CatalogError

__all__ = ["CATALOG", "WEBHOOK_EVENT_TYPE_UNKNOWN", "WEBHOOK_URL_FORBIDDEN", "WebhookError"]

WEBHOOK_URL_FORBIDDEN: Final = "webhook_url_forbidden"
WEBHOOK_EVENT_TYPE_UNKNOWN: Final = "webhook_event_type_unknown"

# code -> (default message, HTTP status). Never rename a code, only add.
CATALOG: Final[Mapping[str, tuple[str, int]]] = MappingProxyType(
    {
        WEBHOOK_URL_FORBIDDEN: (
            "The URL must be http(s) and resolve to public addresses only.",
            400,
        ),
        WEBHOOK_EVENT_TYPE_UNKNOWN: ("No event that members may read has this type.", 400),
    }
)


class WebhookError(CatalogError):
    """A webhooks rule refused the request; ``code`` is one of :data:`CATALOG`."""

    catalog = CATALOG
