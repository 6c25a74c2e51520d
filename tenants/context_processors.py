from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from tenants import selectors


def organizations(request: HttpRequest) -> dict[str, Any]:
    """The organization switcher's entries and the current organization context."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "my_memberships": list(selectors.memberships_of_user(user=user)),
        "org_ctx": getattr(request, "org_ctx", None),
    }
