"""Request body parsers with bounds: every API body is limited in size, JSON in nesting depth,
and no decoded string may hold a character the database cannot store.

``API_MAX_BODY_BYTES`` limits JSON bodies, ``API_MAX_UPLOAD_BYTES`` multipart uploads (photos
are larger than any JSON document). Both are checked on the declared ``Content-Length`` before
reading, and again while reading, because a body may come without a truthful length.
``kernel.asgi`` applies the same limits before Django reads the body at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import IO, Any, Final, cast

from django.conf import settings
from django.http import QueryDict
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils.json import strict_constant

from kernel.errors import InvalidCharacters, RequestTooLarge

__all__ = ["MAX_JSON_DEPTH", "JSONParser", "MultiPartParser", "check_depth", "check_text"]

#: Deepest nesting of arrays and objects a JSON body may have. The API's deepest documents are
#: three levels (an object, a list of objects, their values); 32 leaves room for any client.
MAX_JSON_DEPTH: Final = 32


# A JSON string (skipped whole, so brackets inside it do not count) or one bracket. Each
# position can match one way only and an unterminated string runs to the end, so the scan is
# linear whatever the body.
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]')


def check_depth(text: str) -> None:
    """Refuse JSON nested deeper than ``MAX_JSON_DEPTH`` before decoding it.

    The decoder recurses once per level in C, bounded only by the interpreter's recursion
    limit, which py_ecc raises to 100,000 when the ledger imports it: a body of a few hundred
    kilobytes of brackets would then overflow the C stack and kill the process, not raise.
    """
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
        elif token in ("]", "}"):
            depth -= 1


def check_text(value: str) -> None:
    """Refuse a string PostgreSQL cannot store (NUL) or UTF-8 cannot encode (a lone surrogate).

    Either one would otherwise reach the database driver and fail there as a server error.
    """
    if "\x00" in value:
        raise InvalidCharacters("The request contains a NUL character.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidCharacters("The request contains an unpaired surrogate character.") from None


def _declared_length(parser_context: Mapping[str, Any]) -> int | None:
    request = parser_context.get("request")
    meta = getattr(request, "META", {})
    try:
        return int(meta.get("CONTENT_LENGTH") or 0) or None
    except (TypeError, ValueError):
        return None


def _too_large(limit: int) -> RequestTooLarge:
    return RequestTooLarge(details={"max_bytes": limit})


def _check_declared_length(parser_context: Mapping[str, Any], limit: int) -> None:
    declared = _declared_length(parser_context)
    if declared is not None and declared > limit:
        raise _too_large(limit)


def _check_tree(data: Any) -> None:
    """Walk a decoded JSON document without recursion: depth and every key and string."""
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            check_text(value)
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
            if isinstance(value, dict):
                for key, item in value.items():
                    check_text(key)
                    pending.append((item, depth + 1))
            else:
                pending.extend((item, depth + 1) for item in value)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, bounded: size, depth, characters."""

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        parser_context = parser_context or {}
        limit: int = settings.API_MAX_BODY_BYTES
        _check_declared_length(parser_context, limit)
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise _too_large(limit)
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        check_depth(text)
        try:
            data = json.loads(text, parse_constant=strict_constant if self.strict else None)
        except ValueError as exc:  # includes over-long integers
            raise ParseError(f"JSON parse error - {exc}") from None
        _check_tree(data)
        return data


class _CountingStream:
    """Reads through to ``stream`` and refuses the body once more than ``limit`` bytes came."""

    def __init__(self, stream: Any, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self._read = 0

    def read(self, size: int = -1) -> bytes:
        chunk: bytes = self._stream.read(size)
        self._read += len(chunk)
        if self._read > self._limit:
            raise _too_large(self._limit)
        return chunk


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser, bounded by ``API_MAX_UPLOAD_BYTES``; field values are checked
    like JSON strings. Django's own limits (fields, files, in-memory size) raise its
    ``SuspiciousOperation`` family, which the exception handler renders as 400/413."""

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        parser_context = parser_context or {}
        limit: int = settings.API_MAX_UPLOAD_BYTES
        _check_declared_length(parser_context, limit)
        # DRF reads the stream only through read(); the counting wrapper provides just that.
        counted = cast(IO[Any], _CountingStream(stream, limit))
        result = super().parse(counted, media_type, parser_context)
        data: QueryDict = result.data
        for key, values in data.lists():
            check_text(key)
            for value in values:
                check_text(value)
        return result
