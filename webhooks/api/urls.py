"""Webhooks API routes (included under /api/v1/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from webhooks.api import views

_ORG = r"orgs/(?P<org>[-a-zA-Z0-9_]+)/"
router = SimpleRouter()
router.register(_ORG + "webhooks/endpoints", views.EndpointViewSet, basename="webhooks-endpoint")

urlpatterns = [
    path(
        "orgs/<slug:org>/webhooks/endpoints/<int:pk>/rotate-secret/",
        views.EndpointRotateSecretView.as_view(),
        name="webhooks-api-endpoint-rotate-secret",
    ),
    path(
        "orgs/<slug:org>/webhooks/endpoints/<int:pk>/deliveries/",
        views.EndpointDeliveriesViewSet.as_view({"get": "list"}),
        name="webhooks-api-endpoint-deliveries",
    ),
    path(
        "orgs/<slug:org>/webhooks/deliveries/<int:pk>/redeliver/",
        views.DeliveryRedeliverView.as_view(),
        name="webhooks-api-delivery-redeliver",
    ),
    *router.urls,
]
