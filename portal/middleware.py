"""Security headers Django does not set by itself (it has no Content-Security-Policy yet)."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse

# Our pages load only their own scripts and styles (portal/static): no inline script, no inline
# style, no third-party origin. An injected <script> or on*= attribute therefore does not run.
POLICY = (
    "default-src 'self'; "
    "script-src 'self'; "
    "style-src 'self'; "
    "img-src 'self' data: blob:; "
    "font-src 'self'; "
    "connect-src 'self' {websocket}; "
    "object-src 'none'; "
    "base-uri 'none'; "
    "form-action 'self'; "
    "frame-ancestors 'none'"
)


class ContentSecurityPolicyMiddleware:
    """Send a strict ``Content-Security-Policy`` with every response that has none."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            # The live feed's websocket is same-host; older browsers do not count ws(s):// of
            # the page's own host as 'self', so name it.
            try:
                websocket = f"{'wss' if request.is_secure() else 'ws'}://{request.get_host()}"
            except DisallowedHost:  # the 400 answer to a forged Host header
                websocket = ""
            response["Content-Security-Policy"] = POLICY.format(websocket=websocket)
        return response
