from django.urls import path
from rest_framework.routers import SimpleRouter

from tenants.api import views

router = SimpleRouter()
router.register(r"orgs/(?P<org>[-a-zA-Z0-9_]+)/members", views.MemberViewSet, basename="member")
router.register(
    r"orgs/(?P<org>[-a-zA-Z0-9_]+)/invitations", views.InvitationViewSet, basename="invitation"
)
router.register(r"orgs/(?P<org>[-a-zA-Z0-9_]+)/tokens", views.TokenViewSet, basename="token")
router.register(
    r"orgs/(?P<org>[-a-zA-Z0-9_]+)/audit-events", views.AuditEventViewSet, basename="audit-event"
)

urlpatterns = [
    path("orgs/", views.MyOrganizationsView.as_view(), name="my-organizations"),
    path("orgs/<slug:org>/", views.OrganizationView.as_view(), name="organization-detail"),
    path("admin/orgs/", views.AdminOrganizationListView.as_view(), name="admin-organizations"),
    path(
        "admin/orgs/<slug:slug>/",
        views.AdminOrganizationDetailView.as_view(),
        name="admin-organization-detail",
    ),
    path(
        "admin/orgs/<slug:slug>/members/",
        views.AdminMembershipView.as_view(),
        name="admin-organization-members",
    ),
    path(
        "admin/orgs/<slug:slug>/<str:operation>/",
        views.AdminOrganizationStatusView.as_view(),
        name="admin-organization-status",
    ),
    *router.urls,
]
