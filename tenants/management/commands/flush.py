"""``flush`` as the owner role (``DATABASE_MIGRATE_URL``) when one is configured.

Flushing truncates every table, which the application role may not do (TRUNCATE skips
row-level security and the audit log's append-only trigger). The test suite's transactional
tests flush through this command.
"""

from typing import Any

from django.core.management.commands.flush import Command as FlushCommand

from tenants import rls


class Command(FlushCommand):
    def handle(self, **options: Any) -> None:
        with rls.owner_connection(options["database"]):
            super().handle(**options)
