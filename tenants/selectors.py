"""Reads of the tenants app. Every tenant read takes ``organization``; a ``*_get`` returns the
object or ``None``."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from tenants.models import ApiToken, AuditEvent, Invitation, Membership, Organization
from tenants.roles import Role


def memberships_of_user(*, user: User) -> QuerySet[Membership]:
    """The caller's memberships (the organization switcher; ``GET /api/v1/orgs/``)."""
    return Membership.objects.select_related("organization").filter(user_id=user.pk)


def membership_list(*, organization: Organization) -> QuerySet[Membership]:
    return Membership.objects.select_related("user").filter(organization=organization)


def membership_get(*, organization: Organization, pk: int) -> Membership | None:
    return membership_list(organization=organization).filter(pk=pk).first()


def invitation_list(*, organization: Organization) -> QuerySet[Invitation]:
    return Invitation.objects.select_related("invited_by").filter(organization=organization)


def invitation_pending_list(*, organization: Organization) -> QuerySet[Invitation]:
    """Invitations that can still be accepted: open, unexpired, and whose address has not
    joined by another way (an older link, or a platform admin adding the account)."""
    joined = Membership.objects.filter(
        organization=organization, user__email__iexact=OuterRef("email")
    )
    return invitation_list(organization=organization).filter(
        ~Exists(joined),
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    )


def invitation_get(*, organization: Organization, pk: int) -> Invitation | None:
    return invitation_list(organization=organization).filter(pk=pk).first()


def token_list(*, organization: Organization, membership: Membership) -> QuerySet[ApiToken]:
    """Tokens the caller may see: their own, or every token of the organization for admins."""
    qs = ApiToken.objects.select_related("membership__user").filter(organization=organization)
    if not Role(membership.role).at_least(Role.ADMIN):
        qs = qs.filter(membership=membership)
    return qs


def token_get(*, organization: Organization, membership: Membership, pk: int) -> ApiToken | None:
    return token_list(organization=organization, membership=membership).filter(pk=pk).first()


def audit_list(*, organization: Organization) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(organization=organization)


def organization_figures(*, organization: Organization) -> dict[str, int]:
    """Real figures for the organization's dashboard."""
    now = timezone.now()
    members = Membership.objects.filter(organization=organization).aggregate(
        total=Count("id"),
        admins=Count("id", filter=Q(role__in=[Role.OWNER, Role.ADMIN])),
    )
    return {
        "members": members["total"],
        "admins": members["admins"],
        "pending_invitations": invitation_pending_list(organization=organization).count(),
        "active_tokens": ApiToken.objects.filter(organization=organization, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .count(),
        "audit_events": AuditEvent.objects.filter(organization=organization).count(),
    }


def organization_list_all() -> QuerySet[Organization]:
    """All organizations, for platform admins (callers run in the system context)."""
    return Organization.objects.annotate(member_count=Count("memberships"))
