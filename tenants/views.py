"""Server-rendered UI of the tenants app. Thin: parse, call one service or selector, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from kernel.http import client_ip
from tenants import rls, selectors, services
from tenants.access import OrgContext
from tenants.decorators import org_view
from tenants.errors import InvalidField, TenantError
from tenants.forms import (
    AcceptInvitationForm,
    InviteForm,
    OrganizationSettingsForm,
    RoleForm,
    TokenForm,
)
from tenants.roles import Role

# The session key holding a just-created invitation link until the members page shows it once.
_NEW_INVITATION_LINK = "tenants.new_invitation_link"


@org_view(Role.VIEWER)
def members(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    can_manage = ctx.has_role(Role.ADMIN)
    new_link = request.session.pop(_NEW_INVITATION_LINK, None) if can_manage else None
    response = render(
        request,
        "tenants/members.html",
        {
            "ctx": ctx,
            "memberships": selectors.membership_list(organization=ctx.organization),
            "invitations": selectors.invitation_list(organization=ctx.organization)[:50]
            if can_manage
            else [],
            "invite_form": InviteForm(),
            "roles": Role.choices,
            "can_manage": can_manage,
            "new_invitation_link": new_link,
        },
    )
    if new_link:
        # The link lets whoever holds it join: no cache (browser or proxy) may keep the page.
        add_never_cache_headers(response)
    return response


def _show_invitation_link_once(request: HttpRequest, link: str) -> None:
    request.session[_NEW_INVITATION_LINK] = link


@require_POST
@org_view(Role.ADMIN)
def member_invite(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            invitation, link = services.invitation_create(
                organization=ctx.organization,
                email=form.cleaned_data["email"],
                role=Role(form.cleaned_data["role"]),
                actor=ctx.user,
                actor_role=ctx.role,
                ip=client_ip(request),
                base_url=request.build_absolute_uri("/"),
            )
            _show_invitation_link_once(request, link)
            messages.success(request, f"Invitation sent to {invitation.email}.")
        except TenantError as exc:
            messages.error(request, exc.message)
    else:
        messages.error(request, "Enter a valid email address and role.")
    return redirect("members", org=ctx.organization.slug)


@require_POST
@org_view(Role.ADMIN)
def member_role(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    membership = selectors.membership_get(organization=ctx.organization, pk=pk)
    if membership is None:
        raise Http404()
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            services.membership_change_role(
                membership=membership,
                role=Role(form.cleaned_data["role"]),
                actor=ctx.user,
                actor_role=ctx.role,
                ip=client_ip(request),
            )
            messages.success(
                request,
                f"{membership.user.username} is now "
                f"{Role(form.cleaned_data['role']).label.lower()}.",
            )
        except TenantError as exc:
            messages.error(request, exc.message)
    return redirect("members", org=ctx.organization.slug)


@require_POST
@org_view(Role.ADMIN)
def member_remove(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    membership = selectors.membership_get(organization=ctx.organization, pk=pk)
    if membership is None:
        raise Http404()
    try:
        services.membership_remove(
            membership=membership, actor=ctx.user, actor_role=ctx.role, ip=client_ip(request)
        )
        messages.success(request, f"{membership.user.username} was removed.")
    except TenantError as exc:
        messages.error(request, exc.message)
    return redirect("members", org=ctx.organization.slug)


@require_POST
@org_view(Role.ADMIN)
def invitation_revoke(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    invitation = selectors.invitation_get(organization=ctx.organization, pk=pk)
    if invitation is None:
        raise Http404()
    services.invitation_revoke(invitation=invitation, actor=ctx.user, ip=client_ip(request))
    messages.success(request, f"Invitation for {invitation.email} revoked.")
    return redirect("members", org=ctx.organization.slug)


@require_POST
@org_view(Role.ADMIN)
def invitation_resend(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    invitation = selectors.invitation_get(organization=ctx.organization, pk=pk)
    if invitation is None:
        raise Http404()
    try:
        invitation, link = services.invitation_resend(
            invitation=invitation,
            actor=ctx.user,
            ip=client_ip(request),
            base_url=request.build_absolute_uri("/"),
        )
        _show_invitation_link_once(request, link)
        messages.success(request, f"Invitation sent again to {invitation.email}.")
    except TenantError as exc:
        messages.error(request, exc.message)
    return redirect("members", org=ctx.organization.slug)


@require_http_methods(["GET", "POST"])
@org_view(Role.VIEWER)
def tokens(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    new_secret = None
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            _token, new_secret = services.token_create(
                membership=ctx.membership,
                name=form.cleaned_data["name"],
                expires_at=form.cleaned_data.get("expires_at"),
                actor=ctx.user,
                ip=client_ip(request),
            )
            form = TokenForm()
        except InvalidField as exc:
            form.add_error(exc.field, exc.message)
        except TenantError as exc:
            form.add_error(None, exc.message)
    response = render(
        request,
        "tenants/tokens.html",
        {
            "ctx": ctx,
            "form": form,
            "new_secret": new_secret,
            "tokens": selectors.token_list(
                organization=ctx.organization, membership=ctx.membership
            ),
        },
    )
    # The page that shows a secret is never stored by the browser or a proxy.
    add_never_cache_headers(response)
    return response


@require_POST
@org_view(Role.VIEWER)
def token_revoke(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    api_token = selectors.token_get(organization=ctx.organization, membership=ctx.membership, pk=pk)
    if api_token is None:
        raise Http404()
    services.token_revoke(api_token=api_token, actor=ctx.user, ip=client_ip(request))
    messages.success(request, f"Token “{api_token.name}” revoked.")
    return redirect("tokens", org=ctx.organization.slug)


@require_http_methods(["GET", "POST"])
@org_view(Role.ADMIN)
def organization_settings(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    organization = ctx.organization
    form = OrganizationSettingsForm(
        request.POST or None,
        initial={"name": organization.name, "contact_email": organization.contact_email},
    )
    if request.method == "POST" and form.is_valid():
        services.organization_update_settings(
            organization=organization,
            actor=ctx.user,
            ip=client_ip(request),
            **form.cleaned_data,
        )
        messages.success(request, "Settings saved.")
        return redirect("organization_settings", org=organization.slug)
    return render(request, "tenants/settings.html", {"ctx": ctx, "form": form})


@org_view(Role.ADMIN)
def audit(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    events = selectors.audit_list(organization=ctx.organization)
    action = request.GET.get("action", "")
    if action:
        events = events.filter(action=action)
    return render(
        request, "tenants/audit.html", {"ctx": ctx, "events": events[:200], "action": action}
    )


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The signed link from the invitation email.

    The signed token is the authorization here, so the lookup runs in the explicit system
    context: the invitee is not a member of the organization yet.
    """
    with rls.system_context():
        return _invitation_accept(request, token)


