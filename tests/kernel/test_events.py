"""Event sinks: kernel.events.publish hands every members' event of an organization to the
registered sinks, and nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kernel.events import Event, publish, register_sink, unregister_sink


@pytest.fixture
def seen() -> Iterator[list[tuple[int, Event]]]:
    received: list[tuple[int, Event]] = []

    def sink(organization_id: int, event: Event) -> None:
        received.append((organization_id, event))

    register_sink(sink)
    register_sink(sink)  # a second registration is a no-op
    yield received
    unregister_sink(sink)


def test_a_members_event_of_an_organization_reaches_the_sink_once_with_its_time(
    seen: list[tuple[int, Event]],
) -> None:
    publish(3, {"type": "payment.updated", "data": {"id": 1}})
    [(organization_id, event)] = seen
    assert organization_id == 3
    assert event["type"] == "payment.updated" and event["data"] == {"id": 1}
    assert event["at"]


@pytest.mark.parametrize(
    ("organization_id", "event_type"),
    [(3, "audit.created"), (3, "member.changed"), (None, "block.committed"), (3, "made.up")],
)
def test_admin_alliance_and_undeclared_events_do_not_reach_the_sink(
    seen: list[tuple[int, Event]], organization_id: int | None, event_type: str
) -> None:
    publish(organization_id, {"type": event_type, "data": {}})
    assert seen == []


def test_a_failing_sink_does_not_fail_the_publisher() -> None:
    def broken(organization_id: int, event: Event) -> None:
        raise RuntimeError("down")

    register_sink(broken)
    try:
        publish(3, {"type": "ledger.tx", "data": {}})  # does not raise
    finally:
        unregister_sink(broken)
