"""Assertions shared by the tenants API tests."""

from __future__ import annotations

from django.http import HttpResponse


def assert_error(response: HttpResponse, status: int, code: str) -> None:
    """The response is the one error shape with ``code`` and a human message."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
