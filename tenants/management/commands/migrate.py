"""``migrate`` as the owner role (``DATABASE_MIGRATE_URL``) when one is configured.

The application role owns nothing and may not create or alter tables; the owner role runs the
migrations, then (post_migrate, tenants.rls.after_migrate) grants the application role DML on
every table and installs the system-context key.
"""

from typing import Any

from django.core.management.commands.migrate import Command as MigrateCommand

from tenants import rls


class Command(MigrateCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        with rls.owner_connection(options["database"]):
            super().handle(*args, **options)
