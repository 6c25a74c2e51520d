"""Row-level security on the organization keys and senders (PostgreSQL; a no-op elsewhere).

The mirror tables carry no organization column: they are alliance-wide by design.
"""

from django.db import migrations

from tenants.rls import enable_rls


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_network")]

    operations = [
        enable_rls("ledger_organizationkey"),
        enable_rls("ledger_ledgersender"),
    ]
