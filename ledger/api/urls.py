"""Ledger explorer API routes (included under /api/v1/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from ledger.api import views

_ORG = r"orgs/(?P<org>[-a-zA-Z0-9_]+)/ledger/"
router = SimpleRouter()
router.register(_ORG + "transactions", views.OrgTransactionViewSet, basename="ledger-org-tx")
router.register(_ORG + "outbox", views.OutboxViewSet, basename="ledger-outbox")
router.register(_ORG + "accounts", views.AccountViewSet, basename="ledger-account")
router.register(_ORG + "keys", views.KeyViewSet, basename="ledger-key")

urlpatterns = [
    path("ledger/blocks/", views.BlockListView.as_view(), name="ledger-api-blocks"),
    path("ledger/blocks/<int:height>/", views.BlockDetailView.as_view(), name="ledger-api-block"),
    path(
        "ledger/txs/<str:tx_hash>/",
        views.TransactionDetailView.as_view(),
        name="ledger-api-tx",
    ),
    path("ledger/validators/", views.ValidatorListView.as_view(), name="ledger-api-validators"),
    path(
        "orgs/<slug:org>/ledger/keys/rotate/",
        views.KeyRotateView.as_view(),
        name="ledger-api-key-rotate",
    ),
    path(
        "orgs/<slug:org>/ledger/transactions/<str:tx_hash>/receipt/",
        views.TransactionReceiptView.as_view(),
        name="ledger-api-tx-receipt",
    ),
    path(
        "orgs/<slug:org>/ledger/outbox/<int:pk>/approvals/",
        views.OutboxApprovalView.as_view(),
        name="ledger-api-outbox-approvals",
    ),
    *router.urls,
]
