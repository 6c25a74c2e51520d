"""The node HTTP API (JSON over HTTP/1.1, h11 on asyncio streams); the contract is in
docs/ledger-network.md ("Node HTTP API").

- ``GET /v1/status``, ``GET /v1/genesis``
- ``POST /v1/txs`` ``{"tx": hex}`` -> 202 ``{"hash"}``; 200 ``{"hash", "duplicate": true}``;
  400/409/413 ``{"error": {"code": <ErrorCode>, "message"}}``; 503 ``mempool_full``; 429
  ``rate_limited``
- ``POST /v1/txs/batch`` ``{"txs": [hex, ...]}`` (at most ``MAX_BATCH_TXS``) -> 200
  ``{"results": [{"hash", "status": "accepted" | "duplicate" | "rejected", "code", "message"}],
  "accepted", "duplicates", "rejected"}``: each transaction is admitted or refused on its own, in
  order (a refused one never affects the others; ``mempool_full`` and ``rate_limited`` ones may be
  retried later). A body that is not such a list is refused as a whole (400/413) and admits
  nothing.
- ``GET /v1/txs/<hash>``; ``POST /v1/txs/lookup`` ``{"hashes": [hex, ...]}`` (at most
  ``MAX_BATCH_TXS``) -> 200 ``{"results": [<the GET answer of each hash>]}``
- ``GET /v1/blocks/<height>``
- ``GET /v1/blocks?from=<height>``: ndjson, chunked, one block object per line in height order,
  then live; ``{}`` every 10 s as keep-alive
- test-only (config ``test_faults``): ``POST /v1/test/partition`` ``{"peers": [..], "duration_ms"}``

Small and defensive, because it shares the validator's event loop with consensus: every
malformed request gets a 4xx with the one JSON error shape (bodies over ``MAX_BODY`` 413, unknown
paths 404), and what a client can cost is bounded by ``ApiLimits`` (config.py): connections in
all and per client address, header/body/idle/write timeouts, and a refusal budget per request
and per client address. Transactions are decoded and checked against the committed state
(signatures included) on one worker thread, a chunk at a time, one chunk of one request at a
time; the loop only admits what passed, so a flood of forged transactions neither stalls
consensus messages nor buys unbounded work.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import math
import re
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h11

from ledger.state import ErrorCode, InvalidTransaction, State, Transaction, validate_tx

from .config import ApiLimits
from .mempool import MempoolFull
from .node import Node

__all__ = ["ApiServer", "block_object"]

logger = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
MAX_BATCH_TXS = 5_000
MAX_BATCH_BODY = 4 * 1024 * 1024
KEEPALIVE_S = 10.0
_MAX_HEAD = 16 * 1024
_STATUS_OF_CODE = {ErrorCode.OVERSIZE: 413, ErrorCode.BAD_NONCE: 409}
_BLOCK_CACHE = 512
#: Transactions per trip to the checking thread: the loop's share of a chunk (admitting what
#: passed) stays around a millisecond, so a consensus frame waits at most that long behind it.
_CHECK_CHUNK = 256
#: Heights and other numbers in paths and queries: ASCII digits that fit SQLite's INTEGER.
_NUMBER = re.compile(r"[0-9]{1,19}")
_MAX_NUMBER = 2**63 - 1
#: Arrays and objects a request body may hold (see ``_json_body``).
_MAX_CONTAINERS = 64
#: Client addresses remembered without an open connection (their refusal budget) at most.
_MAX_TRACKED_CLIENTS = 10_000
_RATE_LIMITED = "rate_limited"
_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 413: b"Payload Too Large",
            429: b"Too Many Requests", 431: b"Request Header Fields Too Large",
            503: b"Service Unavailable"}  # fmt: skip


class _HttpError(Exception):
    def __init__(
        self, status: int, code: str, message: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.retry_after = retry_after


@dataclass
class _Client:
    """One client address: its open connections and its refusal budget (a token bucket)."""

    connections: int
    tokens: float
    at: float

    def budget(self, now: float, limits: ApiLimits) -> float:
        """Refusals this client may still cost, refilled up to now."""
        self.tokens = min(
            float(limits.refusal_burst),
            self.tokens + (now - self.at) * limits.refusals_per_client_s,
        )
        self.at = now
        return self.tokens


def _signers(bitmap: bytes) -> list[int]:
    return [i for i in range(len(bitmap) * 8) if bitmap[i // 8] >> (i % 8) & 1]


def block_object(node: Node, height: int) -> dict[str, Any] | None:
    """The contract's block object for a committed height, or None."""
    stored = node.storage.get_block(height)
    if stored is None:
        return None
    block, cert = stored.block, stored.cert
    h = block.header
    txs = []
    for data, receipt in zip(block.payload, stored.receipts, strict=True):
        tx = Transaction.decode(data)
        txs.append(
            {
                "hash": tx.tx_hash.hex(),
                "tx": data.hex(),
                "type": tx.type.name.lower(),
                "sender": tx.sender,
                "nonce": tx.nonce,
                "status": str(receipt.status),
                "code": None if receipt.code is None else str(receipt.code),
            }
        )
    return {
        "height": block.height,
        "hash": block.hash.hex(),
        "block": block.encoded.hex(),
        "certificate": cert.encoded.hex(),
        "header": {
            "chain_id": h.chain_id.hex(),
            "epoch": h.epoch,
            "round": h.round,
            "height": h.height,
            "parent_hash": h.parent_hash.hex(),
            "payload_root": h.payload_root.hex(),
            "state_root": h.state_root.hex(),
            "proposer": h.proposer,
            "timestamp_ms": h.timestamp_ms,
        },
        "transactions": txs,
        "signers": _signers(cert.qc.signers),
    }


