"""Hostile requests are refused in the one error shape (API) or with the 400 page (UI), never
with a 500: NUL bytes, deep JSON, oversized bodies, too many fields or files."""

from __future__ import annotations

import io
import json
import sys

import pytest
from django.test import Client
from rest_framework.exceptions import ParseError
from rest_framework.test import APIClient

from kernel.errors import DomainError
from kernel.parsers import JSONParser
from tenants.models import Invitation
from tests.conftest import api_as


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def alice_ui(world) -> Client:
    client = Client()
    client.force_login(world.alice)
    return client


def alice_api(world) -> APIClient:
    client = APIClient()
    client.force_login(world.alice)
    return client


# --- NUL bytes -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "query", ["role=%00", "role=member%00x", "page=1%00", "%00=1", "ordering=%00&x=1"]
)
def test_a_nul_byte_in_an_api_query_is_400_invalid_characters(world, query) -> None:
    response = api_as(world.alice, world.acme).get(f"/api/v1/orgs/acme/members/?{query}")
    assert_error(response, 400, "invalid_characters")


def test_more_than_1000_query_parameters_is_400_bad_request(world) -> None:
    query = "&".join(f"f{i}=1" for i in range(1001))
    response = api_as(world.alice, world.acme).get(f"/api/v1/orgs/acme/members/?{query}")
    assert_error(response, 400, "bad_request")


def test_a_nul_byte_in_a_ui_query_is_the_400_page(world) -> None:
    response = alice_ui(world).get("/o/acme/audit/?action=%00")
    assert response.status_code == 400
    assert b"<title>Bad request" in response.content


def test_a_nul_byte_in_a_ui_form_value_is_the_400_page(world) -> None:
    response = alice_ui(world).post(
        "/o/acme/members/invite/", {"email": "carol\x00@acme.example", "role": "member"}
    )
    assert response.status_code == 400
    assert not Invitation.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"email": "carol\x00@acme.example", "role": "member"},
        {"email": "carol@acme.example", "role": "member", "x\x00": 1},
        {"email": "carol@acme.example", "role": ["member", {"deep": "\x00"}]},
    ],
)
def test_a_nul_byte_anywhere_in_a_json_body_is_400_invalid_characters(world, body) -> None:
    response = api_as(world.alice, world.acme).post(
        "/api/v1/orgs/acme/invitations/", body, format="json"
    )
    assert_error(response, 400, "invalid_characters")
    assert not Invitation.objects.exists()


def test_a_lone_surrogate_in_a_json_body_is_400_invalid_characters(world) -> None:
    response = api_as(world.alice, world.acme).post(
        "/api/v1/orgs/acme/tokens/",
        b'{"name": "laptop \\ud800"}',
        content_type="application/json",
    )
    assert_error(response, 400, "invalid_characters")


# --- JSON depth and size ---------------------------------------------------------------------
@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_json_nested_100000_deep_is_a_parse_error(world, opening) -> None:
    response = api_as(world.alice, world.acme).post(
        "/api/v1/orgs/acme/invitations/", opening * 100_000, content_type="application/json"
    )
    assert_error(response, 400, "parse_error")


def test_deep_json_is_refused_before_decoding_even_under_a_raised_recursion_limit() -> None:
    # py_ecc raises the limit to 100,000 when the ledger imports it; the C decoder would then
    # overflow the stack (a crash, not a RecursionError) on 200,000 brackets.
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, 100_000))
    try:
        with pytest.raises(ParseError, match="nested deeper than 32"):
            JSONParser().parse(io.BytesIO(b"[" * 200_000), parser_context={})
    finally:
        sys.setrecursionlimit(previous)


def test_json_within_the_depth_limit_still_parses() -> None:
    nested = "[" * 32 + "]" * 32
    assert JSONParser().parse(io.BytesIO(nested.encode()), parser_context={}) == json.loads(nested)
    with pytest.raises(ParseError):
        JSONParser().parse(io.BytesIO(("[" * 33 + "]" * 33).encode()), parser_context={})


def test_a_json_body_over_the_limit_is_413_by_its_content_length(world, settings) -> None:
    settings.API_MAX_BODY_BYTES = 1000
    body = json.dumps({"email": "carol@acme.example", "role": "member", "pad": "x" * 1000})
    response = api_as(world.alice, world.acme).post(
        "/api/v1/orgs/acme/invitations/", body, content_type="application/json"
    )
    assert_error(response, 413, "request_too_large")
    assert not Invitation.objects.exists()


def test_a_json_body_is_also_measured_while_it_is_read(settings) -> None:
    # A body without a (truthful) length: the parser stops reading one byte past the limit.
    settings.API_MAX_BODY_BYTES = 100
    stream = io.BytesIO(b'{"a": "' + b"x" * 10_000 + b'"}')
    with pytest.raises(DomainError) as refused:
        JSONParser().parse(stream, parser_context={})
    assert (refused.value.code, refused.value.status) == ("request_too_large", 413)
    assert stream.tell() <= 101


def test_the_default_json_limit_is_one_mebibyte(settings) -> None:
    assert settings.API_MAX_BODY_BYTES == 1024 * 1024
    assert settings.API_MAX_UPLOAD_BYTES > 5 * 10 * 1024 * 1024  # five 10 MB photos fit


# --- Django's SuspiciousOperation family on the upload endpoints -----------------------------
def _multipart(fields: list[tuple[str, bytes]], files: list[tuple[str, bytes]]) -> bytes:
    parts = [
        b'--B\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (n.encode(), v)
        for n, v in fields
    ] + [
        b'--B\r\nContent-Disposition: form-data; name="%s"; filename="f.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n%s\r\n" % (n.encode(), v)
        for n, v in files
    ]
    return b"".join(parts) + b"--B--\r\n"


@pytest.mark.parametrize(
    ("fields", "files", "status", "code"),
    [
        ([(f"f{i}", b"1") for i in range(1001)], [], 400, "bad_request"),  # TooManyFieldsSent
        ([], [("image", b"x")] * 101, 400, "bad_request"),  # TooManyFilesSent
        ([("note", b"x" * (2621440 + 1))], [], 413, "request_too_large"),  # RequestDataTooBig
    ],
)
def test_djangos_refusals_of_a_multipart_body_are_4xx_in_the_error_shape(
    world, fields, files, status, code
) -> None:
    response = api_as(world.alice, world.acme).post(
        "/api/v1/orgs/acme/identify/",
        _multipart(fields, files),
        content_type="multipart/form-data; boundary=B",
    )
    assert_error(response, status, code)


def test_an_upload_over_the_upload_limit_is_413(world, settings) -> None:
    settings.API_MAX_UPLOAD_BYTES = 10_000
    response = api_as(world.alice, world.acme).post(
        "/api/v1/orgs/acme/identify/",
        _multipart([], [("image", b"x" * 20_000)]),
        content_type="multipart/form-data; boundary=B",
    )
    assert_error(response, 413, "request_too_large")


def test_too_many_ui_form_fields_is_the_400_page(world) -> None:
    body = "&".join(f"f{i}=1" for i in range(1001))
    response = alice_ui(world).post(
        "/o/acme/members/invite/", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert b"<title>Bad request" in response.content
