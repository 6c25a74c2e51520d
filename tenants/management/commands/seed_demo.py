"""``manage.py seed_demo``: the demo alliance (idempotent)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from tenants import rls
from tenants.models import Membership, Organization
from tenants.roles import Role

DEFAULT_PASSWORD = "alliance-demo-2026"  # noqa: S105  (demo only; printed on purpose)

ORGANIZATIONS = [
    ("acme", "Acme Corporation"),
    ("globex", "Globex Corporation"),
    ("initech", "Initech"),
]
USERS = [
    # username, email, memberships, superuser
    ("alice", "alice@acme.example", [("acme", Role.OWNER)], False),
    ("bob", "bob@acme.example", [("acme", Role.MEMBER)], False),
    ("mallory", "mallory@globex.example", [("globex", Role.MEMBER)], False),
    # One owner per organization, so each can approve payments and open accounts.
    ("grace", "grace@globex.example", [("globex", Role.OWNER)], False),
    ("ivan", "ivan@initech.example", [("initech", Role.OWNER)], False),
    ("admin", "admin@alliance.example", [], True),
]


def _login_url(host: str, port: int) -> str:
    """Where a person logs in: a wildcard bind address is reached through the loopback one."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104  (only compared, never bound)
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}/login/"


class Command(BaseCommand):
    help = (
        "Create the demo alliance (acme, globex, initech; alice, bob, mallory, grace, ivan, admin)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--password",
            default=DEFAULT_PASSWORD,
            help="Password of every demo user (default is printed).",
        )
        parser.add_argument(
            "--host",
            default="127.0.0.1",
            help="Host the portal is served on, for the printed login address (make passes HOST).",
        )
        parser.add_argument(
            "--port",
            type=int,
            default=8000,
            help="Port the portal is served on, for the printed login address (make passes PORT).",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when any organization exists already.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with rls.system_context(), transaction.atomic():
            if options["if_empty"] and Organization.objects.exists():
                self.stdout.write("Database already has organizations; demo not seeded again.")
                self._print_logins(
                    options["password"], _login_url(options["host"], options["port"])
                )
                return
            for slug, name in ORGANIZATIONS:
                Organization.objects.get_or_create(slug=slug, defaults={"name": name})
            user_model = get_user_model()
            for username, email, memberships, superuser in USERS:
                user, created = user_model.objects.get_or_create(
                    username=username, defaults={"email": email}
                )
                user.is_superuser = user.is_staff = superuser
                if created or options["password"] != DEFAULT_PASSWORD:
                    user.set_password(options["password"])
                user.save()
                for slug, role in memberships:
                    Membership.objects.get_or_create(
                        user=user,
                        organization=Organization.objects.get(slug=slug),
                        defaults={"role": role},
                    )
        self.stdout.write(self.style.SUCCESS("Demo alliance ready."))
        self._print_logins(options["password"], _login_url(options["host"], options["port"]))

    def _print_logins(self, password: str, url: str) -> None:
        self.stdout.write(f"  demo logins at {url} (password: {password}):")
        self.stdout.write("    alice   owner of acme")
        self.stdout.write("    bob     member of acme")
        self.stdout.write("    mallory member of globex")
        self.stdout.write("    grace   owner of globex")
        self.stdout.write("    ivan    owner of initech")
        self.stdout.write("    admin   platform administrator (/platform/organizations/, /admin/)")
