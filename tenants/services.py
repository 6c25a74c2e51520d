"""Writes of the tenants app: keyword-only, typed, atomic, audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core import signing
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from kernel.events import notify_access_changed, publish
from tenants import tokens as token_secrets
from tenants.errors import (
    AlreadyMember,
    InvalidField,
    InvitationExpired,
    InvitationInvalid,
    InvitationUsed,
    InvitationWrongUser,
    LastOwner,
    RoleNotGrantable,
    SlugTaken,
    TokenLimit,
)
from tenants.models import ApiToken, AuditEvent, Invitation, Membership, Organization
from tenants.roles import Role
from tenants.signals import organization_registered

INVITATION_SALT = "tenants.invitation"


# --- Audit ------------------------------------------------------------------------------------
def audit_record(
    *,
    organization: Organization,
    actor: User | None,
    action: str,
    obj: Any = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event. Called by every service that changes memberships, roles,
    tokens or settings, inside the same transaction as the change."""
    event = AuditEvent.objects.create(
        organization=organization,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_label=actor.get_username()
        if actor is not None and actor.is_authenticated
        else "system",
        action=action,
        object_type=type(obj).__name__.lower() if obj is not None else "",
        object_id=str(getattr(obj, "pk", "") or "") if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        ip_address=ip,
        details=details or {},
    )
    transaction.on_commit(
        lambda: publish(
            organization.pk,
            {
                "type": "audit.created",
                "organization": organization.slug,
                "data": {
                    "action": event.action,
                    "actor": event.actor_label,
                    "object_repr": event.object_repr,
                },
            },
        )
    )
    return event


# --- Organizations ------------------------------------------------------------------------------
@transaction.atomic
def organization_create(
    *,
    slug: str,
    name: str,
    owner: User | None = None,
    actor: User | None = None,
    ip: str | None = None,
) -> Organization:
    """Create an organization (platform admin), optionally with its first owner."""
    if Organization.objects.filter(slug=slug).exists():
        raise SlugTaken(f"An organization with the slug '{slug}' already exists.")
    organization = Organization.objects.create(slug=slug, name=name)
    organization_registered.send(sender=Organization, organization=organization)
    audit_record(
        organization=organization,
        actor=actor,
        action="organization.created",
        obj=organization,
        ip=ip,
    )
    if owner is not None:
        membership = Membership.objects.create(
            user=owner, organization=organization, role=Role.OWNER
        )
        audit_record(
            organization=organization,
            actor=actor,
            action="member.added",
            obj=membership,
            ip=ip,
            details={"role": Role.OWNER.value},
        )
    return organization


@transaction.atomic
def organization_set_status(
    *,
    organization: Organization,
    status: str,
    actor: User | None,
    ip: str | None = None,
) -> Organization:
    """Suspend or resume an organization (platform admins only)."""
    status = Organization.Status(status).value
    if organization.status != status:
        previous = organization.status
        organization.status = status
        organization.save(update_fields=["status"])
        # Live sockets resolve their access again (before the audit event is sent).
        transaction.on_commit(lambda: notify_access_changed(organization_id=organization.pk))
        audit_record(
            organization=organization,
            actor=actor,
            action=f"organization.{'suspended' if status == 'suspended' else 'resumed'}",
            obj=organization,
            ip=ip,
            details={"from": previous, "to": status},
        )
    return organization


@transaction.atomic
def organization_update_settings(
    *,
    organization: Organization,
    actor: User,
    ip: str | None = None,
    name: str | None = None,
    contact_email: str | None = None,
) -> Organization:
    """Change an organization's settings; every changed field is audited with old/new."""
    changes: dict[str, Any] = {}
    for field, value in (("name", name), ("contact_email", contact_email)):
        if value is not None and getattr(organization, field) != value:
            changes[field] = {"from": getattr(organization, field), "to": value}
            setattr(organization, field, value)
    if changes:
        organization.save(update_fields=list(changes))
        audit_record(
            organization=organization,
            actor=actor,
            action="settings.changed",
            obj=organization,
            ip=ip,
            details=changes,
        )
    return organization


# --- Memberships --------------------------------------------------------------------------------
def _owner_count(organization: Organization) -> int:
    return Membership.objects.filter(organization=organization, role=Role.OWNER).count()


def _check_grantable(*, actor_role: Role | None, role: Role) -> None:
    # Admins manage members but cannot create owners; only owners (or platform admins, who
    # pass actor_role=None) can grant the owner role.
    if actor_role is not None and role == Role.OWNER and actor_role != Role.OWNER:
        raise RoleNotGrantable("Only an owner can grant the owner role.")


