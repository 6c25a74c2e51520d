"""Server-rendered biometrics UI. Thin: parse, call services or selectors, render.

Every page works without JavaScript; ``portal/static/biometrics/biometrics.js`` adds webcam
capture and the live progress bar.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.conf import settings
from django.contrib import messages
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from biometrics import selectors, services, tasks
from biometrics.errors import IMAGE_TOO_LARGE, BiometricError, error_message
from biometrics.forms import EnrollForm, IdentifyForm, ImageForm, SubjectForm
from biometrics.images import MAX_UPLOAD_BYTES
from biometrics.models import Enrollment, MatchStatus, Purpose, Subject
from kernel.http import client_ip
from tenants.access import OrgContext
from tenants.decorators import org_view
from tenants.errors import TenantError
from tenants.roles import Role

T = TypeVar("T")


def _read(upload: UploadedFile) -> bytes:
    if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
        raise BiometricError(IMAGE_TOO_LARGE)
    data: bytes = upload.read()
    return data


def _or_404(obj: T | None) -> T:
    if obj is None:
        raise Http404("Not found")
    return obj


def _submitted(request: HttpRequest) -> tuple[Any, Any]:
    """A form's data and files: bound on every POST, even one with no fields at all (an empty
    POST must show the form's errors, not a fresh form)."""
    if request.method == "POST":
        return request.POST, request.FILES
    return None, None


def _subject_or_404(ctx: OrgContext, pk: int) -> Subject:
    """The organization's subject, erased or not (callers decide what an erased one means)."""
    return _or_404(selectors.subject_get(organization=ctx.organization, subject_id=pk))


def _fail(request: HttpRequest, exc: BiometricError | TenantError) -> None:
    messages.error(
        request,
        error_message(exc.code) if isinstance(exc, BiometricError) else exc.message,
    )


# How a message names what a consent allowed (the choice labels carry "1:1" / "1:N" shorthand).
_PURPOSE_WORDS: dict[str, str] = {
    Purpose.ENROLLMENT: "enrollment",
    Purpose.VERIFICATION: "verification (checking a photo against this person)",
    Purpose.IDENTIFICATION: "identification (searching a photo among everyone enrolled)",
}


