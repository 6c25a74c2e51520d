"""Helpers shared by the tests that run a local validator cluster (real processes on loopback)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ledger.node.devnet import LocalCluster

PARAMS = {"base_timeout_ms": 600, "max_timeout_ms": 3000}
DEADLINE_S = 30.0


def wait_for(what: str, check: Callable[[], bool], deadline_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {what}")


def heights(cluster: LocalCluster, indices: list[int] | None = None) -> dict[int, int]:
    found = {}
    for i in indices if indices is not None else cluster.alive():
        status = cluster.status(i)
        if status is not None:
            found[i] = int(status["height"])
    return found


def chain(cluster: LocalCluster, index: int, last: int) -> list[dict[str, Any]]:
    """Block objects 1..last of one validator through the ndjson stream."""
    import json

    import httpx

    blocks: list[dict[str, Any]] = []
    url = f"{cluster.devnet.api_urls[index]}/v1/blocks"
    with httpx.stream("GET", url, params={"from": 1}, timeout=30) as response:
        for line in response.iter_lines():
            item = json.loads(line)
            if not item:
                continue
            blocks.append(item)
            if item["height"] >= last:
                break
    return blocks


def grows(cluster: LocalCluster, indices: list[int], by: int) -> Callable[[], bool]:
    start = max(heights(cluster, indices).values(), default=0)
    return lambda: max(heights(cluster, indices).values(), default=0) >= start + by
