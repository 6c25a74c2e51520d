"""The project layer's API: realtime tickets."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from portal.services import TICKET_SECONDS, realtime_ticket_create
from tenants.api.base import OrgAPIView
from tenants.roles import Role


class RealtimeTicketSerializer(serializers.Serializer[Any]):
    ticket = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds the ticket stays valid.")


class RealtimeTicketView(OrgAPIView):
    """A single-use ticket that opens ``/ws/orgs/{org}/events/?ticket=...`` within 60 seconds,
    so that neither a token nor a cookie has to travel in the socket's URL. Any member."""

    write_role = Role.VIEWER

    @extend_schema(
        request=None, responses={201: RealtimeTicketSerializer}, operation_id="realtime_ticket"
    )
    def post(self, request: Request, org: str) -> Response:
        session = getattr(request, "session", None)
        ticket = realtime_ticket_create(ctx=self.ctx, session=session)
        data = {"ticket": ticket, "expires_in": TICKET_SECONDS}
        return Response(RealtimeTicketSerializer(data).data, status=status.HTTP_201_CREATED)
