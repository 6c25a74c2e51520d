"""One representative row of every webhooks model that a URL names by id, for one organization.

The endpoint points at a closed local port (loopback is allowed in tests); its delivery is
already ``failed``, so nothing is sent unless a test asks for it.
"""

from __future__ import annotations

from django.db.models import Model
from django.utils import timezone

from tenants.models import Organization
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookEndpoint


def webhooks_objects(*, organization: Organization, owner: object) -> dict[type[Model], Model]:
    """An endpoint subscribed to payment updates and one delivery of it."""
    endpoint, _secret = services.endpoint_create(
        organization=organization,
        actor=owner,  # type: ignore[arg-type]
        url="http://127.0.0.1:9/hooks",
        event_types=["payment.updated"],
    )
    delivery = WebhookDelivery.objects.create(
        organization=organization,
        endpoint=endpoint,
        message_id=f"msg_walk{organization.pk}",
        event_type="payment.updated",
        payload={"type": "payment.updated", "timestamp": timezone.now().isoformat(), "data": {}},
        status=WebhookDelivery.Status.FAILED,
    )
    return {WebhookEndpoint: endpoint, WebhookDelivery: delivery}
