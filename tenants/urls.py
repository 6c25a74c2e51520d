from django.urls import path

from tenants import views

org_urlpatterns = [
    path("members/", views.members, name="members"),
    path("members/invite/", views.member_invite, name="member_invite"),
    path("members/<int:pk>/role/", views.member_role, name="member_role"),
    path("members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path("invitations/<int:pk>/revoke/", views.invitation_revoke, name="invitation_revoke"),
    path("invitations/<int:pk>/resend/", views.invitation_resend, name="invitation_resend"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("settings/", views.organization_settings, name="organization_settings"),
    path("audit/", views.audit, name="audit"),
]

urlpatterns = [
    path("invitations/accept/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("switch/", views.organization_switch, name="organization_switch"),
]
