"""Biometrics REST API. Thin: parse, call one service or selector, render; errors are
DomainErrors that the one exception handler renders.

Verification and identification answer synchronously when a worker finishes within
``BIOMETRICS_SYNC_TIMEOUT`` seconds, else 202 with a status URL; enrollment is always 202.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from biometrics import selectors, services, tasks
from biometrics.api import serializers as s
from biometrics.errors import IMAGE_TOO_LARGE, SUBJECT_ERASED, BiometricError
from biometrics.images import MAX_UPLOAD_BYTES
from biometrics.models import IdentificationAttempt, MatchStatus, Subject, VerificationAttempt
from kernel.http import client_ip
from kernel.parsers import MultiPartParser
from tenants.access import OrgContext
from tenants.api.base import OrgAPIView, OrgGenericViewSet, found
from tenants.roles import Role

# Photo uploads are the only bodies that are not JSON (the default): multipart, nothing else.
_UPLOAD_PARSERS = [MultiPartParser]
_ACCEPTED = OpenApiResponse(s.JobAcceptedSerializer, description="Still running: poll status_url.")
_ENGINE_DOWN = OpenApiResponse(description="engine_unavailable: the face engine is not running.")


def _subject(ctx: OrgContext, pk: int | str, *, allow_erased: bool = False) -> Subject:
    """The organization's subject: 404 ``not_found`` if it has none, 410 ``subject_erased`` once
    erased (unless ``allow_erased``: its consents and enrollments stay readable)."""
    subject = found(selectors.subject_get(organization=ctx.organization, subject_id=pk))
    if subject.is_erased and not allow_erased:
        erased_at = subject.erased_at.isoformat() if subject.erased_at else None
        raise BiometricError(SUBJECT_ERASED, details={"erased_at": erased_at})
    return subject


def _read(upload: UploadedFile, position: int | None = None) -> bytes:
    # Refuse by declared size before reading anything into memory.
    if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
        details: dict[str, Any] = {"bytes": upload.size, "max_bytes": MAX_UPLOAD_BYTES}
        if position is not None:
            details["image"] = position
        raise BiometricError(IMAGE_TOO_LARGE, details=details)
    data: bytes = upload.read()
    return data


def _accepted(job_id: int, job_status: str, url: str) -> Response:
    return Response(
        {"id": job_id, "status": job_status, "status_url": url}, status=status.HTTP_202_ACCEPTED
    )


def _answer_when_done(
    *,
    task: Any,
    fetch: Callable[..., Any],
    body: Callable[[Any], dict[str, Any]],
    status_route: str,
    organization: Any,
    org: str,
    attempt_id: int,
) -> Response:
    """Hand a committed attempt to the biometrics queue and answer synchronously: the result
    (200), the job's error, or 202 with a status URL when the worker is slower than
    BIOMETRICS_SYNC_TIMEOUT. The service committed first, so the worker sees the attempt."""
    tasks.dispatch_and_wait(
        task, attempt_id, organization.pk, timeout=settings.BIOMETRICS_SYNC_TIMEOUT
    )
    attempt = found(fetch(organization=organization, attempt_id=attempt_id))
    if attempt.status == MatchStatus.PENDING:
        url = reverse(status_route, kwargs={"org": org, "pk": attempt.pk})
        return _accepted(attempt.pk, attempt.status, url)
    if attempt.status == MatchStatus.FAILED:
        raise BiometricError(attempt.error_code)
    return Response(body(attempt))


def _verification_body(attempt: VerificationAttempt) -> dict[str, Any]:
    return {
        "id": attempt.pk,
        "status": attempt.status,
        "verified": attempt.verified,
        "distance": attempt.distance,
        "threshold": attempt.threshold,
        "model": attempt.model,
        "error": s.attempt_error(attempt),
    }


def _identification_body(attempt: IdentificationAttempt) -> dict[str, Any]:
    return {
        "id": attempt.pk,
        "status": attempt.status,
        "candidates": selectors.candidates_display(
            organization=attempt.organization, candidates=attempt.candidates
        ),
        "threshold": attempt.threshold,
        "model": attempt.model,
        "error": s.attempt_error(attempt),
    }


# --- subjects -----------------------------------------------------------------------------------
class SubjectViewSet(mixins.ListModelMixin, OrgGenericViewSet):
    """People the organization enrolls. Operators create, viewers read, admins erase."""

    serializer_class = s.SubjectSerializer
    queryset = Subject.objects.all()
    action_roles = {
        "list": Role.VIEWER,
        "retrieve": Role.VIEWER,
        "create": Role.OPERATOR,
        "destroy": Role.ADMIN,
    }
    ordering_fields = ["created_at", "external_ref", "last_used_at"]

    def get_base_queryset(self) -> QuerySet[Subject]:
        return selectors.subject_list(
            organization=self.ctx.organization, query=self.request.query_params.get("q", "")
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, description="Search reference or name.")
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: s.SubjectSerializer})
    def retrieve(self, request: Request, org: str, pk: str) -> Response:
        """A subject; 410 ``subject_erased`` once erased."""
        subject = _subject(self.ctx, pk)
        return Response(s.SubjectSerializer(subject).data)

    @extend_schema(request=s.SubjectInputSerializer, responses={201: s.SubjectSerializer})
    def create(self, request: Request, org: str) -> Response:
        data = s.SubjectInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subject = services.subject_create(
            organization=self.ctx.organization,
            actor=self.ctx.user,
            ip=client_ip(request),
            **data.validated_data,
        )
        return Response(s.SubjectSerializer(subject).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, org: str, pk: str) -> Response:
        """Erase the subject (crypto-shredding of its templates); admins only."""
        subject = _subject(self.ctx, pk)
        services.subject_erase(
            organization=self.ctx.organization,
            subject=subject,
            actor=self.ctx.user,
            ip=client_ip(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- consents -----------------------------------------------------------------------------------
class SubjectConsentsView(OrgAPIView):
    """A subject's consents: viewers list them, operators record a new one."""

    write_role = Role.OPERATOR

    @extend_schema(responses=s.ConsentSerializer(many=True))
    def get(self, request: Request, org: str, pk: int) -> Response:
        subject = _subject(self.ctx, pk, allow_erased=True)
        consents = selectors.consent_list(organization=self.ctx.organization, subject=subject)
        return Response(s.ConsentSerializer(consents, many=True).data)

    @extend_schema(request=s.ConsentInputSerializer, responses={201: s.ConsentSerializer})
    def post(self, request: Request, org: str, pk: int) -> Response:
        subject = _subject(self.ctx, pk)
        data = s.ConsentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        consent = services.consent_grant(
            organization=self.ctx.organization,
            subject=subject,
            granted_by=self.ctx.user,
            ip=client_ip(request),
            **data.validated_data,
        )
        return Response(s.ConsentSerializer(consent).data, status=status.HTTP_201_CREATED)


