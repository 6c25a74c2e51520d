"""Row-level security on the tenant-owned tables and an append-only audit log (PostgreSQL)."""

from django.db import migrations

from tenants.rls import enable_rls

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION tenants_audit_append_only() RETURNS trigger AS $$
BEGIN
    -- Deleting a user sets actor_id to NULL (actor_label keeps who it was): the one update allowed.
    IF TG_OP = 'UPDATE' AND NEW.actor_id IS NULL AND OLD.actor_id IS NOT NULL
       AND NEW.organization_id = OLD.organization_id AND NEW.action = OLD.action
       AND NEW.actor_label = OLD.actor_label AND NEW.object_id = OLD.object_id
       AND NEW.created_at = OLD.created_at AND NEW.details::text = OLD.details::text THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'tenants_auditevent is append-only';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS tenants_audit_append_only ON tenants_auditevent;
CREATE TRIGGER tenants_audit_append_only BEFORE UPDATE OR DELETE ON tenants_auditevent
    FOR EACH ROW EXECUTE FUNCTION tenants_audit_append_only();
"""


def append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY)


def drop_append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP TRIGGER IF EXISTS tenants_audit_append_only ON tenants_auditevent;"
            "DROP FUNCTION IF EXISTS tenants_audit_append_only();"
        )


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [
        enable_rls("tenants_membership", own_user_column="user_id"),
        enable_rls("tenants_invitation"),
        enable_rls("tenants_apitoken"),
        enable_rls("tenants_auditevent"),
        migrations.RunPython(append_only, drop_append_only),
    ]