@transaction.atomic
def membership_add(
    *,
    organization: Organization,
    user: User,
    role: Role,
    actor: User | None,
    actor_role: Role | None = None,
    ip: str | None = None,
) -> Membership:
    role = Role(role)
    _check_grantable(actor_role=actor_role, role=role)
    if Membership.objects.filter(organization=organization, user=user).exists():
        raise AlreadyMember(f"{user.get_username()} is already a member of {organization.slug}.")
    membership = Membership.objects.create(organization=organization, user=user, role=role)
    _invitations_close(organization=organization, email=getattr(user, "email", ""), user=user)
    audit_record(
        organization=organization,
        actor=actor,
        action="member.added",
        obj=membership,
        ip=ip,
        details={"role": role.value},
    )
    return membership


@transaction.atomic
def membership_change_role(
    *,
    membership: Membership,
    role: Role,
    actor: User | None,
    actor_role: Role | None = None,
    ip: str | None = None,
) -> Membership:
    """Change a member's role. The last owner cannot be demoted."""
    role = Role(role)
    # Lock the organization's owner rows so two concurrent demotions cannot both pass the check.
    list(
        Membership.objects.select_for_update().filter(
            organization_id=membership.organization_id, role=Role.OWNER
        )
    )
    membership.refresh_from_db()
    _check_grantable(actor_role=actor_role, role=role)
    if membership.role == Role.OWNER and actor_role is not None and actor_role != Role.OWNER:
        raise RoleNotGrantable("Only an owner can change another owner's role.")
    if membership.role == role:
        return membership
    if membership.role == Role.OWNER and _owner_count(membership.organization) <= 1:
        raise LastOwner("The last owner cannot be demoted; make someone else owner first.")
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    transaction.on_commit(lambda: notify_access_changed(user_id=membership.user_id))
    audit_record(
        organization=membership.organization,
        actor=actor,
        action="member.role_changed",
        obj=membership,
        ip=ip,
        details={"from": previous, "to": role.value},
    )
    return membership


@transaction.atomic
def membership_remove(
    *,
    membership: Membership,
    actor: User | None,
    actor_role: Role | None = None,
    ip: str | None = None,
) -> None:
    """Remove a member (and so their tokens). The last owner cannot be removed."""
    list(
        Membership.objects.select_for_update().filter(
            organization_id=membership.organization_id, role=Role.OWNER
        )
    )
    if membership.role == Role.OWNER and actor_role is not None and actor_role != Role.OWNER:
        raise RoleNotGrantable("Only an owner can remove another owner.")
    if membership.role == Role.OWNER and _owner_count(membership.organization) <= 1:
        raise LastOwner("The last owner cannot be removed; make someone else owner first.")
    organization = membership.organization
    user_id = membership.user_id
    transaction.on_commit(lambda: notify_access_changed(user_id=user_id))
    audit_record(
        organization=organization,
        actor=actor,
        action="member.removed",
        obj=membership,
        ip=ip,
        details={"user": membership.user.get_username(), "role": membership.role},
    )
    membership.delete()


# --- Invitations --------------------------------------------------------------------------------
def invitation_token(invitation: Invitation) -> str:
    return signing.dumps({"i": invitation.pk, "e": invitation.email}, salt=INVITATION_SALT)


def invitation_link(invitation: Invitation, *, base_url: str) -> str:
    """The absolute accept link of ``invitation`` (a bearer secret until it is accepted)."""
    return base_url.rstrip("/") + reverse("invitation_accept", args=[invitation_token(invitation)])


def _open_invitations(*, organization: Organization, email: str) -> Any:
    return Invitation.objects.filter(
        organization=organization,
        email__iexact=email,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
    )


def _invitations_close(
    *, organization: Organization, email: str, user: User, exclude: int | None = None
) -> None:
    # The person is a member now: no other invitation to the same address may stay "pending"
    # (nor be accepted later by someone holding the old link).
    if email:
        _open_invitations(organization=organization, email=email).exclude(pk=exclude).update(
            accepted_at=timezone.now(), accepted_by=user
        )


def _send_invitation_email(
    *, invitation: Invitation, link: str, actor: User, organization: Organization
) -> None:
    role = Role(invitation.role)
    transaction.on_commit(
        lambda: send_mail(
            subject=f"You are invited to {organization.name} on Alliance Portal",
            message=(
                f"{actor.get_username()} invited you to join {organization.name} as "
                f"{role.label.lower()}.\n\nAccept: {link}\n\nThe link expires on "
                f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC, works once, and only for an "
                f"account with the address {invitation.email}."
            ),
            from_email=None,
            recipient_list=[invitation.email],
        )
    )