class ConsentRevokeView(OrgAPIView):
    """Revoke a consent: use for that purpose stops at once (idempotent)."""

    write_role = Role.OPERATOR

    @extend_schema(request=None, responses=s.ConsentSerializer)
    def post(self, request: Request, org: str, pk: int, cid: int) -> Response:
        subject = _subject(self.ctx, pk, allow_erased=True)
        consent = found(
            selectors.consent_get(
                organization=self.ctx.organization, subject=subject, consent_id=cid
            )
        )
        consent = services.consent_revoke(
            organization=self.ctx.organization,
            consent=consent,
            actor=self.ctx.user,
            ip=client_ip(request),
        )
        return Response(s.ConsentSerializer(consent).data)


# --- enrollment ---------------------------------------------------------------------------------
class SubjectEnrollmentsView(OrgAPIView):
    """Start an enrollment (operators; 202 with a status URL) or list a subject's enrollments."""

    write_role = Role.OPERATOR
    parser_classes = _UPLOAD_PARSERS

    @extend_schema(responses=s.EnrollmentSerializer(many=True))
    def get(self, request: Request, org: str, pk: int) -> Response:
        subject = _subject(self.ctx, pk, allow_erased=True)
        enrollments = selectors.enrollment_list(organization=self.ctx.organization, subject=subject)
        return Response(s.EnrollmentSerializer(enrollments, many=True).data)

    @extend_schema(
        request={"multipart/form-data": s.EnrollmentInputSerializer},
        responses={202: s.JobAcceptedSerializer},
    )
    def post(self, request: Request, org: str, pk: int) -> Response:
        subject = _subject(self.ctx, pk)
        data = s.EnrollmentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        images = [_read(f, i) for i, f in enumerate(data.validated_data["images"])]
        enrollment = services.enrollment_create(
            organization=self.ctx.organization,
            subject=subject,
            images=images,
            actor=self.ctx.user,
            ip=client_ip(request),
            allow_duplicates=data.validated_data["allow_duplicates"],
        )
        enrollment.refresh_from_db(fields=["status"])  # eager mode may have finished it
        url = reverse("biometrics-api-enrollment", kwargs={"org": org, "pk": enrollment.pk})
        return _accepted(enrollment.pk, enrollment.status, url)


