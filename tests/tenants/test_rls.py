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
