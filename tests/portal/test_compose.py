"""docker-compose.yml describes the production topology and stays consistent."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def load() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_the_production_topology_has_every_service() -> None:
    services = load()["services"]
    assert {"postgres", "redis", "web", "worker", "worker-biometrics", "beat"} <= set(services)
    assert "uvicorn" in services["web"]["command"]
    assert "-Q" in services["worker-biometrics"]["command"]
    assert (
        services["worker-biometrics"]["command"][
            services["worker-biometrics"]["command"].index("-Q") + 1
        ]
        == "biometrics"
    )


def test_the_portal_never_connects_as_the_postgres_superuser() -> None:
    web_env = load()["services"]["web"]["environment"]
    assert web_env["DATABASE_URL"].startswith("postgres://portal:")
    init = (ROOT / "docker" / "postgres-init.sh").read_text()
    assert "NOSUPERUSER" in init and "NOBYPASSRLS" in init


def test_only_the_migrate_service_has_the_schema_owners_password() -> None:
    services = load()["services"]
    migrate_env = services["migrate"]["environment"]
    assert migrate_env["DATABASE_MIGRATE_URL"].startswith("postgres://portal_owner:")
    assert migrate_env["DATABASE_URL"].startswith("postgres://portal:")
    others = [
        name
        for name, service in services.items()
        if name != "migrate" and "DATABASE_MIGRATE_URL" in (service.get("environment") or {})
    ]
    assert others == []
    init = (ROOT / "docker" / "postgres-init.sh").read_text()
    assert "CREATE DATABASE portal OWNER portal_owner" in init


def test_secrets_come_from_the_environment() -> None:
    web_env = load()["services"]["web"]["environment"]
    for name in ("SECRET_KEY", "BIOMETRICS_KEK"):
        assert web_env[name].startswith("${") and ":?" in web_env[name]


def test_docker_compose_config_parses_when_docker_compose_is_installed(tmp_path) -> None:
    docker = shutil.which("docker")
    if (
        docker is None
        or subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False
        ).returncode
        != 0
    ):
        # The machine kind has only the docker client without the compose plugin; the
        # structural tests above still hold the file to the topology.
        return
    env = {
        "SECRET_KEY": "s",
        "BIOMETRICS_KEK": "k",
        "POSTGRES_PASSWORD": "p",
        "PORTAL_DB_PASSWORD": "q",
        "PORTAL_DB_OWNER_PASSWORD": "o",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [docker, "compose", "config", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
