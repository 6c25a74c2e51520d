"""Business-rule errors of the tenants app; each carries a stable code for the API."""

from __future__ import annotations


class TenantError(Exception):
    code = "invalid_request"
    status = 400

    def __init__(self, message: str, *, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class LastOwner(TenantError):
    code = "last_owner"
    status = 409


class AlreadyMember(TenantError):
    code = "already_member"
    status = 409


class InvitationInvalid(TenantError):
    code = "invitation_invalid"
    status = 400


class InvitationExpired(TenantError):
    code = "invitation_expired"
    status = 410


class InvitationUsed(TenantError):
    code = "invitation_used"
    status = 410


class RoleNotGrantable(TenantError):
    code = "role_not_grantable"
    status = 403


class SlugTaken(TenantError):
    code = "slug_taken"
    status = 409
