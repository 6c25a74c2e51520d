from typing import Any

from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        connection_created.connect(_initial_database_context, dispatch_uid="tenants.rls.initial")


def _initial_database_context(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Every new PostgreSQL session starts in the process's declared context (tenants/rls.py)."""
    if connection.vendor != "postgresql":
        return
    from django.conf import settings

    system = "on" if settings.PORTAL_DB_CONTEXT == "system" else "off"
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('app.system', %s, false)", [system])
