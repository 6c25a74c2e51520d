from django.urls import path
from rest_framework.routers import SimpleRouter

from biometrics.api import views

router = SimpleRouter()
router.register(
    r"orgs/(?P<org>[-a-zA-Z0-9_]+)/subjects", views.SubjectViewSet, basename="biometrics-subject"
)

_ORG = "orgs/<slug:org>/"
urlpatterns = [
    path(
        _ORG + "subjects/<int:pk>/consents/",
        views.SubjectConsentsView.as_view(),
        name="biometrics-api-consents",
    ),
    path(
        _ORG + "subjects/<int:pk>/consents/<int:cid>/revoke/",
        views.ConsentRevokeView.as_view(),
        name="biometrics-api-consent-revoke",
    ),
    path(
        _ORG + "subjects/<int:pk>/enrollments/",
        views.SubjectEnrollmentsView.as_view(),
        name="biometrics-api-enrollments",
    ),
    path(
        _ORG + "subjects/<int:pk>/verify/", views.VerifyView.as_view(), name="biometrics-api-verify"
    ),
    path(
        _ORG + "enrollments/<int:pk>/",
        views.EnrollmentDetailView.as_view(),
        name="biometrics-api-enrollment",
    ),
    path(
        _ORG + "verifications/<int:pk>/",
        views.VerificationDetailView.as_view(),
        name="biometrics-api-verification",
    ),
    path(_ORG + "identify/", views.IdentifyView.as_view(), name="biometrics-api-identify"),
    path(
        _ORG + "identifications/<int:pk>/",
        views.IdentificationDetailView.as_view(),
        name="biometrics-api-identification",
    ),
    path(
        _ORG + "biometrics/settings/",
        views.BiometricSettingsView.as_view(),
        name="biometrics-api-settings",
    ),
    *router.urls,
]
