"""No route answers a hostile request with a server error.

Every URL pattern (UI and API) is walked from the URL configuration, so a new endpoint is
covered without editing this file. Each is requested as alice (owner of acme, so every role
check passes and the request reaches the view's own parsing) with real slugs and object ids,
then with hostile path values, query parameters and bodies: NUL bytes, unicode digits, huge,
negative and float-looking numbers, very long strings, repeated keys, deep nesting, wrong JSON
types, invalid UTF-8 and wrong content types. Any 5xx fails, with the request that caused it.

The cases are drawn from a ``random.Random`` seeded by the route, so a failure reproduces on
its own (``pytest -k``) and the run is bounded: two sweeps and ``RANDOM_CASES_PER_ROUTE``
random requests per route, about 4,000 requests. That is 35 s of CPU on SQLite and more on
PostgreSQL, so the walk is marked ``slow`` (CI runs it on PostgreSQL, where NUL bytes break);
each defect it found has a fast test of its own.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from tenants import services
from tenants.models import ApiToken, AuditEvent, Invitation, Membership
from tenants.roles import Role
from tests.conftest import token_for

SEED = 20261206
RANDOM_CASES_PER_ROUTE = 16
METHODS = ("get", "post", "put", "patch", "delete", "options")

# Django's admin is a framework's own surface (and alice is not staff: it redirects to login).
SKIPPED_PREFIXES = ("admin/",)

# Query parameter names the views read, plus a few no view reads.
QUERY_KEYS = (
    "q", "page", "page_size", "ordering", "role", "action", "actor", "org", "format",
    "status", "top_k", "next", "token", "search", "limit", "offset", "cursor", "x",
)  # fmt: skip

# Request body field names the serializers and forms take (and one they do not).
BODY_KEYS = (
    "email", "role", "name", "slug", "contact_email", "expires_at", "username", "password",
    "password1", "password2", "old_password", "new_password1", "new_password2", "owner",
    "purpose", "policy_version", "external_ref", "display_name", "images", "image",
    "allow_duplicates", "top_k", "threshold", "approval", "approvals", "reason", "x",
)  # fmt: skip

HOSTILE_STRINGS = (
    "\x00", "a\x00b", "²", "\u0661\u0662\u0663", "\U0001d7d7", "9" * 40, "-1", "0",
    "-9223372036854775809", "18446744073709551616", "1e309", "NaN", "-0", "1.5", "x" * 5000,
    "", " ", "%", "'\"", "<script>", "../../etc/passwd", "\ufeff", "a" * 300 + "@example.com",
    "true", "null", "[]", "{}", "\u202e", "\r\n",
)  # fmt: skip
# The sweeps' values (each one in every parameter at once): the kinds that broke views before.
SWEEP_STRINGS = (
    "\x00", "²", "9" * 40, "-9223372036854775809", "1e309", "-1", "x" * 5000, "", "%",
    "a" * 300 + "@example.com", "[]", "\r\n",
)  # fmt: skip
# Bodies every write method of every route gets: (body, content type).
SPECIAL_BODIES = (
    (b"[" * 100_000, "application/json"),
    (b'{"a":' * 100_000, "application/json"),
    (b'{"email": "\xff\xfe", "name": "\xc3"}', "application/json"),
    (b'{"name": "x\\u0000y", "email": "\\ud800@example.com", "x": 1e999}', "application/json"),
    (b"email=a%00b&role=member&name=%00", "application/x-www-form-urlencoded"),
    (b"<x/>", "application/xml"),
    (b"--B\r\n\r\n", "multipart/form-data"),
)
HOSTILE_NUMBERS = (10**400, -(10**30), 2**63, -1, 0, 1e308, -1e-308, 3.5, True, False)
HOSTILE_PATH_INTS = ("0", "9" * 30, "2147483648", "9223372036854775808")
HOSTILE_PATH_STRINGS = ("²", "%00", "x" * 2000, "-1", "%E2%80%AE", "%FF", "null")


def hostile_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(10 if depth < 2 else 6)
    if kind < 3:
        return rng.choice(HOSTILE_STRINGS)
    if kind == 3:
        return rng.choice(HOSTILE_NUMBERS)
    if kind == 4:
        return rng.choice([None, True, False])
    if kind == 5:
        return ""
    if kind < 8:
        return [hostile_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(BODY_KEYS): hostile_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def hostile_query(rng: random.Random) -> str:
    pairs = []
    for _ in range(rng.randrange(1, 4)):
        key = rng.choice(QUERY_KEYS)
        if rng.random() < 0.2:
            key += "[]"
        value = rng.choice(HOSTILE_STRINGS)
        for _ in range(2 if rng.random() < 0.2 else 1):  # sometimes an array: the key twice
            pairs.append(f"{quote(key)}={quote(value)}")
    if rng.random() < 0.1:
        pairs.append("%ED%A0%80=%FF%FE")  # a surrogate and invalid UTF-8, percent-encoded
    return "&".join(pairs)


def hostile_body(rng: random.Random) -> tuple[bytes, str]:
    """A body and its content type."""
    kind = rng.randrange(10)
    if kind == 0:
        return (rng.choice(["[", '{"a":']) * 100_000).encode(), "application/json"
    if kind == 1:
        return b'{"email": "\xff\xfe", "name": "\xc3"}', "application/json"
    if kind == 2:
        return json.dumps(hostile_value(rng)).encode(), "application/json"
    if kind == 3:
        body = urlencode_pairs(rng)
        return body.encode(), rng.choice(["text/plain", "application/xml", "application/json"])
    if kind == 4:
        return urlencode_pairs(rng).encode(), "application/x-www-form-urlencoded"
    if kind == 5:
        return b'--B\r\nContent-Disposition: form-data; name="x"\r\n\r\n\x00\r\n', (
            "multipart/form-data" + rng.choice(["", "; boundary=B", "; boundary="])
        )
    if kind == 6:
        return b'{"name": "x\\u0000y", "email": "\\ud800@example.com"}', "application/json"
    # an object of known fields with hostile values of any type
    body = {key: hostile_value(rng) for key in rng.sample(BODY_KEYS, rng.randrange(1, 6))}
    return json.dumps(body).encode(), "application/json"


def urlencode_pairs(rng: random.Random) -> str:
    keys = rng.sample(BODY_KEYS, rng.randrange(1, 5))
    return "&".join(f"{quote(k)}={quote(rng.choice(HOSTILE_STRINGS))}" for k in keys)


# --- routes ----------------------------------------------------------------------------------
def _walk(patterns: list[Any], prefix: str = "") -> list[str]:
    routes: list[str] = []
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            routes.extend(_walk(entry.url_patterns, route))
        elif isinstance(entry, URLPattern):
            routes.append(route)
    return routes


def all_routes() -> list[str]:
    routes = {
        re.sub(r"(^|/)\^", r"\1", r).replace("$", "")
        for r in _walk(get_resolver().url_patterns)
        if "format" not in r and "\\.(?P" not in r
    }
    return sorted(r for r in routes if not r.startswith(SKIPPED_PREFIXES))


_PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>|\(\?P<(?P<rname>\w+)>[^)]*\)")


def fill(route: str, values: dict[str, str], rng: random.Random | None = None) -> str:
    """The route with each parameter replaced: its real value, or (with ``rng``) sometimes a
    hostile one the converter still accepts."""

    def value(match: re.Match[str]) -> str:
        name = match.group("name") or match.group("rname")
        converter = match.group("conv") or ("slug" if name == "org" else "str")
        real = values.get(name, values["pk"])
        if rng is None or rng.random() < 0.6:
            return real
        if converter == "int":
            return rng.choice(HOSTILE_PATH_INTS)
        if converter == "slug":
            return rng.choice(["x" * 300, "-", "_", "globex", "initech"])
        return rng.choice(HOSTILE_PATH_STRINGS)

    return "/" + _PARAM.sub(value, route)


@pytest.fixture
def acme_objects(world: Any) -> dict[str, str]:
    """Real ids for every kind of path parameter, all in acme (alice's organization)."""
    api = APIClient()
    api.force_login(world.alice)
    subject = api.post(
        "/api/v1/orgs/acme/subjects/", {"external_ref": "fuzz-1", "display_name": "F"}
    ).json()["id"]
    consent = api.post(
        f"/api/v1/orgs/acme/subjects/{subject}/consents/",
        {"purpose": "verification", "policy_version": "1.0"},
    ).json()["id"]
    token_for(world.alice, world.acme)
    services.invitation_create(
        organization=world.acme,
        email="carol@acme.example",
        role=Role.MEMBER,
        actor=world.alice,
        actor_role=Role.OWNER,
    )
    return {
        "org": "acme",
        "slug": "acme",
        "pk": str(Membership.objects.get(user=world.bob).pk),
        "cid": str(consent),
        "height": "1",
        "tx_hash": "ab" * 32,
        "operation": "suspend",
        "uidb64": "MQ",
        "token": "set-password",
        "rest": "no/such/thing",
        "subject": str(subject),
        "invitation": str(Invitation.objects.get().pk),
        "api_token": str(ApiToken.objects.first().pk),  # type: ignore[union-attr]
        "audit": str(AuditEvent.objects.first().pk),  # type: ignore[union-attr]
    }


def pk_for(route: str, objects: dict[str, str]) -> str:
    """The real object a route's ``pk`` names: the last collection before it."""
    for word, name in (
        ("subjects", "subject"),
        ("invitations", "invitation"),
        ("tokens", "api_token"),
        ("audit", "audit"),
    ):
        if re.search(word + r"[-\w]*/(<(int:)?pk>|\(\?P<pk>)", route):
            return objects[name]
    return objects["pk"]


def test_the_walk_finds_ui_and_api_routes_of_every_app() -> None:
    routes = all_routes()
    for expected in ("o/<slug:org>/members/", "api/v1/ledger/blocks/", "switch/"):
        assert expected in routes
    assert any("subjects" in r and r.startswith("api/") for r in routes)
    assert len(routes) >= 70


def _allowed_5xx(path: str, response: Any) -> bool:
    """The documented 503s: the face engine is not running; readiness names what is down."""
    if response.status_code != 503:
        return False
    if path.startswith("/readyz"):
        return True
    try:
        return bool(response.json()["error"]["code"] == "engine_unavailable")
    except (ValueError, KeyError, TypeError):
        return False


def _requests(
    route: str, objects: dict[str, str], allowed: set[str]
) -> Iterator[tuple[str, str, bytes | None, str]]:
    """Every request sent to one route: (method, url, body, content type), seeded by the route.

    Two sweeps put every hostile value in every known parameter (a GET with all query keys set
    to it; a POST, PUT or PATCH with all body fields set to it) for the methods the route
    ``allowed``, then random cases mix hostile path values, queries and bodies of every kind.
    """
    rng = random.Random(f"{SEED}:{route}")
    real = fill(route, {**objects, "pk": pk_for(route, objects)})
    if "get" in allowed:
        for value in SWEEP_STRINGS:
            query = "&".join(f"{k}={quote(value)}" for k in QUERY_KEYS)
            yield "get", f"{real}?{query}", None, ""
    writes = [m for m in ("post", "put", "patch") if m in allowed]
    for index, value in enumerate((*SWEEP_STRINGS, *HOSTILE_NUMBERS, None, [], {})):
        if writes:
            body = json.dumps(dict.fromkeys(BODY_KEYS, value)).encode()
            yield writes[index % len(writes)], real, body, "application/json"
    for index, (body, content_type) in enumerate(SPECIAL_BODIES):
        if writes:
            yield writes[index % len(writes)], real, body, content_type
    for case in range(RANDOM_CASES_PER_ROUTE):
        method = METHODS[case % len(METHODS)]
        path = fill(route, {**objects, "pk": pk_for(route, objects)}, rng)
        query = hostile_query(rng) if case % 3 != 1 else ""
        url = f"{path}?{query}" if query else path
        if method == "get" or (method in ("options", "delete") and rng.random() < 0.5):
            yield method, url, None, ""
        else:
            yield method, url, *hostile_body(rng)


@pytest.mark.slow
@pytest.mark.parametrize("route", all_routes())
def test_no_route_answers_a_hostile_request_with_a_server_error(
    world: Any, acme_objects: dict[str, str], route: str
) -> None:
    # A server error is collected (with the request) rather than raised out of the client.
    client = (APIClient if route.startswith("api/") else Client)(raise_request_exception=False)
    client.force_login(world.alice)
    real = fill(route, {**acme_objects, "pk": pk_for(route, acme_objects)})
    # The methods the route serves: the sweeps skip the others (405 before any parsing).
    allowed = {m for m in METHODS if getattr(client, m)(real).status_code != 405}
    failures = []
    for method, url, body, content_type in _requests(route, acme_objects, allowed):
        client.force_login(world.alice)  # the logout and password routes may end the session
        if body is None:
            response = getattr(client, method)(url)
        else:
            response = getattr(client, method)(url, body, content_type=content_type)
        if response.status_code >= 500 and not _allowed_5xx(url, response):
            sent = f" {content_type} {body[:120]!r}" if body is not None else ""
            failures.append(f"{method.upper()} {url[:300]}{sent} -> {response.status_code}")
    assert not failures, "\n".join(failures)


# --- what the fuzz found, as named regressions --------------------------------------------
def test_options_on_the_swagger_page_is_405_not_a_server_error(world: Any) -> None:
    client = APIClient(raise_request_exception=False)
    client.force_login(world.alice)
    assert client.options("/api/docs/").status_code == 405
    assert client.get("/api/docs/").status_code == 200
