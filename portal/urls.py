"""URL configuration. Organization-scoped routes:

* UI ``/o/<org>/...``, API ``/api/v1/orgs/<org>/...``, websockets ``/ws/orgs/<org>/...``
  (portal/routing.py). Each app contributes ``org_urlpatterns`` (UI) and ``api/urls.py``.
"""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from kernel.errors import json_not_found
from portal import health, views
from portal.api.views import RealtimeTicketView
from tenants.forms import RateLimitedAuthenticationForm
from tenants.urls import org_urlpatterns as tenants_org_urls

org_urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.dashboard, name="dashboard"),
    *tenants_org_urls,
    path("", include("biometrics.urls")),
    path("", include("ledger.urls")),
]

api_v1: list[URLPattern | URLResolver] = [
    path("", include("tenants.api.urls")),
    path("", include("biometrics.api.urls")),
    path("", include("ledger.api.urls")),
    path("orgs/<slug:org>/realtime/ticket/", RealtimeTicketView.as_view(), name="realtime-ticket"),
    path("", include("payments.api.urls")),
    path("", include("webhooks.api.urls")),
    path("<path:rest>", json_not_found),  # JSON 404 for unknown API paths
]

# Django's refusals of a request (SuspiciousOperation: too many fields, NUL bytes, ...): JSON in
# the error shape under /api/, the 400 page elsewhere.
handler400 = "kernel.errors.bad_request"

urlpatterns = [
    path("", views.home, name="home"),
    # Browsers ask for /favicon.ico on pages that name no icon (JSON, the API docs).
    path("favicon.ico", views.favicon, name="favicon"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path(
        "login/",
        auth_views.LoginView.as_view(authentication_form=RateLimitedAuthenticationForm),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("password/reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/done/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("", include("tenants.urls")),
    path("o/<slug:org>/", include(org_urlpatterns)),
    path("platform/organizations/", views.platform_organizations, name="platform_organizations"),
    path(
        "platform/organizations/<slug:slug>/<str:operation>/",
        views.platform_organization_status,
        name="platform_organization_status",
    ),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: the Content-Security-Policy allows no
    # inline script. GET only: its HTML renderer has no template for DRF's OPTIONS metadata (a
    # 500).
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", http_method_names=["get", "head"]),
        name="swagger-ui",
    ),
    path("api/v1/", include(api_v1)),
]
