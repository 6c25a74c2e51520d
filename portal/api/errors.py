"""One error shape for every API error: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from tenants.access import AccessDenied
from tenants.errors import TenantError

logger = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """Raise from a view or service adapter with a stable code and the right status."""

    def __init__(
        self,
        *,
        code: str,
        message: str,
        status_code: int = 400,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.message = message
        self.details = details or {}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


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


def _flatten_codes(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten_codes(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten_codes(item) for item in detail]
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler producing the single error shape."""
    if isinstance(exc, ApiError):
        return Response(
            error_body(exc.error_code, exc.message, exc.details), status=exc.status_code
        )
    if isinstance(exc, AccessDenied):
        return Response(error_body(exc.code, exc.message), status=exc.status)
    if isinstance(exc, TenantError):
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
        details = {"retry_after_seconds": exc.wait}
    response.data = error_body(code or exc.default_code, message, details)
    return response


# --- Plain Django handlers, so that non-DRF 404/500 under /api/ have the same shape ----------
def json_not_found(
    request: HttpRequest, exception: Exception | None = None, **kwargs: object
) -> JsonResponse:
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("server_error", "An unexpected error occurred."), status=500)