class ApiServer:
    """Serves one node's API; ``start``/``stop`` on the node's loop."""

    def __init__(
        self,
        node: Node,
        host: str,
        port: int,
        *,
        test_faults: bool = False,
        limits: ApiLimits | None = None,
    ) -> None:
        self._node = node
        self._host, self._port = host, port
        self._test_faults = test_faults
        self._limits = limits if limits is not None else node.config.api
        self._server: asyncio.Server | None = None
        self._lines: OrderedDict[int, bytes] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connections: set[asyncio.Task[Any]] = set()  # those counted against the limits
        self._clients: dict[str, _Client] = {}
        # One worker thread decodes and checks transactions (signatures included) off the loop;
        # one chunk of one request at a time goes to it (``_lane`` is fair: FIFO).
        self._checker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="api-checks")
        self._lane = asyncio.Lock()
        self._held = 0  # requests whose body may be large (batches, submissions) in hand
        #: Counters for ``GET /v1/status`` ("api").
        self.stats = {"refused_connections": 0, "timeouts": 0, "rate_limited": 0}

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._checker.shutdown(wait=True, cancel_futures=True)

    # -- connection handling -----------------------------------------------------------------

    def _client(self, address: str) -> _Client:
        client = self._clients.get(address)
        if client is None:
            if len(self._clients) >= _MAX_TRACKED_CLIENTS:
                # Forget the budgets of addresses without a connection (bounded memory).
                for idle in [a for a, c in self._clients.items() if c.connections == 0]:
                    del self._clients[idle]
            now = asyncio.get_running_loop().time()
            client = self._clients[address] = _Client(0, float(self._limits.refusal_burst), now)
        return client

    def _forget_if_idle(self, address: str, client: _Client) -> None:
        """Drop an address without connections whose bucket is full: nothing to remember."""
        limits = self._limits
        now = asyncio.get_running_loop().time()
        if client.connections == 0 and client.budget(now, limits) >= limits.refusal_burst:
            self._clients.pop(address, None)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # every handler, counted or not, for ``stop``
        try:
            await self._connection(task, reader, writer)
        finally:
            self._tasks.discard(task)

    async def _connection(
        self, task: asyncio.Task[Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        client = self._client(address)
        limits = self._limits
        if (
            len(self._connections) >= limits.max_connections
            or client.connections >= limits.max_connections_per_client
        ):
            # Answered at once and closed, without reading: an excess connection costs nothing.
            self.stats["refused_connections"] += 1
            writer.write(_raw_error(503, "busy", "too many connections, retry later"))
            self._forget_if_idle(address, client)
            await _linger(reader, writer, 0.5)
            return
        self._connections.add(task)
        client.connections += 1
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD)
        abort = linger = False
        try:
            first = True
            while True:
                request = await self._read_head(conn, reader, first)
                if request is None:
                    break
                first = False
                await self._handle(conn, reader, writer, request, client)
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    break
                conn.start_next_cycle()
        except _HttpError as exc:
            # The request was not read to its end: answer (if nothing was sent yet) and close.
            if exc.status == 408:
                self.stats["timeouts"] += 1
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                writer.write(_raw_error(exc.status, exc.code, exc.message, exc.retry_after))
            linger = True
        except TimeoutError:  # the client did not read its answer in time
            self.stats["timeouts"] += 1
            abort = True
        except (h11.ProtocolError, ConnectionError, OSError, asyncio.IncompleteReadError):
            abort = True
        except asyncio.CancelledError:
            abort = True
        except Exception:  # a bug must not kill the server
            logger.exception("API connection failed")
            abort = True
        finally:
            self._connections.discard(task)
            if abort:
                writer.transport.abort()  # drop what the client did not read
            elif linger:
                await _linger(reader, writer, 1.0)
            else:
                writer.close()
            client.connections -= 1
            self._forget_if_idle(address, client)

    def _next_event(self, conn: h11.Connection) -> Any:
        try:
            return conn.next_event()
        except h11.RemoteProtocolError as exc:
            status = exc.error_status_hint if 400 <= exc.error_status_hint < 500 else 400
            raise _HttpError(status, "bad_request", str(exc)) from None

    async def _receive(
        self, conn: h11.Connection, reader: asyncio.StreamReader, deadline: float
    ) -> bool:
        """Feed h11 the next bytes; False when the deadline passed first."""
        try:
            async with asyncio.timeout_at(deadline):
                data = await reader.read(65536)
        except TimeoutError:
            return False
        conn.receive_data(data)
        return True

    async def _read_head(
        self, conn: h11.Connection, reader: asyncio.StreamReader, first: bool
    ) -> h11.Request | None:
        """The next request's head, or None when the client closed or stayed silent (idle) too
        long; a head that starts but does not finish within ``header_timeout_s`` gets 408."""
        limits = self._limits
        loop = asyncio.get_running_loop()
        started = bool(conn.trailing_data[0])
        silence = limits.header_timeout_s if first else limits.idle_timeout_s
        deadline = loop.time() + (limits.header_timeout_s if started else silence)
        while True:
            event = self._next_event(conn)
            if isinstance(event, h11.Request):
                # h11 bounds a head that arrives in pieces; this bounds one that came at once
                size = len(event.target) + sum(len(k) + len(v) + 4 for k, v in event.headers)
                if size > _MAX_HEAD:
                    raise _HttpError(431, "bad_request", f"request head over {_MAX_HEAD} bytes")
                return event
            if event is not h11.NEED_DATA:
                return None
            if not await self._receive(conn, reader, deadline):
                if not started:
                    return None  # an idle keep-alive connection (or one that never spoke)
                message = f"request head not sent in {limits.header_timeout_s:g} s"
                raise _HttpError(408, "timeout", message)
            if not started:
                started = True
                deadline = loop.time() + limits.header_timeout_s

    async def _read_body(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: h11.Request,
        limit: int,
    ) -> bytes:
        length = _content_length(request)
        if length is not None and length > limit:
            raise _HttpError(413, "oversize", f"body of {length} bytes, at most {limit}")
        if conn.they_are_waiting_for_100_continue:
            writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
        limits = self._limits
        deadline = asyncio.get_running_loop().time() + limits.body_timeout_s
        chunks, size = [], 0
        while True:
            event = self._next_event(conn)
            if event is h11.NEED_DATA:
                if not await self._receive(conn, reader, deadline):
                    message = f"request body not sent in {limits.body_timeout_s:g} s"
                    raise _HttpError(408, "timeout", message)
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > limit:
                    raise _HttpError(413, "oversize", f"body over {limit} bytes")
                chunks.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)
            else:  # the client closed in the middle of its body
                raise ConnectionResetError("client closed during the request body")

    async def _handle(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: h11.Request,
        client: _Client,
    ) -> None:
        method = request.method.decode("ascii", "replace")
        url = urlsplit(request.target.decode("latin-1"))
        path = url.path.rstrip("/")
        batch = path in ("/v1/txs/batch", "/v1/txs/lookup")
        submission = method == "POST" and path in ("/v1/txs", "/v1/txs/batch")
        # Checked before the body is read (an error here closes the connection): a client out
        # of budget, or a node already holding enough large bodies, costs one short answer.
        if submission:
            self._check_budget(client)
        held = submission or batch
        if held and self._held >= self._limits.max_pending_submissions:
            raise _HttpError(503, "busy", "too many submissions in progress, retry later")
        self._held += held
        try:
            limit = MAX_BATCH_BODY if batch else MAX_BODY
            body = await self._read_body(conn, reader, writer, request, limit)
            if path == "/v1/blocks" and method == "GET":
                start = _number(parse_qs(url.query).get("from", ["1"])[0], "from")
                await self._stream(conn, writer, max(start, 1))
                return
            try:
                status, payload = await self._route(method, path, body, client)
            except _HttpError as exc:
                status, payload = exc.status, _error(exc.code, exc.message)
            except Exception:  # a bug: answer it, log it, keep serving
                logger.exception("API request %s %s failed", method, path)
                status, payload = 500, _error("internal", "internal error")
        finally:
            self._held -= held
        await self._send_json(conn, writer, status, payload)

    def _check_budget(self, client: _Client) -> None:
        limits = self._limits
        left = client.budget(asyncio.get_running_loop().time(), limits)
        if left < 1:
            self.stats["rate_limited"] += 1
            wait = math.ceil((1 - left) / limits.refusals_per_client_s)
            raise _HttpError(
                429,
                _RATE_LIMITED,
                "too many refused transactions from this address, retry later",
                retry_after=wait,
            )

    async def _route(self, method: str, path: str, body: bytes, client: _Client) -> tuple[int, Any]:
        node = self._node
        if path == "/v1/status" and method == "GET":
            return 200, self.status()
        if path == "/v1/genesis" and method == "GET":
            return 200, node.spec.to_json()
        if path == "/v1/txs" and method == "POST":
            return await self._submit(body, client)
        if path == "/v1/txs/batch" and method == "POST":
            return await self._submit_batch(body, client)
        if path == "/v1/txs/lookup" and method == "POST":
            return await self._lookup(body)
        if path.startswith("/v1/txs/") and method == "GET":
            return 200, self.tx_status(path.removeprefix("/v1/txs/"))
        if path.startswith("/v1/blocks/") and method == "GET":
            height = _number(path.removeprefix("/v1/blocks/"), "height")
            line = self._line(height)
            if line is None:
                raise _HttpError(404, "not_found", f"block {height} is not committed yet")
            return 200, _Encoded(line.rstrip(b"\n"))
        if path == "/v1/test/partition" and method == "POST" and self._test_faults:
            data = _json_body(body)
            try:
                peers, duration_s = [int(i) for i in data["peers"]], int(data["duration_ms"]) / 1000
            except (KeyError, TypeError, ValueError, OverflowError):
                raise _HttpError(400, "bad_request", 'expected {"peers", "duration_ms"}') from None
            node.partition(peers, duration_s)
            return 200, {"ok": True}
        raise _HttpError(404, "not_found", f"no route {method} {path}")

    # -- views -------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        node = self._node
        tip = node.storage.tip_height()
        stored = node.storage.get_block(tip) if tip else None
        root = (stored.block if stored else node.spec.genesis_block).header.state_root
        return {
            "chain_id": node.spec.chain_id.hex(),
            "validator": node.index,
            "name": node.config.name,
            "epoch": node.replica.epoch,
            "round": node.replica.round,
            "height": tip,
            "state_root": root.hex(),
            "peers": node.transport.status(),
            "mempool": len(node.mempool),
            "rejected_messages": dict(node.rejected),
            "gc": {"frozen": gc.get_freeze_count(), **node.gc_stats},
            "api": {"connections": len(self._connections), **self.stats},
        }

    async def _submit(self, body: bytes, client: _Client) -> tuple[int, Any]:
        data = _json_body(body)
        raw = data.get("tx") if isinstance(data, dict) else None
        if not isinstance(raw, str):
            raise _HttpError(400, str(ErrorCode.MALFORMED), 'expected {"tx": "<hex>"}')
        (outcome,) = await self._admit_all([raw], client)
        if outcome["status"] == "rejected":
            code = outcome["code"]
            status = _STATUS_OF_CODE.get(code, 400)
            if code in ("mempool_full", _RATE_LIMITED):
                status = 503 if code == "mempool_full" else 429
            raise _HttpError(status, code, outcome["message"])
        if outcome["status"] == "duplicate":
            return 200, {"hash": outcome["hash"], "duplicate": True}
        return 202, {"hash": outcome["hash"]}

    async def _submit_batch(self, body: bytes, client: _Client) -> tuple[int, Any]:
        data = _json_body(body)
        raws = data.get("txs") if isinstance(data, dict) else None
        if not isinstance(raws, list) or not all(isinstance(r, str) for r in raws):
            raise _HttpError(400, str(ErrorCode.MALFORMED), 'expected {"txs": ["<hex>", ...]}')
        if len(raws) > MAX_BATCH_TXS:
            raise _HttpError(
                413, str(ErrorCode.OVERSIZE), f"{len(raws)} transactions, at most {MAX_BATCH_TXS}"
            )
        results = await self._admit_all(raws, client)
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        for result in results:
            counts[result["status"]] += 1
        return 200, {
            "results": results,
            "accepted": counts["accepted"],
            "duplicates": counts["duplicate"],
            "rejected": counts["rejected"],
        }

    async def _admit_all(self, raws: list[str], client: _Client) -> list[dict[str, Any]]:
        """Admit hex-encoded transactions in order; each outcome as the batch answer's item.

        Chunks of ``_CHECK_CHUNK`` go to the worker thread (``_check``: decoding and the door
        checks against the committed state, signature included), then the loop admits what
        passed (``Node.submit`` checks again against the current state; the verification is
        memoised, so that costs a lookup). ``_lane`` lets one chunk of one request through at a
        time, in arrival order. Refusals are budgeted: at most ``refusals_per_request`` for this
        request and what the client's bucket holds; past either, the rest is answered
        ``rate_limited`` unchecked."""
        limits = self._limits
        loop = asyncio.get_running_loop()
        window = self._node.config.nonce_window
        results: list[dict[str, Any]] = []
        request_left = limits.refusals_per_request
        while len(results) < len(raws):
            async with self._lane:
                room = min(_CHECK_CHUNK, request_left, int(client.budget(loop.time(), limits)))
                if room < 1:
                    break
                chunk = raws[len(results) : len(results) + room]
                state = self._node.executor.committed
                checked = await loop.run_in_executor(self._checker, _check, chunk, state, window)
                for item in checked:
                    outcome = item if isinstance(item, dict) else self._admit_checked(*item)
                    results.append(outcome)
                    if outcome["status"] == "rejected" and outcome["code"] != "mempool_full":
                        request_left -= 1
                        client.tokens -= 1
        if len(results) < len(raws):
            self.stats["rate_limited"] += 1
            message = "too many refused transactions (per request or from this address)"
            results += [_refused(None, _RATE_LIMITED, message) for _ in raws[len(results) :]]
        return results

    def _admit_checked(self, tx: Transaction, error: InvalidTransaction | None) -> dict[str, Any]:
        """Admit one transaction the worker thread checked (``error``: why it failed there)."""
        node = self._node
        tx_hash = tx.tx_hash.hex()
        if error is None:
            try:
                admission = node.submit(tx)
            except InvalidTransaction as exc:
                error = exc
            except MempoolFull as exc:
                return _refused(tx_hash, "mempool_full", str(exc))
            else:
                status = "duplicate" if admission.duplicate else "accepted"
                return {"hash": tx_hash, "status": status, "code": None, "message": None}
        # The mempool answers a transaction it holds as a duplicate before any other check;
        # and a committed transaction's nonce is used: only then can it be a resubmission.
        if tx.tx_hash in node.mempool or (
            error.code == ErrorCode.BAD_NONCE and node.storage.get_tx(tx.tx_hash) is not None
        ):
            return {"hash": tx_hash, "status": "duplicate", "code": None, "message": None}
        return _refused(tx_hash, str(error.code), error.reason)

    async def _lookup(self, body: bytes) -> tuple[int, Any]:
        data = _json_body(body)
        hashes = data.get("hashes") if isinstance(data, dict) else None
        if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
            raise _HttpError(400, "malformed", 'expected {"hashes": ["<hex>", ...]}')
        if len(hashes) > MAX_BATCH_TXS:
            raise _HttpError(413, "oversize", f"{len(hashes)} hashes, at most {MAX_BATCH_TXS}")
        results = []
        for start in range(0, len(hashes), _CHECK_CHUNK):
            if start:
                await asyncio.sleep(0)  # consensus frames go first between chunks
            results += [self.tx_status(h) for h in hashes[start : start + _CHECK_CHUNK]]
        return 200, {"results": results}

    def tx_status(self, text: str) -> dict[str, Any]:
        try:
            tx_hash = bytes.fromhex(text)
        except ValueError:
            raise _HttpError(400, "malformed", "hash is not hex") from None
        if len(tx_hash) != 32:
            raise _HttpError(400, "malformed", "hash must be 32 bytes")
        answer: dict[str, Any] = {"hash": text.lower(), "status": "unknown", "height": None}
        answer.update(code=None, reason=None)
        record = self._node.storage.get_tx(tx_hash)
        if record is not None:
            answer.update(
                status=record.status, height=record.height, code=record.code,
                reason=record.reason or None,
            )  # fmt: skip
        elif tx_hash in self._node.mempool:
            answer["status"] = "pending"
        else:
            refusal = self._node.mempool.refusal(tx_hash)
            if refusal is not None:
                answer.update(status="rejected", code=refusal.code, reason=refusal.reason)
        return answer

    # -- streaming ---------------------------------------------------------------------------

    def _line(self, height: int) -> bytes | None:
        line = self._lines.get(height)
        if line is None:
            found = block_object(self._node, height)
            if found is None:
                return None
            line = json.dumps(found, separators=(",", ":")).encode() + b"\n"
            self._lines[height] = line
            while len(self._lines) > _BLOCK_CACHE:
                self._lines.popitem(last=False)
        return line

    async def _stream(self, conn: h11.Connection, writer: asyncio.StreamWriter, start: int) -> None:
        headers = [("content-type", "application/x-ndjson"), ("cache-control", "no-store")]
        writer.write(conn.send(h11.Response(status_code=200, headers=headers)))
        height = start
        while True:
            while height <= self._node.storage.tip_height():
                line = self._line(height)
                if line is None:
                    break
                writer.write(conn.send(h11.Data(data=line)))
                await self._drain(writer)
                height += 1
            before = self._node.storage.tip_height()
            await self._node.wait_for_commit(KEEPALIVE_S)
            if self._node.storage.tip_height() == before:
                writer.write(conn.send(h11.Data(data=b"{}\n")))
                await self._drain(writer)

    async def _send_json(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, status: int, payload: Any
    ) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        if isinstance(payload, _Encoded):
            data = payload.data
        else:
            data = json.dumps(payload, separators=(",", ":")).encode()
        headers = [("content-type", "application/json"), ("content-length", str(len(data)))]
        writer.write(conn.send(h11.Response(status_code=status, headers=headers)))
        writer.write(conn.send(h11.Data(data=data)))
        writer.write(conn.send(h11.EndOfMessage()))
        await self._drain(writer)

    async def _drain(self, writer: asyncio.StreamWriter) -> None:
        """Wait until the client took what was written; TimeoutError if it does not read."""
        async with asyncio.timeout(self._limits.write_timeout_s):
            await writer.drain()