@transaction.atomic
def invitation_create(
    *,
    organization: Organization,
    email: str,
    role: Role,
    actor: User,
    actor_role: Role | None,
    ip: str | None = None,
    base_url: str = "http://127.0.0.1:8000",
) -> tuple[Invitation, str]:
    """Invite ``email`` with ``role``; the email with the signed link is sent after commit.

    One open invitation per address: a new one replaces (revokes) the earlier ones, so the
    latest role and expiry are the only ones that can be accepted.
    """
    _check_grantable(actor_role=actor_role, role=role)
    email = email.strip().lower()
    # Serialize invitations of one organization so two concurrent ones to the same address
    # cannot both stay open.
    Organization.objects.select_for_update().filter(pk=organization.pk).first()
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise AlreadyMember(f"{email} is already a member of {organization.slug}.")
    replaced = list(_open_invitations(organization=organization, email=email))
    for previous in replaced:
        previous.revoked_at = timezone.now()
        previous.save(update_fields=["revoked_at"])
        audit_record(
            organization=organization,
            actor=actor,
            action="invitation.revoked",
            obj=previous,
            ip=ip,
            details={"reason": "replaced"},
        )
    invitation = Invitation.objects.create(
        organization=organization,
        email=email,
        role=role,
        invited_by=actor,
        expires_at=timezone.now() + settings.INVITATION_MAX_AGE,
    )
    link = invitation_link(invitation, base_url=base_url)
    audit_record(
        organization=organization,
        actor=actor,
        action="invitation.created",
        obj=invitation,
        ip=ip,
        details={"email": email, "role": role.value, "replaced": [p.pk for p in replaced]},
    )
    _send_invitation_email(invitation=invitation, link=link, actor=actor, organization=organization)
    return invitation, link


@transaction.atomic
def invitation_resend(
    *,
    invitation: Invitation,
    actor: User,
    ip: str | None = None,
    base_url: str = "http://127.0.0.1:8000",
) -> tuple[Invitation, str]:
    """Email the same link again with a fresh expiry; accepted or revoked ones cannot be."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at:
        raise InvitationUsed("This invitation has already been used.")
    if invitation.revoked_at:
        raise InvitationInvalid("This invitation was revoked; send a new one.")
    invitation.expires_at = timezone.now() + settings.INVITATION_MAX_AGE
    invitation.save(update_fields=["expires_at"])
    link = invitation_link(invitation, base_url=base_url)
    audit_record(
        organization=invitation.organization,
        actor=actor,
        action="invitation.resent",
        obj=invitation,
        ip=ip,
        details={"email": invitation.email},
    )
    _send_invitation_email(
        invitation=invitation, link=link, actor=actor, organization=invitation.organization
    )
    return invitation, link


def invitation_from_token(token: str) -> Invitation:
    """Check a link's signature and state; raises a named error for every failure."""
    try:
        data = signing.loads(token, salt=INVITATION_SALT)
    except signing.BadSignature as exc:
        raise InvitationInvalid("This invitation link is not valid.") from exc
    invitation = (
        Invitation.objects.select_related("organization")
        .filter(pk=data.get("i"), email=data.get("e"))
        .first()
    )
    if invitation is None or invitation.revoked_at:
        raise InvitationInvalid("This invitation no longer exists.")
    if invitation.accepted_at:
        raise InvitationUsed("This invitation has already been used.")
    if invitation.expires_at <= timezone.now():
        raise InvitationExpired("This invitation has expired; ask for a new one.")
    return invitation


