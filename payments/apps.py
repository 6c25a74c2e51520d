from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        # Explicit hooks: the ledger tells payments how its account openings and payments ended,
        # inside the transaction that records the decision.
        from ledger.outbox import register_decision_handler
        from payments import services

        register_decision_handler(services.ACCOUNT_OPEN_TX, services.account_open_decided)
        register_decision_handler(services.PAYMENT_TX, services.payment_decided)
