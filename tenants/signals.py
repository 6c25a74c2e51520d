"""Domain events of the tenants app for apps that depend on it.

``tenants`` depends on no other app, yet the ledger must give every new organization its
signing key at registration. Rather than importing ``ledger`` here, the registration service
announces the fact and the ledger app subscribes (ledger/apps.py). This is the one deliberate
use of a signal for a business step; it is sent only by ``services.organization_create``.
"""

from django.dispatch import Signal

# Sent inside the creating transaction with ``organization=<Organization>``.
organization_registered = Signal()
