"""Helpers of the payments API tests (no tests here)."""

from __future__ import annotations

from itertools import count
from typing import Any

from rest_framework.response import Response
from rest_framework.test import APIClient

_KEYS = count(1)


def pay(
    client: APIClient,
    org: str = "acme",
    *,
    key: str | None = None,
    from_account: str = "acme:main",
    to_account: str = "globex:main",
    amount: Any = 1_000,
    currency: str = "EUR",
    **extra: Any,
) -> Response:
    """POST a payment with a fresh Idempotency-Key unless ``key`` is given."""
    body = {
        "from_account": from_account,
        "to_account": to_account,
        "amount": amount,
        "currency": currency,
        **extra,
    }
    headers = {"HTTP_IDEMPOTENCY_KEY": key if key is not None else f"key-{next(_KEYS)}"}
    return client.post(f"/api/v1/orgs/{org}/payments/", body, format="json", **headers)


def error_code(response: Response) -> str:
    return str(response.json()["error"]["code"])
