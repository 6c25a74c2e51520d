"""PostgreSQL row-level security: the second wall behind organization-scoped selectors.

Every table with an ``organization_id`` column gets a policy (created by its migration through
:func:`enable_rls`) that admits a row only when

* the session is in the *system context*, or
* the row belongs to the *organization context* (``app.organization_id``), or
* (memberships only) the row is the current user's own (``app.user_id``), so the organization
  switcher can list a user's organizations without entering system context.

The policies are FORCEd so they bind the table owner too. They bind nothing for a PostgreSQL
superuser, and the table owner could switch them off, which is why the application connects as a
role that owns nothing (``DATABASE_URL``) while migrations run as the owner role
(``DATABASE_MIGRATE_URL``, :func:`owner_connection`); see docs/adr/0002-row-level-security.md.

The system context is not a flag the session can set for itself. ``app.system`` must hold a token
bound to this database session (its backend pid and start time), computed with a key derived
from ``SECRET_KEY``; the policy checks it through ``portal_in_system_context()``, whose key table
only the owner role can read. An injected ``set_config('app.system', 'on')``, or a token copied
from another session, grants nothing.

The context is per database session and is set at the edge only:

* web requests start with no organization and no system context (TenantDatabaseContextMiddleware);
  the organization resolver (tenants.access) enters the organization once the caller is known to
  be a member;
* management commands, migrations, Celery workers and the ledger follower start in system context
  because they span organizations by nature (``PORTAL_DB_CONTEXT=system``, the default outside
  the web entry points), and tasks narrow it with :func:`organization_context`.

On SQLite all of this is a no-op: the selectors' explicit filters are the only wall there.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, migrations
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

# The message a system token signs: this backend's pid and start time. A token read from another
# session (pg_stat_activity shows other sessions' last statements) does not verify here, and a
# later backend that reuses the pid has another start time.
_SESSION_MESSAGE_SQL = (
    "SELECT pg_catalog.pg_backend_pid()::text || ':' || "
    "(pg_catalog.date_part('epoch', s.backend_start) * 1000000)::bigint::text "
    "FROM pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid()) AS s"
)

# Created idempotently by every enable_rls() and by tenants/migrations/0003 (whichever app's
# migration runs first needs it). Run by the owner role, so:
# - portal_private (schema and key table) is the owner's alone: the application role has no
#   USAGE on it and cannot read, replace or delete the key;
# - the verifier is SECURITY DEFINER (it reads the key), the two others run as the caller (a
#   session can see its own backend_start, the owner cannot see another role's);
# - every name is schema-qualified and search_path is pinned with pg_temp last, so a temporary
#   table or function of the caller's cannot stand in for ours.
SYSTEM_CONTEXT_SQL = """
CREATE SCHEMA IF NOT EXISTS portal_private;
REVOKE ALL ON SCHEMA portal_private FROM PUBLIC;
CREATE TABLE IF NOT EXISTS portal_private.system_key (
    id smallint PRIMARY KEY CHECK (id = 1),
    key bytea NOT NULL
);
REVOKE ALL ON portal_private.system_key FROM PUBLIC;
CREATE OR REPLACE FUNCTION public.portal_session_message() RETURNS text
    LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
    AS $fn$ {session_message} $fn$;
CREATE OR REPLACE FUNCTION public.portal_system_token_is_valid(message text, token text)
    RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $fn$
    SELECT coalesce((
        SELECT pg_catalog.encode(pg_catalog.sha256(k.key || pg_catalog.sha256(
                   k.key || pg_catalog.convert_to(message, 'UTF8'))), 'hex') = token
        FROM portal_private.system_key AS k WHERE k.id = 1
    ), false)
    $fn$;
CREATE OR REPLACE FUNCTION public.portal_in_system_context() RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
    AS $fn$
    DECLARE
        token text := pg_catalog.current_setting('app.system', true);
    BEGIN
        IF token IS NULL OR pg_catalog.length(token) <> 64 THEN
            RETURN false;
        END IF;
        RETURN public.portal_system_token_is_valid(public.portal_session_message(), token);
    END
    $fn$;
