from typing import Any

from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from tenants import rls

        connection_created.connect(_initial_database_context, dispatch_uid="tenants.rls.initial")
        # Once per migrate (and flush): the sender filter skips the other apps' signals.
        post_migrate.connect(rls.after_migrate, sender=self, dispatch_uid="tenants.rls.migrate")


def _initial_database_context(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Every new PostgreSQL session starts in the process's declared context (tenants/rls.py)."""
    if connection.vendor != "postgresql":
        return
    from tenants import rls

    rls.start_session(connection)
