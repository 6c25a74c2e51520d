"""Ledger explorer REST API. Thin: parse, call one selector or service, render.

Alliance-wide (any authenticated user): blocks, transactions by hash, validators' health.
Organization-scoped (``/orgs/<org>/ledger/...``): the organization's own transactions, outbox,
accounts and keys; a key rotation (owners).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kernel.patterns import HEX_DIGEST_ANY_CASE, anchored
from ledger import selectors, services
from ledger.api import serializers as s
from ledger.errors import INVALID_HASH, LedgerError
from ledger.models import (
    LedgerOutbox,
    MirrorAccount,
    MirrorBlock,
    MirrorTransaction,
    OrganizationKey,
)
from tenants.api.base import OrgAPIView, OrgGenericViewSet
from tenants.errors import NotFound
from tenants.roles import Role


def _not_found(what: str) -> NotFound:
    return NotFound(f"No such {what}.")


# --- alliance-wide ---------------------------------------------------------------------------


class BlockListView(generics.ListAPIView[MirrorBlock]):
    """Committed blocks, newest first (height, time, proposer, transaction count, signers)."""

    serializer_class = s.BlockSerializer
    queryset = MirrorBlock.objects.none()
    ordering_fields = ["height"]

    def get_queryset(self) -> QuerySet[MirrorBlock]:
        return selectors.block_list()


class BlockDetailView(APIView):
    """One block with its certificate and transactions."""

    @extend_schema(responses={200: s.BlockDetailSerializer})
    def get(self, request: Request, height: int) -> Response:
        block = selectors.block_get(height=height) if height < 2**63 else None
        if block is None:
            raise _not_found("block")
        return Response(s.BlockDetailSerializer(block).data)


class TransactionDetailView(APIView):
    """A mirrored transaction by its hash (lookup)."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "tx_hash", OpenApiTypes.STR, OpenApiParameter.PATH,
                pattern=anchored(HEX_DIGEST_ANY_CASE),
                description="SHA-256 of the encoded transaction.",
            )
        ],
        responses={200: s.TransactionSerializer},
    )  # fmt: skip
    def get(self, request: Request, tx_hash: str) -> Response:
        if not HEX_DIGEST_ANY_CASE.fullmatch(tx_hash):
            raise LedgerError(INVALID_HASH)
        tx = selectors.transaction_get(tx_hash=tx_hash)
        if tx is None:
            raise _not_found("transaction")
        return Response(s.TransactionSerializer(tx).data)


class ValidatorListView(APIView):
    """Each validator node's health (from its /v1/status, cached a few seconds)."""

    @extend_schema(responses={200: s.ValidatorHealthSerializer(many=True)})
    def get(self, request: Request) -> Response:
        rows = [{**r, "healthy": "error" not in r} for r in services.validator_health()]
        return Response(s.ValidatorHealthSerializer(rows, many=True).data)


# --- organization-scoped ---------------------------------------------------------------------


class OrgTransactionViewSet(mixins.ListModelMixin, OrgGenericViewSet):
    """The organization's own mirrored transactions."""

    serializer_class = s.TransactionSerializer
    queryset = MirrorTransaction.objects.all()

    def get_base_queryset(self) -> QuerySet[MirrorTransaction]:
        return selectors.transaction_list_for_organization(organization=self.ctx.organization)


class TransactionReceiptView(OrgAPIView):
    """A receipt of one of the organization's committed transactions, verifiable offline with
    ``manage.py verify_receipt`` (docs/ledger.md, "Receipts"). Only the sender organization gets
    it; any other caller gets 404."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "tx_hash", OpenApiTypes.STR, OpenApiParameter.PATH,
                pattern=anchored(HEX_DIGEST_ANY_CASE),
                description="SHA-256 of the encoded transaction.",
            )
        ],
        responses={200: OpenApiTypes.OBJECT},
    )  # fmt: skip
    def get(self, request: Request, org: str, tx_hash: str) -> Response:
        if not HEX_DIGEST_ANY_CASE.fullmatch(tx_hash):
            raise LedgerError(INVALID_HASH)
        receipt = services.receipt_for_transaction(
            organization=self.ctx.organization, tx_hash=tx_hash
        )
        if receipt is None:
            raise _not_found("transaction")
        return Response(receipt.to_json())


class OutboxViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgGenericViewSet):
    """The organization's outbox: what it queued and where each transaction stands."""

    serializer_class = s.OutboxSerializer
    queryset = LedgerOutbox.objects.all()
    ordering_fields = ["id", "created_at"]

    def get_base_queryset(self) -> QuerySet[LedgerOutbox]:
        return selectors.outbox_list(organization=self.ctx.organization)


class AccountViewSet(mixins.ListModelMixin, OrgGenericViewSet):
    """The organization's ledger accounts and balances (as of the mirror's height)."""

    serializer_class = s.AccountSerializer
    queryset = MirrorAccount.objects.all()

    def get_base_queryset(self) -> QuerySet[MirrorAccount]:
        return selectors.account_list(organization=self.ctx.organization)


class KeyViewSet(mixins.ListModelMixin, OrgGenericViewSet):
    """The organization's signing keys (public halves only). Admins read them."""

    serializer_class = s.OrganizationKeySerializer
    queryset = OrganizationKey.objects.all()
    read_role = Role.ADMIN

    def get_base_queryset(self) -> QuerySet[OrganizationKey]:
        return OrganizationKey.objects.filter(organization=self.ctx.organization)


class KeyRotateView(OrgAPIView):
    """Start a key rotation (owners): a new key is generated and ``org_key_rotate`` queued; it
    needs approvals of more than two thirds of the validator organizations before it is sent."""

    write_role = Role.OWNER

    @extend_schema(request=None, responses={202: s.KeyRotationSerializer})
    def post(self, request: Request, org: str) -> Response:
        row = services.organization_key_rotate(organization=self.ctx.organization)
        body: dict[str, Any] = {
            "outbox": row,
            "message": "Rotation queued; governance approvals must be collected.",
        }
        return Response(s.KeyRotationSerializer(body).data, status=202)


class OutboxApprovalView(OrgAPIView):
    """Add a validator organization's approval to a governance transaction awaiting approvals
    (admins). With enough approvals it is signed and sent by the worker."""

    write_role = Role.ADMIN

    @extend_schema(request=s.ApprovalInputSerializer, responses={200: s.OutboxSerializer})
    def post(self, request: Request, org: str, pk: int) -> Response:
        data = s.ApprovalInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = selectors.outbox_list(organization=self.ctx.organization).filter(pk=pk).first()
        if row is None:
            raise _not_found("outbox row")
        row = services.outbox_approval_add(outbox=row, **data.validated_data)
        return Response(s.OutboxSerializer(row).data)