""".replace("{session_message}", _SESSION_MESSAGE_SQL)


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def system_key() -> bytes:
    """The key system tokens are made with: derived from SECRET_KEY, installed by ``migrate``."""
    return hmac.new(
        settings.SECRET_KEY.encode(), b"tenants.rls.system-context", hashlib.sha256
    ).digest()


def compute_system_token(key: bytes, message: str) -> str:
    """``sha256(key || sha256(key || message))``, as ``portal_system_token_is_valid`` checks."""
    inner = hashlib.sha256(key + message.encode()).digest()
    return hashlib.sha256(key + inner).hexdigest()


def _system_token(conn: Any) -> str:
    """This database session's system token (one query per new connection, then cached)."""
    token: str | None = getattr(conn, "portal_system_token", None)
    if token is None:
        with conn.cursor() as cursor:
            cursor.execute(_SESSION_MESSAGE_SQL)
            (message,) = cursor.fetchone()
        token = compute_system_token(system_key(), message)
        conn.portal_system_token = token
    return token


def start_session(conn: Any) -> None:
    """Put a new PostgreSQL session in the process's declared context (``PORTAL_DB_CONTEXT``)."""
    conn.portal_system_token = None
    value = _system_token(conn) if settings.PORTAL_DB_CONTEXT == "system" else ""
    with conn.cursor() as cursor:
        cursor.execute("SELECT set_config('app.system', %s, false)", [value])


