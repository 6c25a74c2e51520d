"""HTTP client of the validators' node API (docs/ledger-network.md), with failover.

Every call tries the node that answered last first and moves on to the next one on a transport
error or a 5xx answer; a 4xx answer is the node's verdict on the request and is raised as
:class:`NodeRefused` without trying elsewhere.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from ledger import conf

__all__ = ["NodeClient", "NodeError", "NodeRefused", "NodeUnavailable", "Submission", "TxStatus"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Longer than the node's 10 s keep-alive line, so a quiet but healthy stream is not cut.
STREAM_READ_TIMEOUT = 30.0


class NodeError(Exception):
    """Base class of node API failures."""


class NodeUnavailable(NodeError):
    """No configured node answered (transport errors, 5xx, unparseable answers)."""


class NodeRefused(NodeError):
    """A node answered 4xx with the error shape ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Submission:
    """One transaction's outcome in ``POST /v1/txs/batch``."""

    hash: str | None
    status: str  # accepted | duplicate | rejected
    code: str | None
    message: str | None


@dataclass(frozen=True)
class TxStatus:
    """``GET /v1/txs/<hash>``."""

    hash: str
    status: str  # pending | committed | rejected | unknown
    height: int | None
    code: str | None
    reason: str | None


class NodeClient:
    """A client over several node base URLs."""

    def __init__(
        self,
        urls: Sequence[str] | None = None,
        *,
        timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.urls = list(urls if urls is not None else conf.node_urls())
        if not self.urls:
            raise NodeUnavailable("no ledger node configured (LEDGER_NODE_URLS)")
        self.timeout = timeout if timeout is not None else conf.http_timeout()
        self._transport = transport
        self._preferred = 0
        self._client: httpx.Client | None = None

    # -- plumbing -------------------------------------------------------------------------------

    def _new_client(self, *, read_timeout: float | None = None) -> httpx.Client:
        timeout = httpx.Timeout(self.timeout, read=read_timeout or self.timeout)
        return httpx.Client(timeout=timeout, transport=self._transport)

    @contextmanager
    def _http(self) -> Iterator[httpx.Client]:
        """The shared client (kept-alive connections: one worker pass makes many calls)."""
        if self._client is None:
            self._client = self._new_client()
        yield self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def order(self) -> list[int]:
        """Node indices, the last good one first."""
        n = len(self.urls)
        return [(self._preferred + k) % n for k in range(n)]

    def _each(self, call: Callable[[httpx.Client, str], T]) -> T:
        errors: list[str] = []
        with self._http() as http:
            for i in self.order():
                url = self.urls[i]
                try:
                    result = call(http, url)
                except (httpx.HTTPError, NodeUnavailable, ValueError) as exc:
                    errors.append(f"{url}: {exc}")
                    continue
                self._preferred = i
                return result
        raise NodeUnavailable("; ".join(errors) or "no node answered")

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        if response.status_code >= 500:
            raise NodeUnavailable(f"HTTP {response.status_code}")
        body = response.json()
        if response.status_code >= 400:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise NodeRefused(
                response.status_code, str(error.get("code", "error")), str(error.get("message", ""))
            )
        return body

    # -- the node API ---------------------------------------------------------------------------

    def submit(self, tx: bytes) -> tuple[str, bool]:
        """``POST /v1/txs``: (hash, duplicate). Raises NodeRefused for a refused transaction."""

        def call(http: httpx.Client, url: str) -> tuple[str, bool]:
            body = self._json(http.post(f"{url}/v1/txs", json={"tx": tx.hex()}))
            return str(body["hash"]), bool(body.get("duplicate", False))

        return self._each(call)

    def submit_batch(self, txs: Sequence[bytes]) -> list[Submission]:
        """``POST /v1/txs/batch``: one outcome per transaction, in order. Raises NodeRefused
        when the batch as a whole is refused (then nothing was admitted)."""

        def call(http: httpx.Client, url: str) -> list[Submission]:
            body = self._json(
                http.post(f"{url}/v1/txs/batch", json={"txs": [tx.hex() for tx in txs]})
            )
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, list) or len(results) != len(txs):
                raise NodeUnavailable("batch answer does not match the request")
            return [
                Submission(
                    hash=None if r.get("hash") is None else str(r["hash"]),
                    status=str(r["status"]),
                    code=r.get("code"),
                    message=r.get("message"),
                )
                for r in results
            ]

        return self._each(call)

    def tx_status(self, tx_hash: str) -> TxStatus:
        """``GET /v1/txs/<hash>``."""

        def call(http: httpx.Client, url: str) -> TxStatus:
            return _tx_status(self._json(http.get(f"{url}/v1/txs/{tx_hash}")), tx_hash)

        return self._each(call)

    def tx_statuses(self, tx_hashes: Sequence[str]) -> list[TxStatus]:
        """``POST /v1/txs/lookup``: the status of each hash, in order."""

        def call(http: httpx.Client, url: str) -> list[TxStatus]:
            body = self._json(http.post(f"{url}/v1/txs/lookup", json={"hashes": list(tx_hashes)}))
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, list) or len(results) != len(tx_hashes):
                raise NodeUnavailable("lookup answer does not match the request")
            return [_tx_status(r, h) for r, h in zip(results, tx_hashes, strict=True)]

        return self._each(call)

    def genesis(self) -> dict[str, Any]:
        """``GET /v1/genesis``."""
        return self._each(lambda http, url: dict(self._json(http.get(f"{url}/v1/genesis"))))

    def statuses(self) -> list[dict[str, Any]]:
        """``GET /v1/status`` of every node; an unreachable node gives ``{"url", "error"}``."""
        result: list[dict[str, Any]] = []
        with self._http() as http:
            for url in self.urls:
                try:
                    body = self._json(http.get(f"{url}/v1/status"))
                    result.append({"url": url, **dict(body)})
                except (httpx.HTTPError, NodeError, ValueError) as exc:
                    result.append({"url": url, "error": str(exc)[:200]})
        return result

    def stream_blocks(self, node: int, from_height: int) -> Iterator[dict[str, Any]]:
        """``GET /v1/blocks?from=`` of node ``node``: block objects, keep-alives skipped.

        Raises ``httpx.HTTPError`` / ``NodeError`` when the stream breaks; the caller switches
        node."""
        url = self.urls[node]
        with (
            self._new_client(read_timeout=STREAM_READ_TIMEOUT) as http,
            http.stream("GET", f"{url}/v1/blocks", params={"from": from_height}) as response,
        ):
            if response.status_code != 200:
                response.read()
                self._json(response)
                raise NodeUnavailable(f"{url}: HTTP {response.status_code}")
            for line in response.iter_lines():
                if not line.strip():
                    continue
                item = json.loads(line)
                if item:
                    yield item


def _tx_status(body: Any, tx_hash: str) -> TxStatus:
    return TxStatus(
        hash=str(body.get("hash", tx_hash)),
        status=str(body["status"]),
        height=body.get("height"),
        code=body.get("code"),
        reason=body.get("reason"),
    )