@transaction.atomic
def invitation_accept(
    *,
    token: str,
    user: User | None = None,
    username: str | None = None,
    password: str | None = None,
    ip: str | None = None,
) -> Membership:
    """Accept an invitation as ``user`` (logged in) or as a new account (username+password)."""
    invitation = invitation_from_token(token)
    # Lock the row so the same link cannot be accepted twice concurrently.
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at:
        raise InvitationUsed("This invitation has already been used.")
    if user is None:
        user_model = get_user_model()
        if not username or not password:
            raise InvitationInvalid("Choose a username and a password to create your account.")
        if user_model.objects.filter(email__iexact=invitation.email).exists():
            # One account per address: the owner of the address logs in and accepts.
            raise InvitationInvalid(
                f"An account with the address {invitation.email} exists; log in to accept.",
                details={"email": "taken"},
            )
        try:
            with transaction.atomic():
                user = user_model.objects.create_user(
                    username=username, email=invitation.email, password=password
                )
        except IntegrityError as exc:
            raise InvitationInvalid(
                "That username is taken.", details={"username": "taken"}
            ) from exc
    # Outside production the signing key may be known, and a link can be forwarded: the
    # invitation is for an address, so only the account holding that address can accept it.
    if (getattr(user, "email", "") or "").strip().lower() != invitation.email.lower():
        raise InvitationWrongUser(
            f"This invitation is for {invitation.email}; you are signed in as "
            f"{user.get_username()} with another address. Log in with the invited account."
        )
    if Membership.objects.filter(organization=invitation.organization, user=user).exists():
        raise AlreadyMember("You are already a member of this organization.")
    membership = Membership.objects.create(
        organization=invitation.organization, user=user, role=invitation.role
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    _invitations_close(
        organization=invitation.organization,
        email=invitation.email,
        user=user,
        exclude=invitation.pk,
    )
    audit_record(
        organization=invitation.organization,
        actor=user,
        action="invitation.accepted",
        obj=membership,
        ip=ip,
        details={"role": invitation.role},
    )
    return membership


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: User, ip: str | None = None) -> Invitation:
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(
            organization=invitation.organization,
            actor=actor,
            action="invitation.revoked",
            obj=invitation,
            ip=ip,
        )
    return invitation


# --- API tokens ---------------------------------------------------------------------------------
@transaction.atomic
def token_create(
    *,
    membership: Membership,
    name: str,
    expires_at: datetime | None = None,
    actor: User | None = None,
    ip: str | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for ``membership``; returns the row and the secret (shown once).

    Refuses an expiry that is not in the future (the secret would be useless but still shown)
    and more than ``API_TOKENS_PER_MEMBER`` active tokens per member.
    """
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise InvalidField("expires_at", "The expiry must be in the future.")
    # Lock the membership so concurrent creations cannot both pass the cap.
    Membership.objects.select_for_update().filter(pk=membership.pk).first()
    active = (
        ApiToken.objects.filter(membership=membership, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .count()
    )
    if active >= settings.API_TOKENS_PER_MEMBER:
        raise TokenLimit(
            f"You already have {active} active tokens here; revoke one first.",
            details={"limit": settings.API_TOKENS_PER_MEMBER},
        )
    secret, prefix, digest = token_secrets.generate()
    api_token = ApiToken.objects.create(
        organization=membership.organization,
        membership=membership,
        name=name,
        prefix=prefix,
        digest=digest,
        expires_at=expires_at,
    )
    audit_record(
        organization=membership.organization,
        actor=actor or membership.user,
        action="token.created",
        obj=api_token,
        ip=ip,
        details={
            "name": name,
            "prefix": prefix,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return api_token, secret


@transaction.atomic
def token_revoke(*, api_token: ApiToken, actor: User, ip: str | None = None) -> ApiToken:
    if api_token.revoked_at is None:
        api_token.revoked_at = timezone.now()
        api_token.save(update_fields=["revoked_at"])
        transaction.on_commit(lambda: notify_access_changed(token_id=api_token.pk))
        audit_record(
            organization=api_token.organization,
            actor=actor,
            action="token.revoked",
            obj=api_token,
            ip=ip,
            details={"prefix": api_token.prefix},
        )
    return api_token


# --- Login lock-out -----------------------------------------------------------------------------
def _login_attempts_key(username: str, ip: str | None) -> str:
    return f"login-attempts:{username.strip().lower()}:{ip or '-'}"


def login_attempt_begin(*, username: str, ip: str | None) -> bool:
    """Count one password check for (username, IP); ``False`` when the pair is locked out.

    The count is taken before the password is checked, atomically (``add`` then ``incr`` are
    single cache operations), so parallel requests cannot all read the same old count: at most
    ``LOGIN_MAX_FAILURES`` passwords are checked per pair and window.
    """
    key = _login_attempts_key(username, ip)
    for _ in range(3):
        cache.add(key, 0, timeout=settings.LOGIN_LOCKOUT_SECONDS)
        try:
            attempts = cache.incr(key)
        except ValueError:  # the key expired between add and incr: start a new window
            continue
        return attempts <= settings.LOGIN_MAX_FAILURES
    return False


def login_attempts_clear(*, username: str, ip: str | None) -> None:
    """A successful login forgets the pair's earlier failures."""
    cache.delete(_login_attempts_key(username, ip))
