"""Concurrent requests on PostgreSQL (real row locks and unique constraints): one payment per
idempotency key however many requests race with it."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from ledger.models import LedgerOutbox
from payments.models import Payment
from tests.conftest import World, api_as
from tests.payments.api_support import pay
from tests.payments.factories import open_account

pytestmark = pytest.mark.django_db(transaction=True)


def test_racing_requests_with_one_key_create_one_payment(postgres: None, world: World) -> None:
    # given acme and globex accounts, and eight clients of alice ready to send the same request
    open_account(world.acme, "main")
    open_account(world.globex, "main")
    clients = [api_as(world.alice, world.acme) for _ in range(8)]
    start = threading.Barrier(len(clients))
    answers: list[tuple[int, Any]] = []

    def send(client: Any) -> None:
        try:
            start.wait()
            response = pay(client, key="same-key", amount=700)
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    # when they all send it at once
    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then one payment and one outbox row exist, and every answer names it with the same status
    assert Payment.objects.count() == 1 and LedgerOutbox.objects.count() == 1
    payment = Payment.objects.get()
    assert len(answers) == len(clients)
    assert {(status, body["id"]) for status, body in answers} == {(202, payment.pk)}
