"""One representative row of every tenants model that a URL names by id, for one organization."""

from __future__ import annotations

from django.db.models import Model

from tenants import services
from tenants.models import ApiToken, AuditEvent, Invitation, Membership, Organization
from tenants.roles import Role


def tenants_objects(
    *, organization: Organization, owner: object, member: object
) -> dict[type[Model], Model]:
    """The member's membership, the owner's API token, an invitation and its audit event.

    The token belongs to the owner because a member may revoke only their own tokens: the owner
    must be able to reach it for the walk's positive control.
    """
    membership = Membership.objects.get(user=member, organization=organization)
    owner_membership = Membership.objects.get(user=owner, organization=organization)
    token, _secret = services.token_create(membership=owner_membership, name="walk")
    invitation, _link = services.invitation_create(
        organization=organization,
        email=f"carol@{organization.slug}.example",
        role=Role.MEMBER,
        actor=owner,
        actor_role=Role.OWNER,
    )
    audit = AuditEvent.objects.filter(organization=organization).latest("pk")
    return {
        Membership: membership,
        ApiToken: token,
        Invitation: invitation,
        AuditEvent: audit,
    }
