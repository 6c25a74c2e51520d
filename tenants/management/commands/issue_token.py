"""``manage.py issue_token <username> <org>``: print a new API token and nothing else."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenants import rls, services
from tenants.models import Membership


class Command(BaseCommand):
    help = "Create an API token for <username>'s membership of <org> and print it."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("org")
        parser.add_argument("--name", default="cli")

    def handle(self, *args: Any, **options: Any) -> None:
        with rls.system_context():
            membership = (
                Membership.objects.select_related("organization", "user")
                .filter(user__username=options["username"], organization__slug=options["org"])
                .first()
            )
            if membership is None:
                raise CommandError(f"{options['username']} is not a member of {options['org']}.")
            _token, secret = services.token_create(
                membership=membership, name=options["name"], actor=membership.user
            )
        self.stdout.write(secret)