def _erased(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    messages.error(request, error_message("subject_erased"))
    return redirect("biometrics_subjects", org=ctx.organization.slug)


@org_view(Role.VIEWER)
def subjects(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    form = SubjectForm()
    if request.method == "POST":
        if not ctx.has_role(Role.OPERATOR):
            return render(
                request, "403.html", {"message": "Operators create subjects."}, status=403
            )
        form = SubjectForm(request.POST)
        if form.is_valid():
            try:
                subject = services.subject_create(
                    organization=ctx.organization,
                    actor=ctx.user,
                    ip=client_ip(request),
                    **form.cleaned_data,
                )
            except TenantError as exc:
                form.add_error("external_ref", exc.message)
            else:
                messages.success(request, f"Subject {subject.external_ref} created.")
                return redirect("biometrics_enroll", org=ctx.organization.slug, pk=subject.pk)
    query = request.GET.get("q", "")
    return render(
        request,
        "biometrics/subjects.html",
        {
            "ctx": ctx,
            "form": form,
            "query": query,
            "can_operate": ctx.has_role(Role.OPERATOR),
            "subjects": selectors.subject_list(organization=ctx.organization, query=query)[:200],
        },
    )


@org_view(Role.VIEWER)
def subject_detail(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    subject = _subject_or_404(ctx, pk)
    if subject.is_erased:
        return _erased(request, ctx)
    org = ctx.organization
    return render(
        request,
        "biometrics/subject_detail.html",
        {
            "ctx": ctx,
            "subject": subject,
            "can_operate": ctx.has_role(Role.OPERATOR),
            "can_erase": ctx.has_role(Role.ADMIN),
            "templates": selectors.template_list(organization=org, subject=subject),
            "consents": selectors.consent_list(organization=org, subject=subject),
            "enrollments": selectors.enrollment_list(organization=org, subject=subject)[:20],
            "verifications": selectors.verification_list(organization=org, subject=subject)[:20],
            "commitments": selectors.commitment_list(organization=org, subject=subject),
        },
    )


@require_POST
@org_view(Role.ADMIN)
def subject_erase(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    subject = _subject_or_404(ctx, pk)
    if subject.is_erased:
        return _erased(request, ctx)
    try:
        services.subject_erase(
            organization=ctx.organization,
            subject=subject,
            actor=ctx.user,
            ip=client_ip(request),
        )
    except BiometricError:
        return _erased(request, ctx)
    messages.success(request, "The subject was erased; its templates can no longer be read.")
    return redirect("biometrics_subjects", org=ctx.organization.slug)


@require_POST
@org_view(Role.OPERATOR)
def consent_revoke(request: HttpRequest, ctx: OrgContext, pk: int, cid: int) -> HttpResponse:
    subject = _subject_or_404(ctx, pk)
    consent = _or_404(
        selectors.consent_get(organization=ctx.organization, subject=subject, consent_id=cid)
    )
    services.consent_revoke(
        organization=ctx.organization, consent=consent, actor=ctx.user, ip=client_ip(request)
    )
    messages.success(request, f"Consent to {_PURPOSE_WORDS[consent.purpose]} revoked.")
    return redirect("biometrics_subject", org=ctx.organization.slug, pk=subject.pk)


def _consent_then_enroll(
    request: HttpRequest, ctx: OrgContext, subject: Subject, data: dict[str, Any], on_file: bool
) -> Enrollment:
    org = ctx.organization
    if not on_file:
        for purpose in data["purposes"]:
            services.consent_grant(
                organization=org,
                subject=subject,
                purpose=purpose,
                policy_version=services.CURRENT_POLICY_VERSION,
                method=data["method"],
                granted_by=ctx.user,
                ip=client_ip(request),
            )
    return services.enrollment_create(
        organization=org,
        subject=subject,
        images=[_read(f) for f in data["images"]],
        actor=ctx.user,
        allow_duplicates=data["allow_duplicates"],
        ip=client_ip(request),
    )


@org_view(Role.OPERATOR)
def enroll(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    """The wizard: consent (unless on file), then photos from the webcam or files."""
    org = ctx.organization
    subject = _subject_or_404(ctx, pk)
    if subject.is_erased:
        return _erased(request, ctx)
    on_file = selectors.has_valid_consent(
        organization=org, subject=subject, purpose=Purpose.ENROLLMENT
    )
    form = EnrollForm(*_submitted(request), consent_on_file=on_file)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            # One transaction: a photo refused at the edge must not leave the consents behind
            # (the person would be asked again anyway).
            with transaction.atomic():
                enrollment = _consent_then_enroll(request, ctx, subject, data, on_file)
        except (BiometricError, TenantError) as exc:
            _fail(request, exc)
        else:
            return redirect("biometrics_enrollment", org=org.slug, pk=enrollment.pk)
    return render(
        request,
        "biometrics/enroll.html",
        {
            "ctx": ctx,
            "subject": subject,
            "form": form,
            "consent_on_file": on_file,
            "policy_version": services.CURRENT_POLICY_VERSION,
            "policy_text": services.policy_text(
                organization=org, version=services.CURRENT_POLICY_VERSION
            ),
        },
    )


@org_view(Role.VIEWER)
def enrollment_detail(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    enrollment = _or_404(selectors.enrollment_get(organization=ctx.organization, enrollment_id=pk))
    return render(
        request,
        "biometrics/enrollment.html",
        {
            "ctx": ctx,
            "enrollment": enrollment,
            "subject": enrollment.subject,
            "error_message": error_message(enrollment.error_code) if enrollment.error_code else "",
        },
    )


def _attempt_page(
    request: HttpRequest, ctx: OrgContext, kind: str, attempt: Any, extra: dict[str, Any]
) -> HttpResponse:
    candidates = (
        selectors.candidates_display(
            organization=ctx.organization, candidates=attempt.candidates, with_names=True
        )
        if kind == "identification"
        else []
    )
    return render(
        request,
        f"biometrics/{kind}.html",
        {
            "ctx": ctx,
            "attempt": attempt,
            "candidates": candidates,
            "error_message": error_message(attempt.error_code) if attempt.error_code else "",
            **extra,
        },
    )


@org_view(Role.OPERATOR)
def verify(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    org = ctx.organization
    subject = _subject_or_404(ctx, pk)
    if subject.is_erased:
        return _erased(request, ctx)
    form = ImageForm(*_submitted(request))
    if request.method == "POST" and form.is_valid():
        try:
            attempt = services.verification_request(
                organization=org,
                subject=subject,
                actor=ctx.user,
                image=_read(form.cleaned_data["image"]),
            )
        except (BiometricError, TenantError) as exc:
            _fail(request, exc)
        else:
            tasks.dispatch_and_wait(
                tasks.verification_process_task,
                attempt.pk,
                org.pk,
                timeout=settings.BIOMETRICS_SYNC_TIMEOUT,
            )
            return redirect("biometrics_verification", org=org.slug, pk=attempt.pk)
    return render(request, "biometrics/verify.html", {"ctx": ctx, "subject": subject, "form": form})


@org_view(Role.VIEWER)
def verification_detail(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    attempt = _or_404(selectors.verification_get(organization=ctx.organization, attempt_id=pk))
    return _attempt_page(
        request, ctx, "verification", attempt, {"pending": attempt.status == MatchStatus.PENDING}
    )


@org_view(Role.OPERATOR)
def identify(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    org = ctx.organization
    form = IdentifyForm(*_submitted(request))
    if request.method == "POST" and form.is_valid():
        try:
            attempt = services.identification_request(
                organization=org,
                actor=ctx.user,
                top_k=form.cleaned_data["top_k"],
                image=_read(form.cleaned_data["image"]),
            )
        except (BiometricError, TenantError) as exc:
            _fail(request, exc)
        else:
            tasks.dispatch_and_wait(
                tasks.identification_process_task,
                attempt.pk,
                org.pk,
                timeout=settings.BIOMETRICS_SYNC_TIMEOUT,
            )
            return redirect("biometrics_identification", org=org.slug, pk=attempt.pk)
    return render(request, "biometrics/identify.html", {"ctx": ctx, "form": form})


@org_view(Role.VIEWER)
def identification_detail(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    attempt = _or_404(selectors.identification_get(organization=ctx.organization, attempt_id=pk))
    return _attempt_page(
        request, ctx, "identification", attempt, {"pending": attempt.status == MatchStatus.PENDING}
    )
