"""Throttling: per API token, per session user, per anonymous IP."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework import throttling
from rest_framework.request import Request

if TYPE_CHECKING:
    from rest_framework.views import APIView
else:
    APIView = Any


class TokenRateThrottle(throttling.SimpleRateThrottle):
    """Requests authenticated by a token are limited per token (not per user)."""

    scope = "token"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if request.auth is not None and hasattr(request.auth, "prefix"):
            return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}
        return None


class UserRateThrottle(throttling.UserRateThrottle):
    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if request.auth is not None and hasattr(request.auth, "prefix"):
            return None  # counted by TokenRateThrottle
        return super().get_cache_key(request, view)


class AnonRateThrottle(throttling.AnonRateThrottle):
    pass
