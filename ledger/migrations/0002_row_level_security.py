"""Row-level security on the ledger outbox (PostgreSQL; a no-op elsewhere)."""

from django.db import migrations

from tenants.rls import enable_rls


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [enable_rls("ledger_ledgeroutbox")]
