"""REST authentication by personal API token: ``Authorization: Bearer <token>``."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from tenants import rls
from tenants import tokens as token_secrets
from tenants.errors import CATALOG, INVALID_TOKEN, TOKEN_EXPIRED, TOKEN_REVOKED, USER_INACTIVE
from tenants.models import ApiToken

# last_used_at is written at most this often per token, so reads do not become writes.
_LAST_USED_RESOLUTION_SECONDS = 60


def _failed(code: str, message: str | None = None) -> exceptions.AuthenticationFailed:
    # DRF's own error (not a DomainError) so that DRF answers 401 with WWW-Authenticate.
    return exceptions.AuthenticationFailed(message or CATALOG[code][0], code=code)


def authenticate_token(raw: str) -> ApiToken:
    """Return the active token for ``raw`` or raise AuthenticationFailed with a clear reason."""
    prefix = token_secrets.parse_prefix(raw)
    if prefix is None:
        raise _failed(INVALID_TOKEN, "Malformed API token.")
    # Token lookup precedes tenant resolution, so it is explicit system work.
    with rls.system_context():
        api_token = (
            ApiToken.objects.select_related("membership__user", "membership__organization")
            .filter(prefix=prefix)
            .first()
        )
        if api_token is None or not token_secrets.matches(raw, api_token.digest):
            raise _failed(INVALID_TOKEN)
        if api_token.revoked_at is not None:
            raise _failed(TOKEN_REVOKED)
        now = timezone.now()
        if api_token.expires_at is not None and api_token.expires_at <= now:
            raise _failed(TOKEN_EXPIRED)
        if not api_token.membership.user.is_active:
            raise _failed(USER_INACTIVE)
        if (
            api_token.last_used_at is None
            or (now - api_token.last_used_at).total_seconds() > _LAST_USED_RESOLUTION_SECONDS
        ):
            ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
            api_token.last_used_at = now
    return api_token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if parts[0].lower() != self.keyword.lower():
            return None
        if len(parts) != 2:
            raise _failed(INVALID_TOKEN, "Authorization header must be 'Bearer <token>'.")
        api_token = authenticate_token(parts[1])
        user = api_token.membership.user
        # The request now acts as this user (its own memberships become visible), still
        # without any organization until tenants.access.resolve enters one.
        rls.set_context(system=False, organization_id=None, user_id=user.pk)
        return user, api_token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


# drf-spectacular registers an extension in its untyped __init_subclass__.
class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Documents the token scheme in the OpenAPI schema (drf-spectacular extension)."""

    target_class = "tenants.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Personal API token: `Authorization: Bearer ap_…`",
        }
