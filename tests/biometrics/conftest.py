"""Fixtures shared by the biometrics test modules."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from biometrics import selectors
from tests.biometrics.api_support import require_engine
from tests.biometrics.photos import PhotoUnavailable, fetch_real_photos
from tests.conftest import api_as


@pytest.fixture(scope="session")
def real_photos() -> dict[str, bytes]:
    """The real photos' bytes by file name; fails (never skips) when they cannot be fetched."""
    try:
        paths = fetch_real_photos()
    except PhotoUnavailable as exc:
        pytest.fail(f"real test photos unavailable: {exc}")
    return {name: path.read_bytes() for name, path in paths.items()}


@pytest.fixture
def engine_ready() -> None:
    require_engine()
    selectors.get_gallery_cache().clear()


@pytest.fixture(autouse=True)
def _fresh_galleries() -> None:
    selectors.get_gallery_cache().clear()


@pytest.fixture
def alice(world: Any) -> APIClient:
    return api_as(world.alice, world.acme)
