from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.webhooks.receiver_support import Receiver, receiver


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as state:
        yield state