@dataclass(frozen=True)
class _Encoded:
    """An answer already encoded as JSON (a cached block line)."""

    data: bytes


def _check(
    raws: list[str], state: State, nonce_window: int
) -> list[dict[str, Any] | tuple[Transaction, InvalidTransaction | None]]:
    """On the worker thread: decode each hex transaction and run the door checks against
    ``state`` (a committed state: immutable, so safe to read from here). An item is the refusal
    of an undecodable one, or the transaction with the check's error (None when it passed)."""
    out: list[dict[str, Any] | tuple[Transaction, InvalidTransaction | None]] = []
    for raw in raws:
        try:
            tx = Transaction.decode(bytes.fromhex(raw))
        except ValueError:
            out.append(_refused(None, str(ErrorCode.MALFORMED), "tx is not hex"))
            continue
        except InvalidTransaction as exc:
            out.append(_refused(None, str(exc.code), exc.reason))
            continue
        try:
            validate_tx(state, tx, nonce_window=nonce_window)
        except InvalidTransaction as exc:
            out.append((tx, exc))
        else:
            out.append((tx, None))
    return out


def _refused(tx_hash: str | None, code: str, message: str) -> dict[str, Any]:
    return {"hash": tx_hash, "status": "rejected", "code": code, "message": message}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _raw_error(status: int, code: str, message: str, retry_after: int | None = None) -> bytes:
    """A whole error answer that closes the connection, written without h11: for requests not
    read to their end (or not read at all)."""
    body = json.dumps(_error(code, message), separators=(",", ":")).encode()
    head = [
        b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, b"Error")),
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"connection: close",
    ]
    if retry_after is not None:
        head.append(b"retry-after: %d" % retry_after)
    return b"\r\n".join(head) + b"\r\n\r\n" + body


