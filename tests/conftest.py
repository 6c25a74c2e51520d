"""The standard three-party world (every endpoint is tested against an outsider) and
service gating.

alice owns acme, bob is a plain member of acme, mallory belongs to globex; admin is a platform
superuser. Tests that need PostgreSQL, Redis or a Celery worker carry ``@pytest.mark.services``
(or use the fixtures below): they are skipped with a reason when the service is absent, and fail
instead when ``REQUIRE_SERVICES=1`` (as in CI).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# A job taken by a worker that is then killed comes back after this many seconds: short in tests
# so the redelivery test does not wait the production default.
os.environ.setdefault("CELERY_VISIBILITY_TIMEOUT", "30")

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from tenants import services
from tenants.models import Membership, Organization
from tenants.roles import Role

PASSWORD = "correct-horse-battery-staple"


def require_service(what: str, available: bool, why: str) -> None:
    """Skip (or fail under REQUIRE_SERVICES=1) when a service-bound test lacks its service."""
    if available:
        return
    message = f"needs {what}: {why}"
    if settings.REQUIRE_SERVICES or os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"REQUIRE_SERVICES=1 but this test {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None):
    """Create, migrate and finally drop the test database as the owner role (if one is set).

    pytest-django's django_db_setup runs inside this; the tests themselves run inside
    django_db_setup below, connected as the application role, as the web process is.
    """
    from tenants import rls

    with rls.owner_connection():
        yield


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None):
    from tenants import rls

    with rls.application_connection():
        yield


@pytest.fixture
def postgres(db: None) -> None:
    require_service(
        "PostgreSQL", settings.USING_POSTGRES, "DATABASE_URL does not point at PostgreSQL"
    )


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", bool(settings.REDIS_URL), "REDIS_URL is not set")
    return settings.REDIS_URL


@dataclass
class World:
    acme: Organization
    globex: Organization
    initech: Organization
    alice: object
    bob: object
    mallory: object
    admin: object


@pytest.fixture
def world(db: None) -> World:
    user_model = get_user_model()
    acme = Organization.objects.create(slug="acme", name="Acme Corporation")
    globex = Organization.objects.create(slug="globex", name="Globex Corporation")
    initech = Organization.objects.create(slug="initech", name="Initech")
    alice = user_model.objects.create_user("alice", "alice@acme.example", PASSWORD)
    bob = user_model.objects.create_user("bob", "bob@acme.example", PASSWORD)
    mallory = user_model.objects.create_user("mallory", "mallory@globex.example", PASSWORD)
    admin = user_model.objects.create_superuser("admin", "admin@alliance.example", PASSWORD)
    Membership.objects.create(user=alice, organization=acme, role=Role.OWNER)
    Membership.objects.create(user=bob, organization=acme, role=Role.MEMBER)
    Membership.objects.create(user=mallory, organization=globex, role=Role.MEMBER)
    return World(acme, globex, initech, alice, bob, mallory, admin)


#: The variables that point a process at services; a child process started without them runs the
#: embedded default (SQLite, in-process tasks, in-memory channel layer).
SERVICE_VARIABLES = (
    "DATABASE_URL",
    "DATABASE_MIGRATE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "TRUSTED_PROXIES",
)


def embedded_env(**extra: str) -> dict[str, str]:
    """This process's environment for a child that must run the embedded default."""
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    env.update(extra)
    return env


def token_for(user: object, organization: Organization, name: str = "test") -> str:
    membership = Membership.objects.get(user=user, organization=organization)
    _token, secret = services.token_create(membership=membership, name=name)
    return secret


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def api_as(user: object, organization: Organization) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user, organization)}")
    return client


@pytest.fixture(autouse=True)
def _tasks_run_in_process(request):
    """The fast mode: tasks run in process even when a broker is configured.

    Tests of the real path (a Celery worker process on Redis) ask for the ``redis_url`` fixture
    and keep the broker. The app reads settings through the ``CELERY`` namespace, so the
    namespaced key is the one to change.
    """
    if "redis_url" in request.fixturenames:
        yield
        return
    from portal.celery import app

    previous = app.conf.CELERY_TASK_ALWAYS_EAGER, app.conf.CELERY_TASK_EAGER_PROPAGATES
    app.conf.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.CELERY_TASK_EAGER_PROPAGATES = True
    yield
    app.conf.CELERY_TASK_ALWAYS_EAGER, app.conf.CELERY_TASK_EAGER_PROPAGATES = previous


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # Throttle counters and login lock-outs live in the cache: isolate tests from each other.
    from django.core.cache import cache

    cache.clear()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    reasons: dict[str, int] = {}
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reasons[reason] = reasons.get(reason, 0) + 1
    terminalreporter.section(f"{len(skipped)} skipped, and why")
    for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
        terminalreporter.write_line(f"{count:4d}  {reason}")
