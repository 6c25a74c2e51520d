"""THE one place that resolves "which organization, which role" for a request, task or socket.

Callers at the edge (UI views, API views, websocket consumers) call :func:`resolve` with the
organization slug from the URL and the authenticated principal; they get an :class:`OrgContext`
that is then passed explicitly to services and selectors. Nothing else looks up memberships for
authorization.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest
from rest_framework.request import Request

from tenants import rls
from tenants.errors import NotFound, OrganizationSuspended, RoleTooLow
from tenants.models import ApiToken, Membership, Organization
from tenants.roles import Role


@dataclass(frozen=True)
class OrgContext:
    """The resolved tenant context: passed explicitly, never stored in a global."""

    organization: Organization
    membership: Membership
    user: User
    token: ApiToken | None = None

    @property
    def role(self) -> Role:
        # A token is bound to its membership: it carries that membership's current role.
        return Role(self.membership.role)

    @property
    def organization_id(self) -> int:
        return self.organization.pk

    def has_role(self, minimum: Role) -> bool:
        return self.role.at_least(minimum)


def resolve(
    *,
    org_slug: str,
    user: User | AnonymousUser | None,
    token: ApiToken | None = None,
    minimum: Role = Role.VIEWER,
    enter_database_context: bool = True,
) -> OrgContext:
    """Resolve the caller's membership of ``org_slug`` and check ``minimum`` role.

    Raises (from ``tenants.errors``) :class:`NotFound` when the organization is unknown or the
    caller is not a member (or the token belongs to another organization),
    :class:`OrganizationSuspended` when the organization is suspended, :class:`RoleTooLow` when
    the role is insufficient. On success,
    the database session enters the organization's row-level-security context.
    """
    if user is None or not user.is_authenticated:
        raise NotFound()
    membership: Membership | None
    if token is not None:
        membership = token.membership
        if membership.organization.slug != org_slug:
            raise NotFound()
    else:
        membership = (
            Membership.objects.select_related("organization")
            .filter(user_id=user.pk, organization__slug=org_slug)
            .first()
        )
        if membership is None:
            raise NotFound()
    organization = membership.organization
    if not organization.is_active:
        raise OrganizationSuspended()
    if not Role(membership.role).at_least(minimum):
        raise RoleTooLow(minimum)
    if enter_database_context:
        rls.set_context(system=False, organization_id=organization.pk, user_id=user.pk)
    return OrgContext(organization=organization, membership=membership, user=user, token=token)


def signed_in_user(request: HttpRequest | Request) -> User:
    """The user of a request that only a signed-in user reaches (``login_required``, the admin
    site, DRF's ``IsAuthenticated``): Django's own ``User``, never ``AnonymousUser``."""
    user = request.user
    assert user.is_authenticated, "the view is reached only after authentication"
    return user