class EnrollmentDetailView(OrgAPIView):
    """An enrollment's status, progress, error and duplicates."""

    @extend_schema(responses=s.EnrollmentSerializer)
    def get(self, request: Request, org: str, pk: int) -> Response:
        enrollment = found(
            selectors.enrollment_get(organization=self.ctx.organization, enrollment_id=pk)
        )
        return Response(s.EnrollmentSerializer(enrollment).data)


# --- verification and identification -------------------------------------------------------------
class VerifyView(OrgAPIView):
    """1:1: does the photo show this subject?"""

    write_role = Role.OPERATOR
    parser_classes = _UPLOAD_PARSERS

    @extend_schema(
        request={"multipart/form-data": s.ImageInputSerializer},
        responses={200: s.VerificationResultSerializer, 202: _ACCEPTED, 503: _ENGINE_DOWN},
    )
    def post(self, request: Request, org: str, pk: int) -> Response:
        organization = self.ctx.organization
        subject = _subject(self.ctx, pk)
        data = s.ImageInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        attempt = services.verification_request(
            organization=organization,
            subject=subject,
            actor=self.ctx.user,
            image=_read(data.validated_data["image"]),
        )
        return _answer_when_done(
            task=tasks.verification_process_task,
            fetch=selectors.verification_get,
            body=_verification_body,
            status_route="biometrics-api-verification",
            organization=organization,
            org=org,
            attempt_id=attempt.pk,
        )


class VerificationDetailView(OrgAPIView):
    """The result of a verification that answered 202."""

    @extend_schema(responses=s.VerificationResultSerializer)
    def get(self, request: Request, org: str, pk: int) -> Response:
        attempt = found(
            selectors.verification_get(organization=self.ctx.organization, attempt_id=pk)
        )
        return Response(_verification_body(attempt))


class IdentifyView(OrgAPIView):
    """1:N: who in the organization's gallery does the photo show? Nearest first, within the
    threshold, only subjects consenting to identification."""

    write_role = Role.OPERATOR
    parser_classes = _UPLOAD_PARSERS

    @extend_schema(
        request={"multipart/form-data": s.IdentifyInputSerializer},
        responses={200: s.IdentificationResultSerializer, 202: _ACCEPTED, 503: _ENGINE_DOWN},
    )
    def post(self, request: Request, org: str) -> Response:
        organization = self.ctx.organization
        data = s.IdentifyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        attempt = services.identification_request(
            organization=organization,
            actor=self.ctx.user,
            top_k=data.validated_data["top_k"],
            image=_read(data.validated_data["image"]),
        )
        return _answer_when_done(
            task=tasks.identification_process_task,
            fetch=selectors.identification_get,
            body=_identification_body,
            status_route="biometrics-api-identification",
            organization=organization,
            org=org,
            attempt_id=attempt.pk,
        )


class IdentificationDetailView(OrgAPIView):
    """The result of an identification that answered 202."""

    @extend_schema(responses=s.IdentificationResultSerializer)
    def get(self, request: Request, org: str, pk: int) -> Response:
        attempt = found(
            selectors.identification_get(organization=self.ctx.organization, attempt_id=pk)
        )
        return Response(_identification_body(attempt))


# --- settings -----------------------------------------------------------------------------------
class BiometricSettingsView(OrgAPIView):
    """The organization's threshold override (clamped to safe bounds) and retention period."""

    write_role = Role.ADMIN

    def _body(self) -> dict[str, Any]:
        row = selectors.settings_for(organization=self.ctx.organization)
        # Not a model field: the threshold in force, computed for the serializer to show.
        row.effective_threshold = selectors.threshold_for(  # type: ignore[attr-defined]
            organization=self.ctx.organization
        )
        return dict(s.BiometricSettingsSerializer(row).data)

    @extend_schema(responses=s.BiometricSettingsSerializer)
    def get(self, request: Request, org: str) -> Response:
        return Response(self._body())

    @extend_schema(request=s.BiometricSettingsSerializer, responses=s.BiometricSettingsSerializer)
    def patch(self, request: Request, org: str) -> Response:
        current = selectors.settings_for(organization=self.ctx.organization)
        data = s.BiometricSettingsSerializer(current, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = {
            "threshold": current.threshold,
            "retention_days": current.retention_days,
            **data.validated_data,
        }
        services.settings_update(
            organization=self.ctx.organization, actor=self.ctx.user, ip=client_ip(request), **values
        )
        return Response(self._body())
