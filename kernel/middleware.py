"""Request middleware of the kernel: refuse characters no field may hold before any view runs."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.http import HttpRequest, HttpResponse, QueryDict

from kernel.errors import InvalidCharactersSent

__all__ = ["RequestCharactersMiddleware"]

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _has_nul(data: QueryDict) -> bool:
    pairs: Iterable[tuple[str, list[str]]] = data.lists()
    return any("\x00" in key or any("\x00" in v for v in values) for key, values in pairs)


class RequestCharactersMiddleware:
    """A NUL byte in a query parameter or form value is refused with 400 ``invalid_characters``
    (JSON under ``/api/``, the 400 page elsewhere: Django's ``handler400`` renders it).

    No identifier, slug, search term or form field of the portal holds one, and PostgreSQL
    refuses NUL in text, so without this check any view that filters on a parameter it has not
    validated first fails there with a server error. API bodies are checked by their parsers
    (``kernel.parsers``): reading them here would bypass the parsers' own size limits.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Parsing GET/POST may itself raise Django's TooManyFieldsSent or RequestDataTooBig:
        # SuspiciousOperation, which Django's handler400 renders as a client error too.
        if _has_nul(request.GET):
            raise InvalidCharactersSent("NUL byte in the query string")
        if (
            request.method == "POST"
            and not request.path.startswith("/api/")
            and request.content_type in _FORM_TYPES
            and _has_nul(request.POST)
        ):
            raise InvalidCharactersSent("NUL byte in a form value")
        return self.get_response(request)
