"""The system context becomes a per-session token the application role cannot forge.

Before, any session could run ``set_config('app.system', 'on')`` and read every organization.
This creates the owner-only key and the checking functions (tenants/rls.py), installs the key
and rewrites the policies that earlier migrations created with the old check.
"""

from django.db import migrations

from tenants import rls

# The one policy with an extra clause (tenants/migrations/0002_row_level_security.py).
OWN_USER_COLUMNS = {"tenants_membership": "user_id"}


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    schema_editor.execute(rls.SYSTEM_CONTEXT_SQL)
    rls.install_system_key(connection)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_policies "
            "WHERE policyname = 'tenant_isolation' AND schemaname = current_schema()"
        )
        tables = sorted(row[0] for row in cursor.fetchall())
    for table in tables:
        schema_editor.execute(
            rls._policy_sql(table, own_user_column=OWN_USER_COLUMNS.get(table))
        )


class Migration(migrations.Migration):
    dependencies = [("tenants", "0002_row_level_security")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)]
