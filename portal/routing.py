from typing import Any

from django.urls import re_path

from portal.consumers import OrganizationEventsConsumer

# Channels routes ASGI applications with Django's re_path, which django-stubs types for views
# only; URLRouter (portal/asgi.py) takes these patterns as they are at run time.
websocket_urlpatterns: list[Any] = [
    re_path(
        r"^ws/orgs/(?P<org>[-a-zA-Z0-9_]+)/events/$",
        OrganizationEventsConsumer.as_asgi(),  # type: ignore[arg-type]
    ),
]
