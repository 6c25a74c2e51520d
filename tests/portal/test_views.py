"""The portal's own pages: error pages instead of Django's debug pages, and the favicon."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib import admin
from django.test import Client

from tests.conftest import embedded_env

ROOT = Path(__file__).resolve().parents[2]
SHOW_DEBUG = (
    "import django,os;os.environ.setdefault('DJANGO_SETTINGS_MODULE','portal.settings');"
    "django.setup();from django.conf import settings;print(settings.DEBUG)"
)


def _debug_setting(tmp_path: Path, **env: str) -> str:
    child_env = embedded_env(PORTAL_VAR_DIR=str(tmp_path), **env)
    for name in ("DEBUG", "PORTAL_ENV"):
        if name not in env:
            child_env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-c", SHOW_DEBUG],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_debug_is_off_by_default_even_in_development(tmp_path) -> None:
    # ``make run`` sets neither variable: the first user must not see Django's technical pages.
    assert _debug_setting(tmp_path) == "False"


def test_debug_is_on_only_when_asked_for(tmp_path) -> None:
    assert _debug_setting(tmp_path, DEBUG="true") == "True"


def test_a_non_member_gets_the_portals_own_not_found_page(world) -> None:
    client = Client()
    client.force_login(world.mallory)
    response = client.get("/o/acme/")
    assert response.status_code == 404
    assert b"<h1>Not found</h1>" in response.content
    assert b"URLconf" not in response.content


def test_every_page_links_the_favicon_and_it_is_served(world) -> None:
    client = Client()
    page = client.get("/login/")
    assert b'<link rel="icon" href="/static/portal/favicon.svg" type="image/svg+xml">' in (
        page.content
    )
    icon = client.get("/static/portal/favicon.svg")
    assert icon.status_code == 200
    assert icon["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in b"".join(icon.streaming_content)


def test_favicon_ico_leads_to_the_icon(db) -> None:
    response = Client().get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/portal/favicon.svg"


def _misspelt_plural(plural: str) -> bool:
    """English plurals that a bare ``+ "s"`` gets wrong: outboxs, entrys, searchs, classs."""
    last = plural.split()[-1]
    return bool(re.search(r"(xs|chs|shs|sss|[^aeiou]ys)$", last))


def test_every_admin_model_has_a_correct_plural() -> None:
    wrong = {
        model._meta.label: str(model._meta.verbose_name_plural)
        for model in admin.site._registry
        if _misspelt_plural(str(model._meta.verbose_name_plural))
    }
    assert wrong == {}


def test_the_admin_index_lists_ledger_outbox_entries(world) -> None:
    client = Client()
    client.force_login(world.admin)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert b"Ledger outbox entries" in response.content
    assert b"API tokens" in response.content
    assert b"outboxs" not in response.content.lower()


# Runs portal/static/portal/app.js under Node with a minimal DOM: the live feed receives events
# that a member's socket may or may not carry (audit.created goes to admins only), with partial
# data, and one message that is not JSON.
FEED_HARNESS = r"""
const fs = require("fs");
const listeners = {}, items = [], sockets = [];
const element = () => ({
  textContent: "",
  appendChild(child) { this.textContent += child.textContent || child.text || ""; },
});
const list = {
  children: items, firstChild: null, lastChild: null,
  getAttribute: () => "/ws/orgs/acme/events/",
  insertBefore(li) { items.unshift(li); },
  removeChild() { items.pop(); },
};
global.window = { WebSocket: true };
global.location = { protocol: "http:", host: "testserver" };
global.CustomEvent = function (type, init) { this.type = type; this.detail = init.detail; };
global.setTimeout = () => 0;
global.WebSocket = function (url) { this.url = url; sockets.push(this); };
global.document = {
  addEventListener(type, fn) { listeners[type] = fn; },
  getElementById: (id) => (id === "live-feed" ? list : null),
  createElement: element,
  createTextNode: (text) => ({ text }),
  dispatchEvent() {},
};
eval(fs.readFileSync(process.argv[1], "utf8"));
listeners.DOMContentLoaded();
const ws = sockets[0];
ws.onopen();
for (const data of [
  "not json",
  JSON.stringify({ type: "feed.ready" }),
  JSON.stringify({
    type: "block.committed", at: "2026-01-01T10:00:00Z", data: { height: 7, tx_count: 1 },
  }),
  JSON.stringify({ type: "audit.created" }),
  JSON.stringify({ type: "payment.updated", data: { id: 3, status: "settled" } }),
  JSON.stringify({ type: "ledger.tx", data: {} }),
]) { ws.onmessage({ data }); }
const d = window.portalDescribeEvent;
console.log(JSON.stringify({
  feed: items.map((li) => li.textContent),
  described: [
    d({ type: "audit.created",
        data: { actor: "alice", action: "member.added", object_repr: "bob" } }),
    d({ type: "block.committed", data: { height: 8 } }),
    d({}),
  ],
}));
"""


def test_the_live_feed_script_copes_with_any_event_a_member_may_get() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    result = subprocess.run(
        [node, "-e", FEED_HARNESS, str(ROOT / "portal/static/portal/app.js")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert len(out["feed"]) == 4  # not JSON and feed.ready are skipped, nothing throws
    assert out["feed"] == [
        " Ledger transaction: updated",
        " Payment 3: settled",
        " Someone acted",
        "10:00:00 Block 7 committed (1 transaction)",
    ]
    assert out["described"] == [
        "alice member.added bob",
        "Block 8 committed (0 transactions)",
        "Event",
    ]
