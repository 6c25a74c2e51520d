"""One domain error and one error shape for every API error:
``{"error": {"code", "message", "details"}}``.

A :class:`DomainError` is a business-rule failure with a stable ``code`` that clients switch on,
a human ``message``, an HTTP ``status`` and JSON-safe ``details``. Apps subclass it in their own
``errors`` module, which is the one place that lists the app's codes; services raise them and
views let them through: :func:`exception_handler` renders every one, so no view catches and
re-raises. UI views catch the app's base class (``TenantError``, ``BiometricError``, ...) and
show ``message``.

The codes below are the generic ones the API itself produces (DRF's own failures, the request
bounds of ``kernel.parsers`` and ``kernel.middleware``, and the JSON 400/404/500 handlers);
``docs/api.md`` lists them with every app's codes, and a test keeps the two in step.

Requests Django itself refuses (its ``SuspiciousOperation`` family: too many fields or files, a
body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``) are client errors: 413 ``request_too_large`` for a
body too large, 400 ``bad_request`` for the others, in the API as in Django's own 400 handler.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import ModuleType
from typing import Any, ClassVar, Final

from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger(__name__)

__all__ = [
    "GENERIC_CODES",
    "BadRequest",
    "CatalogError",
    "DomainError",
    "InvalidCharacters",
    "InvalidCharactersSent",
    "RequestTooLarge",
    "bad_request",
    "codes_of",
    "error_body",
    "exception_handler",
    "json_not_found",
    "json_server_error",
]


class DomainError(Exception):
    """A request that the domain refuses, with a stable machine-readable ``code``.

    Subclasses set ``code``, ``status`` and a default ``message`` as class attributes; an
    instance may override any of them (an app whose codes live in a catalogue passes ``code``).
    """

    code: ClassVar[str] = "invalid_request"
    status: ClassVar[int] = 400
    message: str = "The request cannot be served."
    details: Mapping[str, Any]

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        if code is not None:
            self.code = code  # type: ignore[misc]
        if status is not None:
            self.status = status  # type: ignore[misc]
        self.message = message or type(self).message
        self.details = dict(details or {})
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, details={self.details!r})"


class CatalogError(DomainError):
    """A :class:`DomainError` whose codes come from an app's catalogue: ``code -> (default
    message, HTTP status)``. Subclasses set ``catalog``; an unknown code is a programming error."""

    catalog: ClassVar[Mapping[str, tuple[str, int]]] = {}

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        if code not in self.catalog:
            raise ValueError(f"unknown {type(self).__name__} code {code!r}")
        default_message, http_status = self.catalog[code]
        super().__init__(message or default_message, code=code, status=http_status, details=details)


class BadRequest(DomainError):
    """A request refused as malformed before any view rule applies (too many fields or files)."""

    code = "bad_request"
    status = 400
    message = "The request is malformed."


class InvalidCharacters(DomainError):
    """A NUL byte (or an unpaired surrogate) in a query, form value or JSON string: no field
    holds one, and PostgreSQL refuses to store it."""

    code = "invalid_characters"
    status = 400
    message = "The request contains characters that are not allowed."


class RequestTooLarge(DomainError):
    """A body over the limit of its kind (``API_MAX_BODY_BYTES``, ``API_MAX_UPLOAD_BYTES``, or
    Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` for form fields)."""

    code = "request_too_large"
    status = 413
    message = "The request body is too large."


def codes_of(module: ModuleType) -> dict[str, int]:
    """Every error code an app's ``errors`` module declares, with its HTTP status.

    A code is declared either by a :class:`DomainError` subclass defined in the module that sets
    its own ``code`` class attribute, or by an entry of a module-level ``CATALOG`` mapping
    ``code -> (message, status)``.
    """
    codes: dict[str, int] = {}
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, DomainError)
            and value.__module__ == module.__name__
            and "code" in vars(value)  # a catalogue-based base class names no code of its own
        ):
            codes[value.code] = value.status
    for code, (_message, http_status) in getattr(module, "CATALOG", {}).items():
        codes[code] = http_status
    return codes


def error_body(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": dict(details or {})}}


_CODE_BY_CLASS: dict[type[exceptions.APIException], str] = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "parse_error",
    exceptions.ValidationError: "validation_error",
}

#: The codes the API produces by itself, whatever the app: code -> HTTP status. A token's
#: authentication failures (revoked, expired) are the tenants app's codes.
GENERIC_CODES: Final[Mapping[str, int]] = {
    **{code: cls.status_code for cls, code in _CODE_BY_CLASS.items()},
    **{cls.code: cls.status for cls in (BadRequest, InvalidCharacters, RequestTooLarge)},
    "server_error": 500,
}


class InvalidCharactersSent(SuspiciousOperation):
    """Raised by the request middleware: a NUL byte in a query string or form value."""


def _refusal_of(exc: SuspiciousOperation) -> DomainError:
    """Django's refusal of a request as the domain error the client sees."""
    if isinstance(exc, RequestDataTooBig):
        return RequestTooLarge()
    if isinstance(exc, InvalidCharactersSent):
        return InvalidCharacters()
    return BadRequest()


def _flatten_codes(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten_codes(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten_codes(item) for item in detail]
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler producing the single error shape."""
    # Imported here: rest_framework.views loads the API settings, hence the authentication
    # classes, which import the apps' error modules, which import this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, SuspiciousOperation):
        # Logged like Django's own handler does, on the security logger of the class.
        logging.getLogger(f"django.security.{type(exc).__name__}").warning("%s", exc)
        exc = _refusal_of(exc)
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled API error", exc_info=exc)
        return Response(
            error_body("server_error", "An unexpected error occurred."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    assert isinstance(exc, exceptions.APIException)
    code = _CODE_BY_CLASS.get(type(exc), "")
    if isinstance(exc, exceptions.AuthenticationFailed | exceptions.NotAuthenticated):
        detail_code = exc.get_codes()
        if isinstance(detail_code, str) and detail_code not in {
            "authentication_failed",
            "not_authenticated",
        }:
            code = detail_code
    details: dict[str, Any] = {}
    if isinstance(exc, exceptions.ValidationError):
        message = "The request is invalid; see details for each field."
        details = (
            {"fields": _flatten_codes(exc.detail)}
            if isinstance(exc.detail, dict)
            else {"non_field_errors": _flatten_codes(exc.detail)}
        )
    else:
        message = str(exc.detail)
    if isinstance(exc, exceptions.Throttled):
        # DRF sets ``wait`` in Throttled.__init__; djangorestframework-stubs does not declare it.
        details = {"retry_after_seconds": exc.wait}  # type: ignore[attr-defined]
    response.data = error_body(code or exc.default_code, message, details)
    return response


# --- Plain Django handlers, so that non-DRF 400/404/500 under /api/ have the same shape ------
def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler400``: Django's refusals (``SuspiciousOperation``) outside DRF views; JSON in
    the error shape under ``/api/``, the ``400.html`` page elsewhere."""
    if not request.path.startswith("/api/"):
        return defaults.bad_request(request, exception or BadRequest())
    refusal = _refusal_of(exception) if isinstance(exception, SuspiciousOperation) else BadRequest()
    return JsonResponse(
        error_body(refusal.code, refusal.message, refusal.details), status=refusal.status
    )


def json_not_found(
    request: HttpRequest, exception: Exception | None = None, **kwargs: object
) -> JsonResponse:
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("server_error", "An unexpected error occurred."), status=500)
