"""The ledger's settings: parsed once, strictly, by portal/settings.py; read through ledger.conf."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ledger import conf

ROOT = Path(__file__).resolve().parents[3]


def load_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Import portal.settings in a fresh interpreter with ``env`` and print the ledger's values."""
    code = (
        "import portal.settings as s;"
        "print(s.LEDGER_NODE_URLS, s.LEDGER_HTTP_TIMEOUT, s.LEDGER_KEY_ENCRYPTION_KEY)"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PORTAL_VAR_DIR": str(tmp_path), **env},
        timeout=120,
        check=False,
    )


def test_node_urls_are_parsed_once_and_must_be_http_urls(tmp_path: Path) -> None:
    # given good URLs (one with a trailing slash), then an ftp URL, then a URL without a host
    good = load_settings(tmp_path, LEDGER_NODE_URLS="http://a:1/, https://b:2")
    ftp = load_settings(tmp_path, LEDGER_NODE_URLS="http://a:1,ftp://x")
    hostless = load_settings(tmp_path, LEDGER_NODE_URLS="http://")
    # then the good ones are normalized, the others stop the start naming the setting
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("['http://a:1', 'https://b:2'] 5.0")
    for bad in (ftp, hostless):
        assert bad.returncode != 0
        assert "LEDGER_NODE_URLS entry" in bad.stderr


def test_a_malformed_key_encryption_key_or_timeout_stops_the_start(tmp_path: Path) -> None:
    short_key = load_settings(tmp_path, LEDGER_KEY_ENCRYPTION_KEY="00" * 16)
    no_timeout = load_settings(tmp_path, LEDGER_HTTP_TIMEOUT="0")
    assert short_key.returncode != 0
    assert "LEDGER_KEY_ENCRYPTION_KEY must be 32 bytes" in short_key.stderr
    assert no_timeout.returncode != 0
    assert "LEDGER_HTTP_TIMEOUT must be a positive" in no_timeout.stderr


def test_the_accessors_read_django_settings_only(settings, monkeypatch, tmp_path) -> None:
    # given the environment says one thing and the settings another
    monkeypatch.setenv("LEDGER_NODE_URLS", "http://from-the-environment:1")
    monkeypatch.setenv("LEDGER_HTTP_TIMEOUT", "99")
    settings.LEDGER_NODE_URLS = ["http://from-settings:1"]
    settings.LEDGER_HTTP_TIMEOUT = 2.5
    settings.LEDGER_STATUS_CACHE_SECONDS = 0.0
    settings.LEDGER_GENESIS_FILE = str(tmp_path / "genesis.json")
    # then the settings win
    assert conf.node_urls() == ["http://from-settings:1"]
    assert conf.http_timeout() == 2.5
    assert conf.status_cache_seconds() == 0.0
    assert conf.genesis_file() == tmp_path / "genesis.json"
    settings.LEDGER_GENESIS_FILE = None
    assert conf.genesis_file() is None
