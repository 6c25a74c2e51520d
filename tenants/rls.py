"""PostgreSQL row-level security: the second wall behind organization-scoped selectors.

Every table with an ``organization_id`` column gets a policy (created by its migration through
:func:`enable_rls`) that admits a row only when

* the transaction runs in the *system context* (``app.system = 'on'``), or
* the row belongs to the *organization context* (``app.organization_id``), or
* (memberships only) the row is the current user's own (``app.user_id``), so the organization
  switcher can list a user's organizations without entering system context.

The policies are FORCEd so they bind the table owner too. They bind nothing for a PostgreSQL
superuser, which is why the application connects as an ordinary role (see .ci/run and
docs/adr/0002-row-level-security.md).

The context is per database session and is set at the edge only:

* web requests start with no organization and no system flag (TenantDatabaseContextMiddleware);
  the organization resolver (tenants.access) enters the organization once the caller is known to
  be a member;
* management commands, migrations, Celery workers and the ledger follower start in system context
  because they span organizations by nature (``PORTAL_DB_CONTEXT=system``, the default outside
  the web entry points), and tasks narrow it with :func:`organization_context`.

On SQLite all of this is a no-op: the selectors' explicit filters are the only wall there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, migrations


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def set_context(*, system: bool, organization_id: int | None, user_id: int | None) -> None:
    """Set the row-level security context of the current database session."""
    if not _is_postgres():
        return
    with connection.cursor() as cursor:
        # One round trip for the three settings.
        cursor.execute(
            "SELECT set_config('app.system', %s, false), "
            "set_config('app.organization_id', %s, false), set_config('app.user_id', %s, false)",
            ["on" if system else "off", str(organization_id or ""), str(user_id or "")],
        )


def get_context() -> dict[str, str]:
    if not _is_postgres():
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('app.system', true), "
            "current_setting('app.organization_id', true), current_setting('app.user_id', true)"
        )
        system, org, user = cursor.fetchone()
    return {"system": system or "", "organization_id": org or "", "user_id": user or ""}


def _restore(previous: dict[str, str]) -> None:
    if not previous:
        return
    set_context(
        system=previous["system"] == "on",
        organization_id=int(previous["organization_id"]) if previous["organization_id"] else None,
        user_id=int(previous["user_id"]) if previous["user_id"] else None,
    )


@contextmanager
def organization_context(organization_id: int, *, user_id: int | None = None) -> Iterator[None]:
    """Run the block seeing only ``organization_id``'s rows (and nothing in system context)."""
    previous = get_context()
    set_context(system=False, organization_id=organization_id, user_id=user_id)
    try:
        yield
    finally:
        _restore(previous)


@contextmanager
def system_context() -> Iterator[None]:
    """Run the block in the explicit system context (spans organizations: admin, follower)."""
    previous = get_context()
    set_context(system=True, organization_id=None, user_id=None)
    try:
        yield
    finally:
        _restore(previous)


def _policy_sql(table: str, *, own_user_column: str | None) -> str:
    own = (
        f" OR {own_user_column} = NULLIF(current_setting('app.user_id', true), '')::bigint"
        if own_user_column
        else ""
    )
    using = (
        "(coalesce(current_setting('app.system', true), '') = 'on'"
        " OR organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint"
        f"{own})"
    )
    # Writes must land in the organization of the context (or be system work).
    check = (
        "(coalesce(current_setting('app.system', true), '') = 'on'"
        " OR organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint)"
    )
    return (
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY;'
        f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY;'
        f'DROP POLICY IF EXISTS tenant_isolation ON "{table}";'
        f'CREATE POLICY tenant_isolation ON "{table}" USING {using} WITH CHECK {check};'
    )


def enable_rls(table: str, *, own_user_column: str | None = None) -> migrations.RunPython:
    """A migration operation enabling the tenant policy on ``table`` (PostgreSQL only)."""

    def forwards(apps: object, schema_editor: object) -> None:
        if schema_editor.connection.vendor != "postgresql":  # type: ignore[attr-defined]
            return
        schema_editor.execute(_policy_sql(table, own_user_column=own_user_column))  # type: ignore[attr-defined]

    def backwards(apps: object, schema_editor: object) -> None:
        if schema_editor.connection.vendor != "postgresql":  # type: ignore[attr-defined]
            return
        schema_editor.execute(  # type: ignore[attr-defined]
            f'DROP POLICY IF EXISTS tenant_isolation ON "{table}";'
            f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY;'
            f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY;'
        )

    return migrations.RunPython(forwards, backwards, elidable=False)


def tables_with_rls() -> set[str]:
    """Names of tables on which row-level security is enabled and forced (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relrowsecurity AND relforcerowsecurity "
            "AND relkind = 'r'"
        )
        return {row[0] for row in cursor.fetchall()}
