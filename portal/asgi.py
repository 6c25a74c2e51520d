"""ASGI entry point: HTTP (Django) and websockets (Channels) on one server (uvicorn)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
# The web process starts every database session without tenant or system rights (tenants/rls.py).
os.environ.setdefault("PORTAL_DB_CONTEXT", "none")
django_asgi_app = get_asgi_application()

from typing import Any  # noqa: E402

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from kernel.asgi import BodyLimitMiddleware  # noqa: E402
from portal.consumers import presents_credential  # noqa: E402
from portal.logs import redact_server_logs  # noqa: E402
from portal.routing import websocket_urlpatterns  # noqa: E402

# uvicorn configures its loggers before it imports this module, so the filter lands on them.
redact_server_logs()


class OriginCheckedForCookies:
    """Check the Origin header only for sockets authenticated by the session cookie.

    The check stops another site's page from riding the browser's cookie (cross-site websocket
    hijacking). A socket that presents an API token or a ticket is authenticated by it alone,
    never by the cookie (portal/consumers.py), and a mobile or server client sends no Origin.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.checked = AllowedHostsOriginValidator(app)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        if presents_credential(scope):
            return await self.app(scope, receive, send)
        return await self.checked(scope, receive, send)


application = ProtocolTypeRouter(
    {
        # Bodies over their kind's limit are refused (413) before Django spools them to disk.
        "http": BodyLimitMiddleware(django_asgi_app),
        "websocket": OriginCheckedForCookies(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
