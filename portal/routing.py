from django.urls import re_path

from portal.consumers import OrganizationEventsConsumer

websocket_urlpatterns = [
    re_path(r"^ws/orgs/(?P<org>[-a-zA-Z0-9_]+)/events/$", OrganizationEventsConsumer.as_asgi()),
]
