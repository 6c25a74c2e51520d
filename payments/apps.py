from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        # Explicit hooks: the ledger tells payments how its account openings, payments and holds
        # ended, inside the transaction that records the decision, and shows it every mirrored
        # block (holds expire at a block, with no transaction of ours).
        from ledger.outbox import register_block_handler, register_decision_handler
        from payments import services

        register_decision_handler(services.ACCOUNT_OPEN_TX, services.account_open_decided)
        register_decision_handler(services.PAYMENT_TX, services.payment_decided)
        register_decision_handler(services.HOLD_PLACE_TX, services.hold_place_decided)
        register_decision_handler(services.HOLD_CAPTURE_TX, services.hold_resolve_decided)
        register_decision_handler(services.HOLD_VOID_TX, services.hold_resolve_decided)
        register_block_handler(services.holds_expired)
        register_block_handler(services.accounts_adopt_mirrored)
