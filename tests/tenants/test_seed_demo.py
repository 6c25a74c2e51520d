"""``manage.py seed_demo`` prints the address the portal really runs on."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]


def _seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_it_prints_the_login_address_on_the_port_given() -> None:
    assert "http://127.0.0.1:8123/login/" in _seed("--port", "8123")
    # Also when the demo exists already (what every later ``make run`` prints).
    again = _seed("--if-empty", "--port", "9001")
    assert "http://127.0.0.1:9001/login/" in again
    assert ":8000" not in again


@pytest.mark.django_db
def test_a_wildcard_host_is_printed_as_the_loopback_address() -> None:
    assert "http://127.0.0.1:8000/login/" in _seed("--host", "0.0.0.0")  # noqa: S104  (only printed)
    assert "http://[::1]:8000/login/" in _seed("--host", "::1")


def test_make_run_passes_its_host_and_port() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "seed_demo --if-empty --host $(HOST) --port $(PORT)" in makefile