async def _linger(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seconds: float
) -> None:
    """Close after an answer to a request that was not read to its end: closing a socket with
    unread bytes sends a reset, which can destroy the answer before the client reads it. So
    send our end-of-stream, then discard what still comes (briefly, boundedly), then close."""
    try:
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(seconds):
            for _ in range(64):  # at most 4 MiB
                if not await reader.read(65536):
                    break
    except (TimeoutError, ConnectionError, OSError):
        pass
    finally:
        if writer.transport.get_write_buffer_size():
            writer.transport.abort()  # the client does not read either
        else:
            writer.close()


def _content_length(request: h11.Request) -> int | None:
    for name, value in request.headers:
        if name == b"content-length":
            return int(value)  # h11 checked it is digits
    return None


def _number(text: str, what: str) -> int:
    """A height (or other count) from a path or query: ASCII digits, at most 2^63 - 1 (what
    SQLite stores); anything else is the client's mistake, answered 400."""
    if not _NUMBER.fullmatch(text) or int(text) > _MAX_NUMBER:
        raise _HttpError(400, "bad_request", f"{what} must be an integer from 0 to {_MAX_NUMBER}")
    return int(text)


def _json_body(body: bytes) -> Any:
    # Every body this API accepts holds a couple of arrays and objects (strings are hex). A
    # deeply nested one must not reach the C decoder: its depth check follows the recursion
    # limit, and under a raised limit it overflows the C stack (a crash, not an exception).
    if body.count(b"[") + body.count(b"{") > _MAX_CONTAINERS:
        raise _HttpError(400, "malformed", "body holds too many arrays and objects")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # invalid UTF-8 or JSON, too large a number, too deep
        raise _HttpError(400, "malformed", "body is not JSON") from None
