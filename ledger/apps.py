from typing import Any

from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "Alliance ledger"

    def ready(self) -> None:
        from django.conf import settings

        from ledger.consensus import crypto
        from tenants.signals import organization_registered

        # The pure core reads no environment: the portal's setting becomes the process default
        # of crypto.backend() (the follower and the signing services call it without a name).
        crypto.configure(settings.LEDGER_BLS_BACKEND)

        organization_registered.connect(_generate_signing_key, dispatch_uid="ledger.keys.register")


def _generate_signing_key(sender: Any, organization: Any, **kwargs: Any) -> None:
    """Every organization gets its Ed25519 ledger key when it is registered, so it can
    sign ledger transactions from its first day."""
    from ledger.services import organization_key_ensure

    organization_key_ensure(organization=organization)
