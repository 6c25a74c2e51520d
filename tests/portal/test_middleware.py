"""Security headers: a strict Content-Security-Policy, and templates that need no exception."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]


def directives(header: str) -> dict[str, str]:
    return {
        part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2]
        for part in header.split(";")
        if part.strip()
    }


@pytest.mark.parametrize("path", ["/login/", "/o/acme/", "/o/acme/members/", "/api/v1/orgs/"])
def test_every_response_carries_a_strict_content_security_policy(world, path) -> None:
    client = Client()
    client.force_login(world.alice)
    policy = directives(client.get(path)["Content-Security-Policy"])
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["connect-src"] == "'self' ws://testserver"
    assert "unsafe-inline" not in client.get(path)["Content-Security-Policy"]


def test_our_templates_have_no_inline_script_or_style() -> None:
    # The policy forbids them: an inline script or style in our templates would silently break.
    offenders = []
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) or re.search(r"<style\b", text):
            offenders.append(template.name)
        if re.search(r"\sstyle=\"|\son[a-z]+=\"", text):
            offenders.append(template.name)
    assert offenders == []


def test_the_rendered_pages_have_no_inline_script_or_style(world) -> None:
    client = Client()
    client.force_login(world.alice)
    for path in ("/o/acme/", "/o/acme/members/", "/o/acme/tokens/", "/o/acme/identify/"):
        html = client.get(path).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"<style\b|\sstyle=\"", html), path


def test_the_api_docs_need_no_inline_script_or_style(client) -> None:
    html = client.get("/api/docs/").content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b", html)
    script = re.search(r'<script src="(/api/docs/\?[^"]*script[^"]*)"', html).group(1)
    response = client.get(script.replace("&amp;", "&"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
