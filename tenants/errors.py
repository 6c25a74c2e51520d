"""Every error code of the tenants app, in one place.

Business-rule failures are :class:`TenantError` subclasses; the failures of resolving "which
organization, which role" (``tenants.access.resolve``) are :class:`AccessDenied` subclasses, kept
apart so that a UI view catching ``TenantError`` never swallows an access failure. Token
authentication failures are DRF ``AuthenticationFailed`` errors (DRF answers 401 with the
``WWW-Authenticate`` header); their codes are in :data:`CATALOG`. The kernel's one exception
handler renders all of them in the one error shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from kernel.errors import DomainError

if TYPE_CHECKING:
    from tenants.roles import Role

# Error codes, not secrets.
INVALID_TOKEN: Final = "invalid_token"  # noqa: S105
TOKEN_REVOKED: Final = "token_revoked"  # noqa: S105
TOKEN_EXPIRED: Final = "token_expired"  # noqa: S105
USER_INACTIVE: Final = "user_inactive"

# Token authentication failures: code -> (message, HTTP status).
CATALOG: Final[Mapping[str, tuple[str, int]]] = MappingProxyType(
    {
        INVALID_TOKEN: ("Invalid API token.", 401),
        TOKEN_REVOKED: ("This API token was revoked.", 401),
        TOKEN_EXPIRED: ("This API token has expired.", 401),
        USER_INACTIVE: ("This account is disabled.", 401),
    }
)


class TenantError(DomainError):
    """A membership, invitation, token or settings change that the rules refuse."""

    code = "invalid_request"
    status = 400

    def __init__(self, message: str, *, details: Mapping[str, object] | None = None) -> None:
        super().__init__(message, details=details)


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


class InvitationWrongUser(TenantError):
    """The signed-in account is not the invited address: the link alone proves nothing."""

    code = "invitation_wrong_user"
    status = 403


class TokenLimit(TenantError):
    code = "token_limit"
    status = 409


class InvalidField(TenantError):
    """A field's value that the rules refuse; same code and shape as the API's validation."""

    code = "validation_error"
    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, details={"fields": {field: [message]}})
        self.field = field


class RoleNotGrantable(TenantError):
    code = "role_not_grantable"
    status = 403


class SlugTaken(TenantError):
    code = "slug_taken"
    status = 409


class UnknownUser(TenantError):
    """A platform admin named a user that does not exist."""

    code = "unknown_user"
    status = 400


# --- resolving the organization and role ------------------------------------------------------
class AccessDenied(DomainError):
    """Base of the resolution failures; each maps to one stable API error code."""

    code = "permission_denied"
    status = 403
    message = "You do not have permission to perform this action."


class NotFound(AccessDenied):
    """The organization (or object) does not exist or the caller is not a member (no
    existence leak)."""

    code = "not_found"
    status = 404
    message = "Not found."


class OrganizationSuspended(AccessDenied):
    code = "organization_suspended"
    status = 403
    message = "This organization is suspended. Contact the alliance's platform administrators."


class RoleTooLow(AccessDenied):
    code = "permission_denied"
    status = 403

    def __init__(self, required: Role) -> None:
        super().__init__(f"This action needs the {required.label.lower()} role or higher.")
        self.required = required
