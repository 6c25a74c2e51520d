"""Project-level checks: deploy settings, migrations, lint, commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

from tenants.models import Membership, Organization

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        # The owner role's URL belongs to the suite's own database, not to these processes'.
        env={**{k: v for k, v in os.environ.items() if k != "DATABASE_MIGRATE_URL"}, **(env or {})},
        timeout=300,
        check=False,
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path) -> None:
    result = run(
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={
            "PORTAL_ENV": "production",
            "SECRET_KEY": "x" * 64 + "-a-long-random-production-key",
            "BIOMETRICS_KEK": "ab" * 32,
            "LEDGER_KEY_ENCRYPTION_KEY": "cd" * 32,
            "DATABASE_URL": "postgres://portal@127.0.0.1:5432/portal",
            "ALLOWED_HOSTS": "portal.example.org",
            "PORTAL_VAR_DIR": str(tmp_path),
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_flags_a_missing_template_key(tmp_path) -> None:
    result = run(
        "manage.py",
        "check",
        "--deploy",
        env={
            "PORTAL_ENV": "production",
            "SECRET_KEY": "y" * 64 + "-another-long-production-key",
            "ALLOWED_HOSTS": "portal.example.org",
            "PORTAL_VAR_DIR": str(tmp_path),
            "BIOMETRICS_KEK": "",
            "DATABASE_URL": "postgres://portal@127.0.0.1:5432/portal",
        },
    )
    assert result.returncode != 0
    assert "portal.E001" in result.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path) -> None:
    result = run(
        "manage.py",
        "check",
        env={"PORTAL_ENV": "production", "SECRET_KEY": "", "PORTAL_VAR_DIR": str(tmp_path)},
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_a_migrate_url_for_another_database_fails_loudly(tmp_path) -> None:
    result = run(
        "manage.py",
        "check",
        env={
            "PORTAL_VAR_DIR": str(tmp_path),
            "DATABASE_URL": "postgres://portal@127.0.0.1:5432/portal",
            "DATABASE_MIGRATE_URL": "postgres://portal_owner@127.0.0.1:5432/elsewhere",
        },
    )
    assert result.returncode != 0
    assert "DATABASE_MIGRATE_URL must name the database of DATABASE_URL" in result.stderr


def test_production_hashes_passwords_with_argon2(tmp_path) -> None:
    result = run(
        "-c",
        "import django,os;os.environ.setdefault('DJANGO_SETTINGS_MODULE',"
        "'portal.settings');django.setup();from django.conf import settings;"
        "print(settings.PASSWORD_HASHERS[0])",
        env={"PORTAL_ENV": "production", "SECRET_KEY": "k" * 60, "PORTAL_VAR_DIR": str(tmp_path)},
    )
    assert result.stdout.strip() == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_a_malformed_boolean_setting_fails_loudly(tmp_path) -> None:
    result = run("manage.py", "check", env={"DEBUG": "maybe", "PORTAL_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "is not a boolean" in result.stderr


@pytest.mark.django_db
def test_migrations_are_complete() -> None:
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_ruff_is_clean() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ruff"), "check", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.django_db
def test_seed_demo_is_idempotent(capsys) -> None:
    call_command("seed_demo", "--password", "demo-password-123")
    call_command("seed_demo", "--password", "demo-password-123")
    assert sorted(Organization.objects.values_list("slug", flat=True)) == [
        "acme",
        "globex",
        "initech",
    ]
    assert sorted(
        (m.user.username, m.organization.slug, m.role) for m in Membership.objects.all()
    ) == [("alice", "acme", "owner"), ("bob", "acme", "member"), ("mallory", "globex", "member")]
    assert "demo-password-123" in capsys.readouterr().out


@pytest.mark.django_db
def test_issue_token_prints_only_a_working_token(capsys, client) -> None:
    call_command("seed_demo")
    capsys.readouterr()
    call_command("issue_token", "bob", "acme")
    token = capsys.readouterr().out
    assert token.count("\n") == 1 and token.startswith("ap_")
    response = client.get("/api/v1/orgs/acme/", HTTP_AUTHORIZATION=f"Bearer {token.strip()}")
    assert response.status_code == 200


def test_the_openapi_schema_is_valid_and_warning_free(tmp_path) -> None:
    """drf-spectacular resolves every endpoint, parameter and body without guessing."""
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    assert "/api/v1/orgs/{org}/members/" in schema["paths"]
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    error = schema["paths"]["/api/v1/orgs/{org}/"]["get"]["responses"]["404"]
    assert error["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
