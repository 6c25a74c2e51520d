"""Base classes for organization-scoped API views: THE guard at the API edge.

They live in ``tenants`` (not in the kernel) because they call ``tenants.access.resolve``; every
app's API imports them from here.

The organization comes from the ``org`` path parameter and is resolved once, together with the
caller's role, by tenants.access.resolve. ``self.ctx`` is then passed explicitly to services and
selectors. ``get_queryset`` additionally narrows any queryset over a model with an
``organization`` field to the resolved organization, so a view that forgets cannot leak.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.views import APIView

from tenants.access import OrgContext, resolve
from tenants.errors import NotFound
from tenants.models import ApiToken
from tenants.roles import Role

T = TypeVar("T")

ORG_PARAMETER = OpenApiParameter(
    "org",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="Slug of the organization (the tenant).",
)


def found(obj: T | None) -> T:
    """What a ``*_get`` selector returned, or the API's 404 ``not_found`` when it is ``None``."""
    if obj is None:
        raise NotFound()
    return obj


class OrgScopedMixin:
    """Resolve the organization and role before any handler runs."""

    read_role: ClassVar[Role] = Role.VIEWER
    write_role: ClassVar[Role] = Role.ADMIN
    # Per-action overrides for viewsets: {"create": Role.MEMBER, ...}
    action_roles: ClassVar[dict[str, Role]] = {}
    ctx: OrgContext

    def required_role(self, request: Request) -> Role:
        action = getattr(self, "action", None)
        if action and action in self.action_roles:
            return self.action_roles[action]
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return self.read_role
        return self.write_role

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # A mixin: super() is the DRF view it is mixed into, which mypy cannot see from here.
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        token = request.auth if isinstance(request.auth, ApiToken) else None
        self.ctx = resolve(
            org_slug=kwargs["org"],
            user=request.user,
            token=token,
            minimum=self.required_role(request),
        )

    def scope(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        model = queryset.model
        if any(field.name == "organization" for field in model._meta.get_fields()):
            return queryset.filter(organization=self.ctx.organization)
        return queryset


@extend_schema(parameters=[ORG_PARAMETER])
class OrgAPIView(OrgScopedMixin, APIView):
    """One action endpoint (enroll, verify, transfer) scoped to an organization."""


@extend_schema(parameters=[ORG_PARAMETER])
class OrgGenericViewSet(OrgScopedMixin, viewsets.GenericViewSet[Any]):
    """CRUD over a scoped queryset; subclasses implement ``get_base_queryset``."""

    def get_base_queryset(self) -> QuerySet[Any]:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return self.get_base_queryset_for_schema()
        return self.scope(self.get_base_queryset())

    def get_base_queryset_for_schema(self) -> QuerySet[Any]:
        assert self.queryset is not None
        return self.queryset.none()


__all__ = [
    "ORG_PARAMETER",
    "OrgAPIView",
    "OrgGenericViewSet",
    "OrgScopedMixin",
    "found",
]
