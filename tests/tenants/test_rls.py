"""PostgreSQL row-level security: the second wall behind the organization filters."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection

from tenants import rls, services
from tenants.models import ApiToken, AuditEvent, Invitation, Membership
from tenants.roles import Role
from tests.conftest import token_for


@pytest.fixture
def both_orgs_have_rows(world):
    token_for(world.alice, world.acme)
    token_for(world.mallory, world.globex)
    services.invitation_create(
        organization=world.acme,
        email="a@example.com",
        role=Role.MEMBER,
        actor=world.alice,
        actor_role=Role.OWNER,
    )
    Membership.objects.filter(user=world.mallory).update(role=Role.OWNER)
    services.invitation_create(
        organization=world.globex,
        email="g@example.com",
        role=Role.MEMBER,
        actor=world.mallory,
        actor_role=Role.OWNER,
    )
    return world


def test_the_application_role_is_not_a_superuser(postgres) -> None:
    """RLS binds nothing for a superuser: the test database role must be an ordinary one."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        (is_superuser,) = cursor.fetchone()
    assert is_superuser is False, "connect as a non-superuser role (see .ci/run)"


def test_an_unfiltered_query_in_acme_context_returns_none_of_globex_rows(
    postgres, both_orgs_have_rows
) -> None:
    world = both_orgs_have_rows
    with rls.system_context():
        assert AuditEvent.objects.filter(organization=world.globex).count() > 0
        assert ApiToken.objects.count() == 2
    with rls.organization_context(world.acme.pk):
        # Deliberately unfiltered: the database itself must hide globex.
        for model in (Membership, Invitation, ApiToken, AuditEvent):
            orgs = set(model.objects.values_list("organization__slug", flat=True))
            assert orgs == {"acme"}, (model.__name__, orgs)


def test_without_any_context_nothing_tenant_owned_is_visible(postgres, both_orgs_have_rows) -> None:
    rls.set_context(system=False, organization_id=None, user_id=None)
    try:
        assert AuditEvent.objects.count() == 0
        assert ApiToken.objects.count() == 0
    finally:
        rls.set_context(system=True, organization_id=None, user_id=None)


def test_a_write_into_another_organization_is_refused(postgres, both_orgs_have_rows) -> None:
    from django.db import DatabaseError, transaction

    world = both_orgs_have_rows
    with rls.organization_context(world.acme.pk), pytest.raises(DatabaseError):  # noqa: SIM117
        with transaction.atomic():
            AuditEvent.objects.create(organization=world.globex, action="forged", object_type="x")


def test_the_audit_log_is_append_only(postgres, world) -> None:
    from django.db import DatabaseError, transaction

    event = services.audit_record(organization=world.acme, actor=world.alice, action="x.y")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="rewritten")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_every_model_with_an_organization_has_rls_enabled(postgres) -> None:
    protected = rls.tables_with_rls()
    missing = [
        model._meta.db_table
        for model in apps.get_models()
        if any(f.name == "organization" and f.many_to_one for f in model._meta.get_fields())
        and model._meta.db_table not in protected
    ]
    assert missing == []


# --- The application role against injected SQL ----------------------------------------------
# These run as the application role (DATABASE_URL): the owner role (DATABASE_MIGRATE_URL) created
# and migrated the test database. Each statement is what an injected query could try.


@pytest.fixture
def application_role(postgres) -> None:
    from django.conf import settings

    from tests.conftest import require_service

    require_service(
        "separate owner and application roles",
        settings.DATABASE_OWNER is not None,
        "DATABASE_MIGRATE_URL is not set, so the tests connect as the owner (see .ci/run)",
    )


def _run_refused(sql: str, match: str) -> None:
    from django.db import ProgrammingError, transaction

    with pytest.raises(ProgrammingError, match=match), transaction.atomic():  # noqa: SIM117
        with connection.cursor() as cursor:
            cursor.execute(sql)


def test_the_application_role_owns_no_table(application_role) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname IN ('public', 'portal_private') AND pg_has_role(c.relowner, 'USAGE')"
        )
        owned = [row[0] for row in cursor.fetchall()]
    assert owned == []


def test_the_application_role_cannot_switch_row_level_security_off(application_role) -> None:
    _run_refused('ALTER TABLE "tenants_apitoken" NO FORCE ROW LEVEL SECURITY', "must be owner")
    _run_refused('ALTER TABLE "tenants_apitoken" DISABLE ROW LEVEL SECURITY', "must be owner")
    _run_refused('DROP POLICY tenant_isolation ON "tenants_apitoken"', "must be owner")
    assert "tenants_apitoken" in rls.tables_with_rls()


def test_the_application_role_cannot_disable_the_audit_trigger(application_role, world) -> None:
    from django.db import DatabaseError, transaction

    _run_refused(
        'ALTER TABLE "tenants_auditevent" DISABLE TRIGGER tenants_audit_append_only',
        "must be owner",
    )
    _run_refused("SET session_replication_role = replica", "permission denied")
    _run_refused('TRUNCATE "tenants_auditevent"', "permission denied")
    _run_refused(
        "CREATE OR REPLACE FUNCTION tenants_audit_append_only() RETURNS trigger "
        "AS $$ BEGIN RETURN NEW; END $$ LANGUAGE plpgsql",
        "permission denied for schema public",
    )
    event = services.audit_record(organization=world.acme, actor=world.alice, action="x.y")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="rewritten")


def test_setting_app_system_on_grants_no_system_reads(
    application_role, both_orgs_have_rows
) -> None:
    with rls.system_context():
        assert ApiToken.objects.count() == 2
    with rls.organization_context(both_orgs_have_rows.acme.pk):
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('app.system', 'on', false)")
        assert set(ApiToken.objects.values_list("organization__slug", flat=True)) == {"acme"}
        assert AuditEvent.objects.filter(organization=both_orgs_have_rows.globex).count() == 0


def test_a_system_token_not_made_for_this_session_grants_nothing(
    application_role, both_orgs_have_rows
) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT public.portal_session_message()")
        (message,) = cursor.fetchone()
    pid, started = message.split(":")
    another_session = f"{int(pid) + 1}:{started}"
    forged = [
        rls.compute_system_token(rls.system_key(), another_session),  # copied from elsewhere
        rls.compute_system_token(b"\0" * 32, message),  # made without the key
    ]
    rls.set_context(system=False, organization_id=None, user_id=None)
    try:
        for token in forged:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('app.system', %s, false)", [token])
            assert ApiToken.objects.count() == 0
        # The genuine token of this session does open the system context.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('app.system', %s, false)",
                [rls.compute_system_token(rls.system_key(), message)],
            )
        assert ApiToken.objects.count() == 2
    finally:
        rls.set_context(system=True, organization_id=None, user_id=None)


def test_the_application_role_cannot_read_or_replace_the_system_key(application_role) -> None:
    _run_refused("SELECT key FROM portal_private.system_key", "permission denied for schema")
    _run_refused(
        "CREATE OR REPLACE FUNCTION public.portal_in_system_context() RETURNS boolean "
        "LANGUAGE sql AS $$ SELECT true $$",
        "permission denied for schema public",
    )
    _run_refused("CREATE TABLE public.tenants_shadow (id int)", "permission denied for schema")


def test_the_application_role_reads_but_cannot_rewrite_the_migration_history(
    application_role,
) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_migrations WHERE app = 'tenants'")
        assert cursor.fetchone()[0] >= 3
    _run_refused("DELETE FROM django_migrations WHERE app = 'tenants'", "permission denied")