def set_context(*, system: bool, organization_id: int | None, user_id: int | None) -> None:
    """Set the row-level security context of the current database session."""
    if not _is_postgres():
        return
    token = _system_token(connection) if system else ""
    with connection.cursor() as cursor:
        # One round trip for the three settings.
        cursor.execute(
            "SELECT set_config('app.system', %s, false), "
            "set_config('app.organization_id', %s, false), set_config('app.user_id', %s, false)",
            [token, str(organization_id or ""), str(user_id or "")],
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
    in_system = bool(system) and hmac.compare_digest(system, _system_token(connection))
    return {
        "system": "on" if in_system else "off",
        "organization_id": org or "",
        "user_id": user or "",
    }


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


_IN_SYSTEM_CONTEXT = "(SELECT public.portal_in_system_context())"


def _policy_sql(
    table: str, *, own_user_column: str | None, shared_with_column: str | None = None
) -> str:
    own = (
        f" OR {own_user_column} = NULLIF(current_setting('app.user_id', true), '')::bigint"
        if own_user_column
        else ""
    )
    # A second organization reads the row (a payment's payee) but cannot write it: the column is
    # in USING only, never in WITH CHECK.
    if shared_with_column:
        own += (
            f" OR {shared_with_column} = "
            "NULLIF(current_setting('app.organization_id', true), '')::bigint"
        )
    # The sub-select makes the system check an InitPlan: evaluated once per query, not per row.
    using = (
        f"({_IN_SYSTEM_CONTEXT}"
        " OR organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint"
        f"{own})"
    )
    # Writes must land in the organization of the context (or be system work).
    check = (
        f"({_IN_SYSTEM_CONTEXT}"
        " OR organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint)"
    )
    return (
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY;'
        f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY;'
        f'DROP POLICY IF EXISTS tenant_isolation ON "{table}";'
        f'CREATE POLICY tenant_isolation ON "{table}" USING {using} WITH CHECK {check};'
    )


def enable_rls(
    table: str, *, own_user_column: str | None = None, shared_with_column: str | None = None
) -> migrations.RunPython:
    """A migration operation enabling the tenant policy on ``table`` (PostgreSQL only).

    ``shared_with_column`` names a second organization column whose organization may read the
    row too, never write it (a payment is the payer's row, readable by the payee)."""

    def forwards(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(SYSTEM_CONTEXT_SQL)
        sql = _policy_sql(
            table, own_user_column=own_user_column, shared_with_column=shared_with_column
        )
        schema_editor.execute(sql)

    def backwards(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(
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


# --- Roles: the owner migrates, the application role owns nothing ---------------------------


def install_system_key(conn: Any) -> None:
    """Store the system key where only the owner role can read it (a no-op for other roles)."""
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT pg_catalog.pg_has_role(c.relowner, 'USAGE') FROM pg_catalog.pg_class AS c "
            "WHERE c.oid = pg_catalog.to_regclass('portal_private.system_key')"
        )
        row = cursor.fetchone()
        if not row or not row[0]:
            return
        cursor.execute(
            "INSERT INTO portal_private.system_key (id, key) VALUES (1, %s) "
            "ON CONFLICT (id) DO UPDATE SET key = EXCLUDED.key",
            [system_key()],
        )


def grant_to_application_role(conn: Any, role: str) -> None:
    """Give ``role`` DML on the schema's tables, now and for tables the owner creates later.

    DML only: without ownership the role cannot ALTER a table (row-level security, triggers),
    DROP it, or TRUNCATE it (TRUNCATE skips both policies and row triggers).
    """
    role = conn.ops.quote_name(role)
    statements = [
        "GRANT USAGE ON SCHEMA public TO {role}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public"
        " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
        # Reading the migration history is enough (runserver's check); rewriting it is not.
        "REVOKE INSERT, UPDATE, DELETE ON django_migrations FROM {role}",
        # PostgreSQL 15 no longer lets PUBLIC create in the public schema; older servers do.
        "DO $$ BEGIN IF pg_catalog.pg_has_role((SELECT nspowner FROM pg_catalog.pg_namespace"
        " WHERE nspname = 'public'), 'USAGE') THEN"
        " REVOKE CREATE ON SCHEMA public FROM PUBLIC; END IF; END $$",
    ]
    with conn.cursor() as cursor:
        for statement in statements:
            # The role name comes from settings and is quoted; DDL takes no bound parameters.
            cursor.execute(statement.format(role=role))


def after_migrate(using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """post_migrate (also after ``flush``): refresh the system key and the application's grants.

    Re-running ``migrate`` therefore follows a rotated SECRET_KEY.
    """
    conn = connections[using]
    if conn.vendor != "postgresql":
        return
    install_system_key(conn)
    credentials = _application_credentials(conn)
    if credentials is not None:
        grant_to_application_role(conn, credentials["USER"])


# While owner_connection holds a connection as the owner role, the application role's
# credentials wait on Django's connection object (one per thread and alias), under this name.
_APPLICATION_CREDENTIALS = "portal_application_credentials"


def _application_credentials(conn: BaseDatabaseWrapper) -> dict[str, Any] | None:
    credentials: dict[str, Any] | None = getattr(conn, _APPLICATION_CREDENTIALS, None)
    return credentials


def _set_application_credentials(
    conn: BaseDatabaseWrapper, credentials: dict[str, Any] | None
) -> None:
    setattr(conn, _APPLICATION_CREDENTIALS, credentials)


def _switch_credentials(conn: BaseDatabaseWrapper, credentials: dict[str, Any]) -> dict[str, Any]:
    previous = {key: conn.settings_dict.get(key) for key in credentials}
    conn.close()
    conn.settings_dict.update(credentials)
    return previous


@contextmanager
def owner_connection(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Run the block connected as the owner role (``DATABASE_MIGRATE_URL``), if one is set.

    ``migrate`` and ``flush`` use it: they create, alter and truncate tables, which the
    application role may not. Nested use, and use without a separate owner role, change nothing.
    """
    owner = settings.DATABASE_OWNER
    conn = connections[using]
    if owner is None or using != DEFAULT_DB_ALIAS or _application_credentials(conn) is not None:
        yield
        return
    application = _switch_credentials(conn, owner)
    _set_application_credentials(conn, application)
    try:
        yield
    finally:
        # A nested application_connection has put the same credentials back by now.
        _switch_credentials(conn, application)
        _set_application_credentials(conn, None)


@contextmanager
def application_connection(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Inside :func:`owner_connection`, run the block as the application role again.

    The test suite creates its database as the owner and runs the tests inside this.
    """
    conn = connections[using]
    credentials = _application_credentials(conn)
    if credentials is None:
        yield
        return
    owner = _switch_credentials(conn, credentials)
    _set_application_credentials(conn, None)
    try:
        yield
    finally:
        _set_application_credentials(conn, _switch_credentials(conn, owner))
