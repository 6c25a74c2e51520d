"""Payments API routes (included under /api/v1/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from payments.api import views

_ORG = r"orgs/(?P<org>[-a-zA-Z0-9_]+)/"
router = SimpleRouter()
router.register(_ORG + "accounts", views.AccountViewSet, basename="payments-account")
router.register(_ORG + "payments", views.PaymentViewSet, basename="payments-payment")
router.register(_ORG + "holds", views.HoldViewSet, basename="payments-hold")

urlpatterns = [
    path(
        "directory/accounts/",
        views.DirectoryAccountsView.as_view(),
        name="payments-api-directory",
    ),
    path(
        "orgs/<slug:org>/payments/<int:pk>/approve/",
        views.PaymentApproveView.as_view(),
        name="payments-api-payment-approve",
    ),
    path(
        "orgs/<slug:org>/payments/<int:pk>/cancel/",
        views.PaymentCancelView.as_view(),
        name="payments-api-payment-cancel",
    ),
    path(
        "orgs/<slug:org>/payments/<int:pk>/receipt/",
        views.PaymentReceiptView.as_view(),
        name="payments-api-payment-receipt",
    ),
    path(
        # Ledger account ids hold ':' and '.', which <slug:> refuses.
        "orgs/<slug:org>/accounts/<str:account_id>/statement/",
        views.AccountStatementView.as_view(),
        name="payments-api-account-statement",
    ),
    path(
        "orgs/<slug:org>/approval-policy/",
        views.ApprovalPolicyView.as_view(),
        name="payments-api-approval-policy",
    ),
    path(
        "orgs/<slug:org>/holds/<int:pk>/capture/",
        views.HoldCaptureView.as_view(),
        name="payments-api-hold-capture",
    ),
    path(
        "orgs/<slug:org>/holds/<int:pk>/void/",
        views.HoldVoidView.as_view(),
        name="payments-api-hold-void",
    ),
    *router.urls,
]
