"""Per-request database context for row-level security (see tenants/rls.py)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from tenants import rls

# Probes and assets never touch tenant data: no database round trip for them.
_NO_DATABASE_PATHS = ("/healthz", "/static/", "/api/docs/")


class TenantDatabaseContextMiddleware:
    """Start every request with no organization and without system rights.

    The organization is entered only by tenants.access.resolve once membership is proven; the
    Django admin (platform admins only) runs in the explicit system context. The previous
    context is restored after the response so that a connection reused by non-request code
    keeps its own.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(_NO_DATABASE_PATHS):
            return self.get_response(request)
        previous = rls.get_context()
        user = getattr(request, "user", None)
        user_id = user.pk if user is not None and user.is_authenticated else None
        is_platform_admin = bool(user is not None and user.is_authenticated and user.is_superuser)
        system = is_platform_admin and request.path.startswith(("/admin/", "/api/v1/admin/"))
        rls.set_context(system=system, organization_id=None, user_id=user_id)
        try:
            return self.get_response(request)
        finally:
            if previous:
                rls._restore(previous)
