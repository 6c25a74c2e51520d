"""Tenants REST API: my organizations, organization, members, invitations, tokens, audit,
and the platform-admin endpoints."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils.cache import add_never_cache_headers
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status
from rest_framework.decorators import action
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kernel.http import client_ip
from tenants import rls, selectors, services
from tenants.access import signed_in_user
from tenants.api import serializers as s
from tenants.api.base import OrgAPIView, OrgGenericViewSet
from tenants.errors import NotFound, UnknownUser
from tenants.models import ApiToken, AuditEvent, Invitation, Membership, Organization
from tenants.roles import Role


class MyOrganizationsView(ListAPIView[Membership]):
    """The organizations the caller belongs to, with the caller's role in each."""

    serializer_class = s.MyOrganizationSerializer
    ordering_fields = ["organization__slug", "role"]

    def get_queryset(self) -> QuerySet[Membership]:
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        qs = selectors.memberships_of_user(user=signed_in_user(self.request))
        if isinstance(self.request.auth, ApiToken):
            # A token is bound to one membership: it sees only that organization.
            qs = qs.filter(pk=self.request.auth.membership_id)
        return qs.order_by("organization__slug")


class OrganizationView(OrgAPIView):
    read_role = Role.VIEWER
    write_role = Role.ADMIN

    @extend_schema(responses=s.OrganizationSerializer)
    def get(self, request: Request, org: str) -> Response:
        return Response(s.OrganizationSerializer(self.ctx.organization).data)

    @extend_schema(
        request=s.OrganizationSettingsInputSerializer, responses=s.OrganizationSerializer
    )
    def patch(self, request: Request, org: str) -> Response:
        data = s.OrganizationSettingsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organization = services.organization_update_settings(
            organization=self.ctx.organization,
            actor=self.ctx.user,
            ip=client_ip(request),
            **data.validated_data,
        )
        return Response(s.OrganizationSerializer(organization).data)


@extend_schema_view(
    list=extend_schema(parameters=[OpenApiParameter("role", OpenApiTypes.STR, enum=Role.values)]),
    partial_update=extend_schema(request=s.MemberRoleInputSerializer),
)
class MemberViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    OrgGenericViewSet,
):
    """Members of the organization. Admins change roles and remove members."""

    serializer_class = s.MemberSerializer
    queryset = Membership.objects.all()
    ordering_fields = ["user__username", "role", "created_at"]
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_base_queryset(self) -> QuerySet[Membership]:
        qs = selectors.membership_list(organization=self.ctx.organization)
        role = self.request.query_params.get("role")
        if role:
            qs = qs.filter(role=role)
        return qs.order_by("user__username")

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        membership = self.get_object()
        data = s.MemberRoleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_change_role(
            membership=membership,
            role=Role(data.validated_data["role"]),
            actor=self.ctx.user,
            actor_role=self.ctx.role,
            ip=client_ip(request),
        )
        return Response(s.MemberSerializer(membership).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.membership_remove(
            membership=self.get_object(),
            actor=self.ctx.user,
            actor_role=self.ctx.role,
            ip=client_ip(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgGenericViewSet):
    """Invitations to the organization (owners and admins)."""

    serializer_class = s.InvitationSerializer
    queryset = Invitation.objects.all()
    read_role = Role.ADMIN
    write_role = Role.ADMIN
    ordering_fields = ["created_at", "email"]

    def get_base_queryset(self) -> QuerySet[Invitation]:
        return selectors.invitation_list(organization=self.ctx.organization)

    @extend_schema(
        request=s.InvitationInputSerializer, responses={201: s.InvitationCreatedSerializer}
    )
    def create(self, request: Request, org: str) -> Response:
        data = s.InvitationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, link = services.invitation_create(
            organization=self.ctx.organization,
            email=data.validated_data["email"],
            role=Role(data.validated_data["role"]),
            actor=self.ctx.user,
            actor_role=self.ctx.role,
            ip=client_ip(request),
            base_url=request.build_absolute_uri("/"),
        )
        return _with_link(invitation, link, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.InvitationCreatedSerializer)
    @action(detail=True, methods=["post"])
    def resend(self, request: Request, org: str, pk: str) -> Response:
        """Email the invitation again with a fresh expiry; answers its link once more."""
        invitation, link = services.invitation_resend(
            invitation=self.get_object(),
            actor=self.ctx.user,
            ip=client_ip(request),
            base_url=request.build_absolute_uri("/"),
        )
        return _with_link(invitation, link, status=status.HTTP_200_OK)

    @extend_schema(request=None, responses=s.InvitationSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, org: str, pk: str) -> Response:
        invitation = services.invitation_revoke(
            invitation=self.get_object(), actor=self.ctx.user, ip=client_ip(request)
        )
        return Response(s.InvitationSerializer(invitation).data)


def _with_link(invitation: Invitation, link: str, *, status: int) -> Response:
    # Not a model field: the link exists only in this answer, for the serializer to show.
    invitation.accept_url = link  # type: ignore[attr-defined]
    response = Response(s.InvitationCreatedSerializer(invitation).data, status=status)
    # The link lets whoever holds it join: no cache may keep the answer.
    add_never_cache_headers(response)
    return response


class TokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgGenericViewSet):
    """Personal API tokens. Everyone manages their own; admins see and revoke all."""

    serializer_class = s.TokenSerializer
    queryset = ApiToken.objects.all()
    read_role = Role.VIEWER
    write_role = Role.VIEWER
    ordering_fields = ["created_at", "name", "last_used_at"]

    def get_base_queryset(self) -> QuerySet[ApiToken]:
        return selectors.token_list(
            organization=self.ctx.organization, membership=self.ctx.membership
        )

    @extend_schema(request=s.TokenInputSerializer, responses={201: s.TokenCreatedSerializer})
    def create(self, request: Request, org: str) -> Response:
        data = s.TokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        api_token, secret = services.token_create(
            membership=self.ctx.membership,
            name=data.validated_data["name"],
            expires_at=data.validated_data.get("expires_at"),
            actor=self.ctx.user,
            ip=client_ip(request),
        )
        # Not a model field: the secret is shown in this answer only, never stored.
        api_token.token = secret  # type: ignore[attr-defined]
        response = Response(
            s.TokenCreatedSerializer(api_token).data, status=status.HTTP_201_CREATED
        )
        # The secret is in the body: no cache may keep it.
        add_never_cache_headers(response)
        return response

    @extend_schema(request=None, responses={200: s.TokenSerializer})
    def destroy(self, request: Request, org: str, pk: str) -> Response:
        """Revoke the token (the row is kept for the audit trail)."""
        api_token = services.token_revoke(
            api_token=self.get_object(), actor=self.ctx.user, ip=client_ip(request)
        )
        return Response(s.TokenSerializer(api_token).data)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter(
                "action", OpenApiTypes.STR, description="Filter by action, e.g. member.added"
            ),
            OpenApiParameter("actor", OpenApiTypes.STR, description="Filter by actor username"),
        ]
    )
)
class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgGenericViewSet):
    """The organization's append-only audit log (owners and admins)."""

    serializer_class = s.AuditEventSerializer
    queryset = AuditEvent.objects.all()
    read_role = Role.ADMIN
    ordering_fields = ["created_at", "action"]

    def get_base_queryset(self) -> QuerySet[AuditEvent]:
        qs = selectors.audit_list(organization=self.ctx.organization)
        params = self.request.query_params
        if params.get("action"):
            qs = qs.filter(action=params["action"])
        if params.get("actor"):
            qs = qs.filter(actor_label=params["actor"])
        return qs


