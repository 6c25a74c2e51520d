"""Home, per-organization dashboard, the platform-admin overview and the favicon."""

from __future__ import annotations

from collections.abc import Callable
from typing import Concatenate, ParamSpec

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_POST, require_safe

from kernel.http import client_ip
from tenants import rls, selectors, services
from tenants.access import OrgContext, signed_in_user
from tenants.decorators import org_view
from tenants.models import Organization
from tenants.roles import Role

P = ParamSpec("P")


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico``, which browsers ask for on pages that name no icon (JSON, the API docs):
    the portal's SVG icon. Resolved per request: the file's name is hashed in production."""
    return redirect(static("portal/favicon.svg"))


@login_required
def home(request: HttpRequest) -> HttpResponse:
    memberships = list(selectors.memberships_of_user(user=signed_in_user(request)))
    # Straight to the only organization, unless it is suspended: its dashboard answers 403,
    # whose "back to your organizations" link must not lead here and back again.
    if len(memberships) == 1 and memberships[0].organization.is_active:
        return redirect("dashboard", org=memberships[0].organization.slug)
    return render(request, "portal/home.html", {"memberships": memberships})


@org_view(Role.VIEWER)
def dashboard(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    figures = selectors.organization_figures(organization=ctx.organization)
    recent = (
        selectors.audit_list(organization=ctx.organization)[:10] if ctx.has_role(Role.ADMIN) else []
    )
    return render(
        request, "portal/dashboard.html", {"ctx": ctx, "figures": figures, "recent_events": recent}
    )


def _platform_admin_required(
    view: Callable[Concatenate[HttpRequest, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    def wrapper(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        if not request.user.is_superuser:
            raise Http404()
        with rls.system_context():
            return view(request, *args, **kwargs)

    return staff_member_required(wrapper)


@_platform_admin_required
def platform_organizations(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "portal/platform_organizations.html",
        {"organizations": selectors.organization_list_all()},
    )


@require_POST
@_platform_admin_required
def platform_organization_status(request: HttpRequest, slug: str, operation: str) -> HttpResponse:
    organization = Organization.objects.filter(slug=slug).first()
    status = {"suspend": "suspended", "resume": "active"}.get(operation)
    if organization is None or status is None:
        raise Http404()
    services.organization_set_status(
        organization=organization,
        status=status,
        actor=signed_in_user(request),
        ip=client_ip(request),
    )
    messages.success(request, f"{organization.name} is now {status}.")
    return redirect("platform_organizations")
