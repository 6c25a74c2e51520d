"""The node HTTP API (JSON over HTTP/1.1, h11 on asyncio streams); the contract is in
docs/ledger-network.md ("Node HTTP API").

- ``GET /v1/status``, ``GET /v1/genesis``
- ``POST /v1/txs`` ``{"tx": hex}`` -> 202 ``{"hash"}``; 200 ``{"hash", "duplicate": true}``;
  400/409/413 ``{"error": {"code": <ErrorCode>, "message"}}``; 503 ``mempool_full``
- ``POST /v1/txs/batch`` ``{"txs": [hex, ...]}`` (at most ``MAX_BATCH_TXS``) -> 200
  ``{"results": [{"hash", "status": "accepted" | "duplicate" | "rejected", "code", "message"}],
  "accepted", "duplicates", "rejected"}``: each transaction is admitted or refused on its own, in
  order (a refused one never affects the others; ``mempool_full`` ones may be retried later). A
  body that is not such a list is refused as a whole (400/413) and admits nothing.
- ``GET /v1/txs/<hash>``; ``POST /v1/txs/lookup`` ``{"hashes": [hex, ...]}`` (at most
  ``MAX_BATCH_TXS``) -> 200 ``{"results": [<the GET answer of each hash>]}``
- ``GET /v1/blocks/<height>``
- ``GET /v1/blocks?from=<height>``: ndjson, chunked, one block object per line in height order,
  then live; ``{}`` every 10 s as keep-alive
- test-only (config ``test_faults``): ``POST /v1/test/partition`` ``{"peers": [..], "duration_ms"}``

Small and defensive: bodies over ``MAX_BODY`` get 413, malformed requests 400, unknown paths 404;
errors always have the one JSON error shape. Every request is answered on the node's loop.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections import OrderedDict
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h11

from ledger.state import ErrorCode, InvalidTransaction, Transaction

from .mempool import MempoolFull
from .node import Node

__all__ = ["ApiServer", "block_object"]

logger = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
MAX_BATCH_TXS = 5_000
MAX_BATCH_BODY = 4 * 1024 * 1024
KEEPALIVE_S = 10.0
_STATUS_OF_CODE = {ErrorCode.OVERSIZE: 413, ErrorCode.BAD_NONCE: 409}
_BLOCK_CACHE = 512


class _HttpError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


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

    def __init__(self, node: Node, host: str, port: int, *, test_faults: bool = False) -> None:
        self._node = node
        self._host, self._port = host, port
        self._test_faults = test_faults
        self._server: asyncio.Server | None = None
        self._lines: OrderedDict[int, bytes] = OrderedDict()
        self._clients: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._clients):
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)

    # -- connection handling -----------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=16 * 1024)
        try:
            while True:
                request, body = await self._read_request(conn, reader)
                if request is None:
                    break
                await self._respond(conn, writer, request, body)
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    break
                conn.start_next_cycle()
        except _HttpError as exc:
            await self._send_json(conn, writer, exc.status, _error(exc.code, exc.message))
        except (h11.ProtocolError, ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:  # a bug must not kill the server
            logger.exception("API connection failed")
        finally:
            writer.close()
            if task is not None:
                self._clients.discard(task)

    async def _next_event(self, conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise _HttpError(400, "bad_request", str(exc)) from None
            if event is not h11.NEED_DATA:
                return event
            data = await reader.read(65536)
            conn.receive_data(data)

    async def _read_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader
    ) -> tuple[h11.Request | None, bytes]:
        event = await self._next_event(conn, reader)
        if not isinstance(event, h11.Request):
            return None, b""
        path = urlsplit(event.target.decode("latin-1")).path.rstrip("/")
        batch = path in ("/v1/txs/batch", "/v1/txs/lookup")
        limit = MAX_BATCH_BODY if batch else MAX_BODY
        chunks, size = [], 0
        while True:
            part = await self._next_event(conn, reader)
            if isinstance(part, h11.Data):
                size += len(part.data)
                if size > limit:
                    raise _HttpError(413, "oversize", f"body over {limit} bytes")
                chunks.append(part.data)
            elif isinstance(part, h11.EndOfMessage):
                return event, b"".join(chunks)
            else:
                return None, b""

    async def _respond(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, request: h11.Request, body: bytes
    ) -> None:
        method = request.method.decode()
        url = urlsplit(request.target.decode("latin-1"))
        path = url.path.rstrip("/")
        try:
            if path == "/v1/blocks" and method == "GET":
                start = _int(parse_qs(url.query).get("from", ["1"])[0], "from")
                await self._stream(conn, writer, max(start, 1))
                return
            status, payload = self._route(method, path, body)
        except _HttpError as exc:
            status, payload = exc.status, _error(exc.code, exc.message)
        await self._send_json(conn, writer, status, payload)

    def _route(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        node = self._node
        if path == "/v1/status" and method == "GET":
            return 200, self.status()
        if path == "/v1/genesis" and method == "GET":
            return 200, node.spec.to_json()
        if path == "/v1/txs" and method == "POST":
            return self._submit(body)
        if path == "/v1/txs/batch" and method == "POST":
            return self._submit_batch(body)
        if path == "/v1/txs/lookup" and method == "POST":
            return self._lookup(body)
        if path.startswith("/v1/txs/") and method == "GET":
            return 200, self.tx_status(path.removeprefix("/v1/txs/"))
        if path.startswith("/v1/blocks/") and method == "GET":
            height = _int(path.removeprefix("/v1/blocks/"), "height")
            found = block_object(node, height)
            if found is None:
                raise _HttpError(404, "not_found", f"block {height} is not committed yet")
            return 200, found
        if path == "/v1/test/partition" and method == "POST" and self._test_faults:
            data = _json_body(body)
            try:
                peers, duration_s = [int(i) for i in data["peers"]], int(data["duration_ms"]) / 1000
            except (KeyError, TypeError, ValueError):
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
        }

    def _submit(self, body: bytes) -> tuple[int, Any]:
        data = _json_body(body)
        raw = data.get("tx") if isinstance(data, dict) else None
        if not isinstance(raw, str):
            raise _HttpError(400, str(ErrorCode.MALFORMED), 'expected {"tx": "<hex>"}')
        outcome = self._admit_hex(raw)
        if outcome["status"] == "rejected":
            code = outcome["code"]
            status = 503 if code == "mempool_full" else _STATUS_OF_CODE.get(code, 400)
            raise _HttpError(status, code, outcome["message"])
        if outcome["status"] == "duplicate":
            return 200, {"hash": outcome["hash"], "duplicate": True}
        return 202, {"hash": outcome["hash"]}

    def _submit_batch(self, body: bytes) -> tuple[int, Any]:
        data = _json_body(body)
        raws = data.get("txs") if isinstance(data, dict) else None
        if not isinstance(raws, list) or not all(isinstance(r, str) for r in raws):
            raise _HttpError(400, str(ErrorCode.MALFORMED), 'expected {"txs": ["<hex>", ...]}')
        if len(raws) > MAX_BATCH_TXS:
            raise _HttpError(
                413, str(ErrorCode.OVERSIZE), f"{len(raws)} transactions, at most {MAX_BATCH_TXS}"
            )
        results = [self._admit_hex(raw) for raw in raws]
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        for result in results:
            counts[result["status"]] += 1
        return 200, {
            "results": results,
            "accepted": counts["accepted"],
            "duplicates": counts["duplicate"],
            "rejected": counts["rejected"],
        }

    def _admit_hex(self, raw: str) -> dict[str, Any]:
        """Admit one hex-encoded transaction; the outcome as the batch answer's item."""
        try:
            tx_bytes = bytes.fromhex(raw)
        except ValueError:
            return _refused(None, str(ErrorCode.MALFORMED), "tx is not hex")
        try:
            tx = Transaction.decode(tx_bytes)
        except InvalidTransaction as exc:
            return _refused(None, str(exc.code), exc.reason)
        tx_hash = tx.tx_hash.hex()
        try:
            admission = self._node.submit(tx)
        except InvalidTransaction as exc:
            # A committed transaction's nonce is used: only then can it be a resubmission.
            if (
                exc.code == ErrorCode.BAD_NONCE
                and self._node.storage.get_tx(tx.tx_hash) is not None
            ):
                return {"hash": tx_hash, "status": "duplicate", "code": None, "message": None}
            return _refused(tx_hash, str(exc.code), exc.reason)
        except MempoolFull as exc:
            return _refused(tx_hash, "mempool_full", str(exc))
        status = "duplicate" if admission.duplicate else "accepted"
        return {"hash": tx_hash, "status": status, "code": None, "message": None}

    def _lookup(self, body: bytes) -> tuple[int, Any]:
        data = _json_body(body)
        hashes = data.get("hashes") if isinstance(data, dict) else None
        if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
            raise _HttpError(400, "malformed", 'expected {"hashes": ["<hex>", ...]}')
        if len(hashes) > MAX_BATCH_TXS:
            raise _HttpError(413, "oversize", f"{len(hashes)} hashes, at most {MAX_BATCH_TXS}")
        return 200, {"results": [self.tx_status(h) for h in hashes]}

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
                await writer.drain()
                height += 1
            before = self._node.storage.tip_height()
            await self._node.wait_for_commit(KEEPALIVE_S)
            if self._node.storage.tip_height() == before:
                writer.write(conn.send(h11.Data(data=b"{}\n")))
                await writer.drain()

    async def _send_json(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, status: int, payload: Any
    ) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        data = json.dumps(payload, separators=(",", ":")).encode()
        headers = [("content-type", "application/json"), ("content-length", str(len(data)))]
        writer.write(conn.send(h11.Response(status_code=status, headers=headers)))
        writer.write(conn.send(h11.Data(data=data)))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()


def _refused(tx_hash: str | None, code: str, message: str) -> dict[str, Any]:
    return {"hash": tx_hash, "status": "rejected", "code": code, "message": message}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _int(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise _HttpError(400, "bad_request", f"{what} must be an integer") from None
    if value < 0:
        raise _HttpError(400, "bad_request", f"{what} must be >= 0")
    return value


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise _HttpError(400, "malformed", "body is not JSON") from None
