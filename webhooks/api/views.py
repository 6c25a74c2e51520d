"""Webhooks REST API (admins and owners): endpoints, secret rotation, the delivery log and
redelivery. Thin: parse, call one service or selector, render."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from tenants.api.base import OrgAPIView, OrgGenericViewSet, found
from tenants.roles import Role
from webhooks import selectors, services
from webhooks.api import serializers as s
from webhooks.models import WebhookDelivery, WebhookEndpoint

NO_STORE = {"Cache-Control": "no-store"}


class EndpointViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    OrgGenericViewSet,
):
    """The organization's webhook endpoints. Endpoint URLs and deliveries are admins' only."""

    serializer_class = s.EndpointSerializer
    queryset = WebhookEndpoint.objects.none()
    read_role = Role.ADMIN
    # Ids are integers: anything else is the API's 404, never a failed int() in a service.
    lookup_value_regex = r"[0-9]+"

    def get_base_queryset(self) -> QuerySet[WebhookEndpoint]:
        return selectors.endpoint_list(organization=self.ctx.organization)

    @extend_schema(
        responses={201: s.EndpointCreatedSerializer},
        description=(
            "Create an endpoint. The answer carries its signing `secret` (`whsec_...`), shown "
            "this once. The URL must resolve to public addresses (`webhook_url_forbidden`)."
        ),
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = s.EndpointSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        endpoint, secret = services.endpoint_create(
            organization=self.ctx.organization, actor=self.ctx.user, **params.validated_data
        )
        data = {**s.EndpointSerializer(endpoint).data, "secret": secret}
        # The secret is answered once: no cache along the way may keep it.
        return Response(data, status=status.HTTP_201_CREATED, headers=NO_STORE)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = s.EndpointSerializer(data=request.data, partial=True)
        params.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(
            organization=self.ctx.organization,
            actor=self.ctx.user,
            endpoint_id=kwargs["pk"],
            **params.validated_data,
        )
        return Response(s.EndpointSerializer(endpoint).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.endpoint_delete(
            organization=self.ctx.organization, actor=self.ctx.user, endpoint_id=kwargs["pk"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateSecretView(OrgAPIView):
    """A new signing secret; the previous one keeps signing for the overlap (24 hours)."""

    @extend_schema(request=None, responses={200: s.SecretRotatedSerializer})
    def post(self, request: Request, org: str, pk: int) -> Response:
        secret, until = services.endpoint_rotate_secret(
            organization=self.ctx.organization, actor=self.ctx.user, endpoint_id=pk
        )
        return Response(
            {"secret": secret, "previous_valid_until": until.isoformat()}, headers=NO_STORE
        )


class EndpointDeliveriesViewSet(mixins.ListModelMixin, OrgGenericViewSet):
    """The endpoint's deliveries, newest first, each with its attempts."""

    serializer_class = s.DeliverySerializer
    queryset = WebhookDelivery.objects.none()
    read_role = Role.ADMIN

    def get_base_queryset(self) -> QuerySet[WebhookDelivery]:
        endpoint = found(
            selectors.endpoint_get(
                organization=self.ctx.organization, endpoint_id=self.kwargs["pk"]
            )
        )
        return selectors.delivery_list(organization=self.ctx.organization, endpoint_id=endpoint.pk)


class DeliveryRedeliverView(OrgAPIView):
    """Send a delivery again now (same ``webhook-id``)."""

    @extend_schema(request=None, responses={202: s.DeliverySerializer})
    def post(self, request: Request, org: str, pk: int) -> Response:
        delivery: WebhookDelivery = services.delivery_redeliver(
            organization=self.ctx.organization, actor=self.ctx.user, delivery_id=pk
        )
        return Response(s.DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
