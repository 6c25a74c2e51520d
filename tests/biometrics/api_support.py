"""Helpers for driving the biometrics REST API in tests: subjects, consents, enrollments, probes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from biometrics.engine import is_engine_installed

API = "/api/v1/orgs"


def require_engine() -> None:
    """Skip without the engine, fail instead under REQUIRE_SERVICES=1 (CI with bio.txt)."""
    if is_engine_installed():
        return
    reason = "DeepFace engine not installed (pip install -r requirements/bio.txt)"
    if django_settings.REQUIRE_SERVICES:
        pytest.fail(f"{reason}, and REQUIRE_SERVICES=1")
    pytest.skip(reason)


def photo(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/jpeg")


def create_subject(client: APIClient, org: str, ref: str, name: str = "") -> int:
    response = client.post(
        f"{API}/{org}/subjects/", {"external_ref": ref, "display_name": name}, format="json"
    )
    assert response.status_code == 201, response.content
    return int(response.json()["id"])


def grant(client: APIClient, org: str, subject_id: int, *purposes: str) -> list[int]:
    ids = []
    for purpose in purposes or ("enrollment", "verification", "identification"):
        response = client.post(
            f"{API}/{org}/subjects/{subject_id}/consents/",
            {"purpose": purpose, "policy_version": "1.0"},
            format="json",
        )
        assert response.status_code == 201, response.content
        ids.append(response.json()["id"])
    return ids


def enroll(
    client: APIClient,
    org: str,
    subject_id: int,
    capture: Callable[..., Any],
    *images: tuple[str, bytes],
    allow_duplicates: bool = False,
) -> dict[str, Any]:
    """POST an enrollment (running its task on commit) and return its status document."""
    with capture(execute=True):
        response = client.post(
            f"{API}/{org}/subjects/{subject_id}/enrollments/",
            {"images": [photo(n, d) for n, d in images], "allow_duplicates": allow_duplicates},
            format="multipart",
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == {"id", "status", "status_url"}
    status = client.get(body["status_url"])
    assert status.status_code == 200
    return dict(status.json())


def enrolled_subject(
    client: APIClient, org: str, ref: str, capture: Callable[..., Any], name: str, data: bytes
) -> int:
    subject_id = create_subject(client, org, ref)
    grant(client, org, subject_id)
    result = enroll(client, org, subject_id, capture, (name, data))
    assert result["status"] == "succeeded", result
    return subject_id


def verify(client: APIClient, org: str, subject_id: int, name: str, data: bytes) -> Any:
    return client.post(
        f"{API}/{org}/subjects/{subject_id}/verify/",
        {"image": photo(name, data)},
        format="multipart",
    )


def identify(client: APIClient, org: str, name: str, data: bytes, top_k: int = 5) -> Any:
    return client.post(
        f"{API}/{org}/identify/", {"image": photo(name, data), "top_k": top_k}, format="multipart"
    )


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])
