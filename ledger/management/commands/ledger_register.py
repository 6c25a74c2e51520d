"""``manage.py ledger_register --org globex --sponsor acme``: queue an organization's ledger
registration (``org_register``), carried by a member already on the ledger.

The row is parked until more than two thirds of the validator organizations approve it (see
``GET /api/v1/orgs/<sponsor>/ledger/outbox/<id>/`` for the governance root to sign and
``POST .../approvals/`` to add each approval).
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ledger import services
from tenants.models import Organization
from tenants.rls import system_context


class Command(BaseCommand):
    help = "Queue the ledger registration of an organization, sponsored by a registered member."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--org", required=True, help="organization to register (slug)")
        parser.add_argument("--sponsor", required=True, help="registered member carrying it")

    def handle(self, *args: Any, **options: Any) -> None:
        with system_context():
            found = {
                o.slug: o
                for o in Organization.objects.filter(slug__in=[options["org"], options["sponsor"]])
            }
            missing = [s for s in (options["org"], options["sponsor"]) if s not in found]
            if missing:
                raise CommandError(f"no organization {', '.join(missing)}")
            row = services.organization_register_sponsor(
                sponsor=found[options["sponsor"]], organization=found[options["org"]]
            )
        self.stdout.write(
            f"org_register of {options['org']} queued as outbox row {row.pk} of "
            f"{options['sponsor']}; collect approvals of the validator organizations"
        )
