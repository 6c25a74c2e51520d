"""The UI edge: resolve ``/o/<org>/...`` once and pass the context to the view explicitly."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from tenants.access import OrgContext, resolve
from tenants.errors import AccessDenied, NotFound
from tenants.roles import Role

OrgView = Callable[..., HttpResponse]


def org_view(minimum: Role = Role.VIEWER) -> Callable[[OrgView], Callable[..., HttpResponse]]:
    """Decorate ``view(request, ctx, **kwargs)``; ``org`` comes from the URL."""

    def decorator(view: OrgView) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, org: str, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            try:
                ctx: OrgContext = resolve(org_slug=org, user=request.user, minimum=minimum)
            except NotFound as exc:
                raise Http404("Not found") from exc
            except AccessDenied as exc:
                return render(
                    request, "403.html", {"message": exc.message, "code": exc.code}, status=403
                )
            request.org_ctx = ctx  # type: ignore[attr-defined]  # for templates (switcher)
            return view(request, ctx, **kwargs)

        return wrapper

    return decorator
