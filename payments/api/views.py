"""Payments REST API. Thin: parse, call one service or selector, render; errors are
DomainErrors that the one exception handler renders.

Organization-scoped (``/orgs/<org>/...``): accounts and their statements, payments (payer and
payee) and their receipts, approve, cancel, the approval policy, holds (payer and payee) with
capture and void. Alliance-wide: the directory of open accounts.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kernel.pagination import PagePagination
from payments import selectors, services
from payments.api import serializers as s
from payments.api.renderers import StatementCSVRenderer, statement_csv_rows
from payments.models import Account, Hold, Payment
from tenants.api.base import OrgAPIView, OrgGenericViewSet, found
from tenants.roles import Role

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description=(
        "A unique key per payment (1 to 255 characters), kept at least 24 hours: the same key "
        "with the same body answers with the same payment; with another body, 409 "
        "idempotency_key_reused."
    ),
)


class AccountViewSet(mixins.ListModelMixin, OrgGenericViewSet):
    """The organization's accounts with their balances; admins open new ones."""

    serializer_class = s.PaymentAccountSerializer
    queryset = Account.objects.none()
    action_roles = {"create": Role.ADMIN}

    def get_base_queryset(self) -> QuerySet[Account]:
        return selectors.account_list(organization=self.ctx.organization)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Ledger accounts the organization owns but the portal did not open (genesis) join here.
        services.accounts_adopt(organization=self.ctx.organization)
        page = self.paginate_queryset(self.get_queryset())
        accounts = list(page if page is not None else self.get_queryset())
        balances = selectors.account_balances(
            ledger_account_ids=[a.ledger_account_id for a in accounts]
        )
        data = s.PaymentAccountSerializer(accounts, many=True, context={"balances": balances}).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    @extend_schema(
        request=s.PaymentAccountOpenSerializer,
        responses={202: s.PaymentAccountSerializer},
        description="Open an account: 202 with status `opening`; `open` once the ledger commits.",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = s.PaymentAccountOpenSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        account = services.account_open(
            organization=self.ctx.organization, actor=self.ctx.user, **params.validated_data
        )
        return Response(s.PaymentAccountSerializer(account).data, status=status.HTTP_202_ACCEPTED)


class AccountStatementView(OrgAPIView):
    """The account's committed ledger movements with the running balance, as JSON pages or as
    one CSV file (``?format=csv``); only for the account's own organization."""

    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, StatementCSVRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "account_id", OpenApiTypes.STR, OpenApiParameter.PATH,
                description="The ledger account id.",
            ),
            OpenApiParameter("from", OpenApiTypes.DATE, description="First UTC day (included)."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last UTC day (included)."),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={200: s.StatementPageSerializer},
        description=(
            "Movements in ledger order. `?format=csv` answers `text/csv` instead (every entry "
            "in the range, a header row, amounts as decimal strings and minor units)."
        ),
    )  # fmt: skip
    def get(self, request: Request, org: str, account_id: str) -> Response:
        account = found(
            selectors.account_get(organization=self.ctx.organization, ledger_account_id=account_id)
        )
        query = s.StatementQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        date_from, date_to = query.validated_data.get("from"), query.validated_data.get("to")
        entries = selectors.statement_entries(
            organization=self.ctx.organization, account=account, date_from=date_from,
            date_to=date_to,
        )  # fmt: skip
        if isinstance(request.accepted_renderer, StatementCSVRenderer):
            name = "statement-{}-{}-{}.csv".format(
                account.ledger_account_id, date_from or "start", date_to or "end"
            )
            return Response(
                statement_csv_rows(entries, account.currency),
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        paginator = PagePagination()
        # A list pages like a queryset (Django's Paginator takes any sequence).
        page: list[Any] | None = paginator.paginate_queryset(
            entries,  # type: ignore[arg-type]
            request,
            view=self,
        )
        data = s.StatementEntrySerializer(page, many=True).data
        return paginator.get_paginated_response(data)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        # CSV is only for statement rows: an error (the one error shape) or anything else, such
        # as an OPTIONS description, is JSON even when CSV was asked for.
        renderer: BaseRenderer | None = getattr(request, "accepted_renderer", None)
        rows = response.status_code < 400 and isinstance(getattr(response, "data", None), list)
        if isinstance(renderer, StatementCSVRenderer) and not rows:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class DirectoryAccountsView(APIView):
    """Every organization's open accounts (no balances): whom a payment can go to."""

    @extend_schema(responses={200: s.DirectoryAccountSerializer(many=True)})
    def get(self, request: Request) -> Response:
        entries = selectors.directory_accounts()
        return Response(s.DirectoryAccountSerializer(entries, many=True).data)


class PaymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgGenericViewSet):
    """Payments the organization made or received; members and above pay."""

    serializer_class = s.PaymentSerializer
    queryset = Payment.objects.none()
    action_roles = {"create": Role.MEMBER}

    def get_base_queryset(self) -> QuerySet[Payment]:
        query = s.DirectionQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.payment_list(
            organization=self.ctx.organization, direction=query.validated_data.get("direction")
        )

    def get_queryset(self) -> QuerySet[Any]:
        # Not narrowed to ``organization`` by the base class: a payment is also the payee's.
        # The selector takes the organization and admits exactly the payer and the payee.
        if getattr(self, "swagger_fake_view", False):
            return self.get_base_queryset_for_schema()
        return self.get_base_queryset()

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        if hasattr(self, "ctx"):
            context["organization"] = self.ctx.organization
        return context

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "direction", OpenApiTypes.STR, enum=["incoming", "outgoing"],
                description="Only payments received, or only payments made (default: both).",
            )
        ]
    )  # fmt: skip
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payment = found(
            selectors.payment_get(organization=self.ctx.organization, payment_id=kwargs["pk"])
        )
        return Response(self.get_serializer(payment).data)

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY],
        request=s.PaymentCreateSerializer,
        responses={202: s.PaymentSerializer},
        description=(
            "Create a payment: `pending_approval` when the maker is below admin or the amount is "
            "above the currency's threshold, else `queued` on the ledger. A replay answers with "
            "the same payment and status code."
        ),
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = s.PaymentCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        created = services.payment_create(
            organization=self.ctx.organization,
            actor=self.ctx.user,
            role=self.ctx.role,
            idempotency_key=request.headers.get("Idempotency-Key"),
            **params.validated_data,
        )
        return Response(self.get_serializer(created.payment).data, status=created.status_code)


