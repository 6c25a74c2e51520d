"""Settings: outside production, the secret key is this installation's own and random."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRINT_KEY = (
    "import django,os;os.environ.setdefault('DJANGO_SETTINGS_MODULE','portal.settings');"
    "django.setup();from django.conf import settings;print(settings.SECRET_KEY)"
)


def secret_key(var_dir: Path, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", PRINT_KEY],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PORTAL_ENV": "development",
            "SECRET_KEY": "",
            "PORTAL_VAR_DIR": str(var_dir),
            **env,
        },
        timeout=120,
        check=True,
    )
    return result.stdout.strip()


def test_development_generates_a_private_random_key_once(tmp_path) -> None:
    # given two installations without SECRET_KEY
    first = secret_key(tmp_path / "one")
    other = secret_key(tmp_path / "two")
    # then each has its own long random key, kept in var/secret_key readable by its owner only
    assert len(first) >= 50 and first != other
    key_file = tmp_path / "one" / "secret_key"
    assert key_file.read_text().strip() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # and a restart keeps it (sessions and invitation links stay valid)
    assert secret_key(tmp_path / "one") == first
    assert "insecure" not in first


def test_a_configured_secret_key_wins_and_writes_no_file(tmp_path) -> None:
    assert secret_key(tmp_path, SECRET_KEY="configured-" + "k" * 50) == "configured-" + "k" * 50
    assert not (tmp_path / "secret_key").exists()


def test_processes_starting_together_agree_on_one_key(tmp_path) -> None:
    env = {**os.environ, "PORTAL_ENV": "development", "SECRET_KEY": ""}
    env["PORTAL_VAR_DIR"] = str(tmp_path)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PRINT_KEY], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    keys = {process.communicate(timeout=120)[0].strip() for process in processes}
    assert keys == {(tmp_path / "secret_key").read_text().strip()}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".secret_key")] == []
