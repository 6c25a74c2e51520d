"""A mobile team's first step works: a client generated from /api/schema/ imports and talks to
the portal.

openapi-python-client (pinned in requirements/dev.txt) turns the published schema into a Python
package; every generated module is imported, then a smoke flow runs against a live server with a
bearer token: the caller's organizations, subjects created and listed in JSON, a typed error for
another organization, the ledger's blocks. Those two are slow (`make test SLOW=1`); the fast tests
check what the generator needs: one content type per request body, JSON except photo uploads.
"""

from __future__ import annotations

import importlib
import pkgutil
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.conftest import World, api_as, token_for

PACKAGE = "portal_client"
# The operations that take a photo: the only request bodies that are not JSON.
UPLOADS = {
    ("post", "/api/v1/orgs/{org}/subjects/{id}/enrollments/"),
    ("post", "/api/v1/orgs/{org}/subjects/{id}/verify/"),
    ("post", "/api/v1/orgs/{org}/identify/"),
}


def test_every_request_body_has_one_content_type_and_only_uploads_are_multipart(
    world: World,
) -> None:
    # The fast guard of what the generated client needs (the slow tests below generate it).
    schema = api_as(world.alice, world.acme).get("/api/schema/?format=json").json()
    bodies = {
        (method, path): sorted(operation["requestBody"]["content"])
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    }
    expected = {
        key: ["multipart/form-data"] if key in UPLOADS else ["application/json"] for key in bodies
    }
    assert bodies == expected
    assert set(bodies) >= UPLOADS


def test_a_form_body_is_refused_where_json_is_expected(world: World) -> None:
    response = api_as(world.alice, world.acme).post(
        "/api/v1/orgs/acme/subjects/", {"external_ref": "EMP-1"}, format="multipart"
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def _generator() -> str:
    # The console script sits next to the interpreter running the tests (the project's venv).
    found = Path(sys.executable).with_name("openapi-python-client")
    if found.exists():
        return str(found)
    on_path = shutil.which("openapi-python-client")
    if on_path is None:
        pytest.fail("openapi-python-client is not installed (requirements/dev.txt pins it)")
    return on_path


@pytest.fixture
def generated(live_server: Any, world: World, tmp_path: Path) -> Iterator[ModuleType]:
    """The client package generated from the live server's schema, importable for the test."""
    token = token_for(world.alice, world.acme)
    schema = httpx.get(
        f"{live_server.url}/api/schema/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert schema.status_code == 200, schema.text
    schema_path = tmp_path / "schema.yml"
    schema_path.write_bytes(schema.content)
    # No post hooks: the generator would otherwise run ruff over its output, which is a
    # formatting nicety, not part of what the generated code must do.
    config = tmp_path / "config.yml"
    config.write_text(
        f"project_name_override: {PACKAGE}\npackage_name_override: {PACKAGE}\npost_hooks: []\n"
    )
    out = tmp_path / PACKAGE
    result = subprocess.run(
        [
            _generator(),
            "generate",
            "--path",
            str(schema_path),
            "--config",
            str(config),
            "--meta",
            "none",
            "--output-path",
            str(out),
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


@pytest.mark.slow
def test_every_generated_module_imports(generated: ModuleType) -> None:
    # A request body offered under several content types for one schema used to generate
    # operations that raised NameError at import; each module is imported to catch that class.
    failures = {}
    modules = list(pkgutil.walk_packages(generated.__path__, f"{PACKAGE}."))
    for module in modules:
        try:
            importlib.import_module(module.name)
        except Exception as exc:  # every failure is reported, not only the first
            failures[module.name] = f"{type(exc).__name__}: {exc}"
    assert failures == {}
    assert any(m.name.endswith(".orgs_subjects_create") for m in modules)


@pytest.mark.slow
def test_a_generated_client_runs_the_smoke_flow(
    generated: ModuleType, live_server: Any, world: World
) -> None:
    orgs_list = importlib.import_module(f"{PACKAGE}.api.orgs.orgs_list").sync
    subjects_create = importlib.import_module(f"{PACKAGE}.api.orgs.orgs_subjects_create").sync
    subjects_list = importlib.import_module(f"{PACKAGE}.api.orgs.orgs_subjects_list").sync
    blocks_list = importlib.import_module(f"{PACKAGE}.api.ledger.ledger_blocks_list").sync
    models = importlib.import_module(f"{PACKAGE}.models")

    client = generated.AuthenticatedClient(
        base_url=live_server.url,
        token=token_for(world.alice, world.acme),
        raise_on_unexpected_status=True,
        timeout=httpx.Timeout(30),
    )
    with client:
        orgs = orgs_list(client=client)
        assert isinstance(orgs, models.PaginatedMyOrganizationList)
        assert [(o.slug, o.role.value) for o in orgs.results] == [("acme", "owner")]

        created = subjects_create(
            "acme",
            client=client,
            body=models.SubjectInputRequest(external_ref="EMP-1", display_name="Ada"),
        )
        assert isinstance(created, models.Subject), created
        assert created.external_ref == "EMP-1"

        subjects = subjects_list("acme", client=client)
        assert isinstance(subjects, models.PaginatedSubjectList)
        assert [(s.id, s.display_name) for s in subjects.results] == [(created.id, "Ada")]

        # alice is no member of globex: the organization does not exist for her, in the one
        # error shape, parsed into the generated error model.
        elsewhere = subjects_list("globex", client=client)
        assert isinstance(elsewhere, models.Error), elsewhere
        assert elsewhere.error.code == "not_found"

        blocks = blocks_list(client=client)
        assert isinstance(blocks, models.PaginatedBlockList)
        assert blocks.count == len(blocks.results) == 0