class PaymentApproveView(OrgAPIView):
    """The checker approves a payment waiting for approval (admin or owner, never the maker)."""

    write_role = Role.ADMIN

    @extend_schema(request=None, responses={200: s.PaymentSerializer})
    def post(self, request: Request, org: str, pk: int) -> Response:
        payment = services.payment_approve(
            organization=self.ctx.organization, actor=self.ctx.user, role=self.ctx.role,
            payment_id=pk,
        )  # fmt: skip
        return Response(
            s.PaymentSerializer(payment, context={"organization": payment.organization}).data
        )


class PaymentCancelView(OrgAPIView):
    """Cancel a payment before it is sent to the ledger (its maker or an admin)."""

    write_role = Role.MEMBER

    @extend_schema(request=None, responses={200: s.PaymentSerializer})
    def post(self, request: Request, org: str, pk: int) -> Response:
        payment = services.payment_cancel(
            organization=self.ctx.organization, actor=self.ctx.user, role=self.ctx.role,
            payment_id=pk,
        )  # fmt: skip
        return Response(
            s.PaymentSerializer(payment, context={"organization": payment.organization}).data
        )


class PaymentReceiptView(OrgAPIView):
    """The offline-verifiable ledger receipt of a settled payment (``manage.py verify_receipt``),
    for the payer's and the payee's members; 409 ``not_settled`` before settlement."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, org: str, pk: int) -> Response:
        payment = found(selectors.payment_get(organization=self.ctx.organization, payment_id=pk))
        return Response(selectors.payment_receipt(payment=payment).to_json())


class ApprovalPolicyView(OrgAPIView):
    """Maker-checker thresholds per currency (minor units); admins change them."""

    @extend_schema(responses={200: s.ApprovalPolicySerializer})
    def get(self, request: Request, org: str) -> Response:
        thresholds = selectors.approval_thresholds(organization=self.ctx.organization)
        return Response({"thresholds": thresholds})

    @extend_schema(
        request=s.ApprovalPolicySerializer,
        responses={200: s.ApprovalPolicySerializer},
        description="Set the thresholds of the currencies given; the others keep theirs.",
    )
    def put(self, request: Request, org: str) -> Response:
        params = s.ApprovalPolicySerializer(data=request.data)
        params.is_valid(raise_exception=True)
        thresholds = services.approval_policy_set(
            organization=self.ctx.organization,
            actor=self.ctx.user,
            thresholds=params.validated_data["thresholds"],
        )
        return Response({"thresholds": thresholds})


class HoldViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgGenericViewSet):
    """Holds the organization placed or that reserve funds for it; admins place them."""

    serializer_class = s.HoldSerializer
    queryset = Hold.objects.none()
    action_roles = {"create": Role.ADMIN}

    def get_base_queryset(self) -> QuerySet[Hold]:
        query = s.DirectionQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.hold_list(
            organization=self.ctx.organization, direction=query.validated_data.get("direction")
        )

    def get_queryset(self) -> QuerySet[Any]:
        # As payments: the selector admits exactly the payer and the payee.
        if getattr(self, "swagger_fake_view", False):
            return self.get_base_queryset_for_schema()
        return self.get_base_queryset()

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        hold = found(selectors.hold_get(organization=self.ctx.organization, hold_pk=kwargs["pk"]))
        return Response(self.get_serializer(hold).data)

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY],
        request=s.HoldCreateSerializer,
        responses={202: s.HoldSerializer},
        description=(
            "Place a hold: `queued`, then `active` once the ledger reserved the funds (or "
            "`rejected`, e.g. `insufficient_funds`); then `captured`, `voided` or `expired`."
        ),
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = s.HoldCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        placed = services.hold_place(
            organization=self.ctx.organization,
            actor=self.ctx.user,
            role=self.ctx.role,
            idempotency_key=request.headers.get("Idempotency-Key"),
            **params.validated_data,
        )
        return Response(self.get_serializer(placed.hold).data, status=placed.status_code)


class HoldCaptureView(OrgAPIView):
    """Capture an active hold, in full or in part (the rest is released); admins and owners."""

    write_role = Role.ADMIN

    @extend_schema(request=s.HoldCaptureSerializer, responses={202: s.HoldSerializer})
    def post(self, request: Request, org: str, pk: int) -> Response:
        params = s.HoldCaptureSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        hold = services.hold_capture(
            organization=self.ctx.organization, actor=self.ctx.user, role=self.ctx.role,
            hold_pk=pk, amount=params.validated_data.get("amount"),
        )  # fmt: skip
        return Response(s.HoldSerializer(hold).data, status=status.HTTP_202_ACCEPTED)


class HoldVoidView(OrgAPIView):
    """Void an active hold (everything is released); admins and owners."""

    write_role = Role.ADMIN

    @extend_schema(request=None, responses={202: s.HoldSerializer})
    def post(self, request: Request, org: str, pk: int) -> Response:
        hold = services.hold_void(
            organization=self.ctx.organization, actor=self.ctx.user, role=self.ctx.role, hold_pk=pk
        )
        return Response(s.HoldSerializer(hold).data, status=status.HTTP_202_ACCEPTED)