# --- Platform admin -----------------------------------------------------------------------------
class IsPlatformAdmin(permissions.BasePermission):
    message = "Only platform administrators can do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_superuser)


class AdminOrganizationListView(APIView):
    """All organizations (platform admins)."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(responses=s.AdminOrganizationSerializer(many=True))
    def get(self, request: Request) -> Response:
        with rls.system_context():
            organizations = list(selectors.organization_list_all())
        return Response(s.AdminOrganizationSerializer(organizations, many=True).data)

    @extend_schema(
        request=s.AdminOrganizationInputSerializer, responses={201: s.AdminOrganizationSerializer}
    )
    def post(self, request: Request) -> Response:
        data = s.AdminOrganizationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        owner = None
        if data.validated_data.get("owner"):
            owner = get_user_model().objects.filter(username=data.validated_data["owner"]).first()
            if owner is None:
                raise UnknownUser("No such user.", details={"owner": data.validated_data["owner"]})
        with rls.system_context():
            organization = services.organization_create(
                slug=data.validated_data["slug"],
                name=data.validated_data["name"],
                owner=owner,
                actor=signed_in_user(request),
                ip=client_ip(request),
            )
        return Response(
            s.AdminOrganizationSerializer(organization).data, status=status.HTTP_201_CREATED
        )


def _admin_org(slug: str) -> Organization:
    organization = Organization.objects.filter(slug=slug).first()
    if organization is None:
        raise NotFound()
    return organization


@extend_schema(parameters=[OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH)])
class AdminOrganizationDetailView(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(responses=s.AdminOrganizationSerializer)
    def get(self, request: Request, slug: str) -> Response:
        return Response(s.AdminOrganizationSerializer(_admin_org(slug)).data)


@extend_schema(
    parameters=[
        OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH),
        OpenApiParameter(
            "operation", OpenApiTypes.STR, OpenApiParameter.PATH, enum=["suspend", "resume"]
        ),
    ]
)
class AdminOrganizationStatusView(APIView):
    """Suspend or resume an organization."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(
        request=None, responses=s.AdminOrganizationSerializer, operation_id="admin_orgs_set_status"
    )
    def post(self, request: Request, slug: str, operation: str) -> Response:
        new_status = {"suspend": "suspended", "resume": "active"}.get(operation)
        if new_status is None:
            raise NotFound()
        with rls.system_context():
            organization = services.organization_set_status(
                organization=_admin_org(slug),
                status=new_status,
                actor=signed_in_user(request),
                ip=client_ip(request),
            )
        return Response(s.AdminOrganizationSerializer(organization).data)


@extend_schema(parameters=[OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH)])
class AdminMembershipView(APIView):
    """Add a user to an organization with a role (platform admins)."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(request=s.AdminMembershipInputSerializer, responses={201: s.MemberSerializer})
    def post(self, request: Request, slug: str) -> Response:
        data = s.AdminMembershipInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = get_user_model().objects.filter(username=data.validated_data["username"]).first()
        if user is None:
            raise UnknownUser("No such user.")
        with rls.system_context():
            membership = services.membership_add(
                organization=_admin_org(slug),
                user=user,
                role=Role(data.validated_data["role"]),
                actor=signed_in_user(request),
                actor_role=None,
                ip=client_ip(request),
            )
        return Response(s.MemberSerializer(membership).data, status=status.HTTP_201_CREATED)