def _invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = services.invitation_from_token(token)
    except TenantError as exc:
        return render(
            request,
            "tenants/invitation_invalid.html",
            {"message": exc.message},
            status=410 if exc.status == 410 else 400,
        )
    form = AcceptInvitationForm(request.POST or None) if not request.user.is_authenticated else None
    status = 200
    if request.method == "POST":
        try:
            if request.user.is_authenticated:
                membership = services.invitation_accept(
                    token=token, user=request.user, ip=client_ip(request)
                )
            elif form is not None and form.is_valid():
                membership = services.invitation_accept(
                    token=token,
                    username=form.cleaned_data["username"],
                    password=form.cleaned_data["password1"],
                    ip=client_ip(request),
                )
                login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            else:
                membership = None
            if membership is not None:
                messages.success(request, f"Welcome to {membership.organization.name}.")
                return redirect("dashboard", org=membership.organization.slug)
        except TenantError as exc:
            messages.error(request, exc.message)
            status = exc.status
    wrong_user = request.user.is_authenticated and (
        (request.user.email or "").strip().lower() != invitation.email.lower()
    )
    response = render(
        request,
        "tenants/invitation_accept.html",
        {"invitation": invitation, "form": form, "wrong_user": wrong_user},
        status=status,
    )
    # The page's address is the invitation's bearer secret: keep it out of every cache.
    add_never_cache_headers(response)
    return response


@login_required
def organization_switch(request: HttpRequest) -> HttpResponse:
    slug = request.GET.get("org", "")
    if not slug:
        return redirect("home")
    try:
        return redirect(reverse("dashboard", kwargs={"org": slug}))
    except NoReverseMatch:
        # What the organization URL pattern refuses names no organization.
        raise Http404("No such organization") from None
