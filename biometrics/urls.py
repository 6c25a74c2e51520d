"""Organization-scoped biometrics pages, included under ``/o/<org>/``."""

from django.urls import path

from biometrics import views

org_urlpatterns = [
    path("subjects/", views.subjects, name="biometrics_subjects"),
    path("subjects/<int:pk>/", views.subject_detail, name="biometrics_subject"),
    path("subjects/<int:pk>/erase/", views.subject_erase, name="biometrics_subject_erase"),
    path(
        "subjects/<int:pk>/consents/<int:cid>/revoke/",
        views.consent_revoke,
        name="biometrics_consent_revoke",
    ),
    path("subjects/<int:pk>/enroll/", views.enroll, name="biometrics_enroll"),
    path("subjects/<int:pk>/verify/", views.verify, name="biometrics_verify"),
    path("enrollments/<int:pk>/", views.enrollment_detail, name="biometrics_enrollment"),
    path("verifications/<int:pk>/", views.verification_detail, name="biometrics_verification"),
    path("identify/", views.identify, name="biometrics_identify"),
    path(
        "identifications/<int:pk>/", views.identification_detail, name="biometrics_identification"
    ),
]

urlpatterns = org_urlpatterns
