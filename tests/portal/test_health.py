from __future__ import annotations

import pytest


def test_healthz_says_ok(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_every_dependency(client) -> None:
    body = client.get("/readyz").json()
    assert set(body["checks"]) == {"database", "cache", "channel_layer", "broker"}
    assert body["failing"] == []
    assert body["status"] == "ok"


@pytest.mark.django_db
def test_readyz_names_what_is_down(client, monkeypatch) -> None:
    from portal import health

    def broken() -> None:
        raise ConnectionError("redis is down")

    monkeypatch.setitem(health.CHECKS, "cache", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["cache"]
    assert "redis is down" in response.json()["checks"]["cache"]
