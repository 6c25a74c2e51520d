from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        # Explicit hook: every organization event a member may read is offered to the
        # organization's webhook endpoints (kernel.events.publish calls it after the commit).
        from kernel.events import register_sink
        from webhooks import services

        register_sink(services.deliveries_enqueue)
