"""The node HTTP API cannot be starved: timeouts, connection limits, refusal budgets, signature
checks off the event loop, and a clean 4xx for every malformed request (one validator in
process, raw sockets where a well-behaved client would not do it)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import threading
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.node.chain import ChainSpec
from ledger.node.config import ApiLimits, ConfigError, NodeConfig
from ledger.state import Anchor, sign_transaction
from tests.ledger.node.support import CHAIN, anchor, run_node

STRANGER = Ed25519PrivateKey.from_private_bytes(b"\x77" * 32)


def forged(nonce: int, salt: bytes = b"") -> str:
    """A transaction that passes every cheap check (registered sender, nonce in the window) but
    carries a well-formed signature by another key: refusing it costs a full verification."""
    tx = sign_transaction(
        private_key=STRANGER,
        chain_id=CHAIN,
        sender="org-0",
        nonce=nonce,
        payload=Anchor(commitment=hashlib.sha256(b"forged %d" % nonce + salt).digest()),
    )
    return tx.encode().hex()


def with_limits(config: NodeConfig, **limits: Any) -> NodeConfig:
    return dataclasses.replace(config, api=dataclasses.replace(config.api, **limits))


class Raw:
    """One client connection that writes whatever bytes a test wants."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, config: NodeConfig, *, local: str = "127.0.0.1") -> Raw:
        reader, writer = await asyncio.open_connection(
            config.http_host, config.http_port, local_addr=(local, 0)
        )
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self, seconds: float = 30.0) -> tuple[int, dict[str, str], Any]:
        """The next answer: status, headers, JSON body (raises TimeoutError if none comes).

        Generous by default: the node under test shares this event loop and makes its safety
        state durable (an fsync) on it, which a machine busy with other I/O can stall for
        seconds; the tests are about what is answered, the limits tests pass their own."""
        async with asyncio.timeout(seconds):
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {
                k.strip().lower(): v.strip()
                for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)
            }
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return int(lines[0].split()[1]), headers, json.loads(body) if body else None

    async def closed_by_server(self, seconds: float = 5.0) -> bool:
        """True once the server closed the connection (EOF or reset) within ``seconds``."""
        try:
            async with asyncio.timeout(seconds):
                return await self.reader.read(65536) == b""
        except ConnectionError:
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.writer.close()


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nhost: node\r\n\r\n".encode()


def post(path: str, body: bytes, *, extra: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nhost: node\r\ncontent-length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


# -- slow clients ------------------------------------------------------------------------------


def test_a_slow_request_gets_408_and_an_idle_keep_alive_connection_is_closed(
    single: NodeConfig, spec: ChainSpec
) -> None:
    config = with_limits(single, header_timeout_s=0.3, body_timeout_s=0.3, idle_timeout_s=0.3)

    async def probe(client: httpx.AsyncClient) -> tuple[Any, ...]:
        # a head that never ends (slowloris), a body that never ends, a silent keep-alive
        head = await Raw.open(config)
        await head.send(b"GET /v1/status HTTP/1.1\r\nhost: node\r\nx-slow: 1\r\n")
        body = await Raw.open(config)
        await body.send(b'POST /v1/txs HTTP/1.1\r\nhost: node\r\ncontent-length: 100\r\n\r\n{"tx')
        idle = await Raw.open(config)
        await idle.send(get("/v1/status"))
        first = await idle.answer()
        answers = (await head.answer(), await body.answer())
        closed = [await r.closed_by_server(3.0) for r in (head, body, idle)]
        for r in (head, body, idle):
            r.close()
        status = (await client.get("/v1/status")).json()
        return first, answers, closed, status

    # when one client stalls its request head, one its body, and one stays idle after an answer
    first, answers, closed, status = asyncio.run(run_node(config, spec, probe))
    # then the stalled requests get 408 with the JSON error shape, and all three are closed
    assert first[0] == 200
    for status_code, headers, payload in answers:
        assert status_code == 408 and payload["error"]["code"] == "timeout"
        assert headers["connection"] == "close"
    assert closed == [True, True, True]
    # and the node counts them and keeps serving
    assert status["api"]["timeouts"] >= 2


# -- connection limits -------------------------------------------------------------------------


def test_connections_over_the_per_client_and_global_limits_get_503_at_once(
    single: NodeConfig, spec: ChainSpec
) -> None:
    config = with_limits(single, max_connections=4, max_connections_per_client=2)

    async def probe(client: httpx.AsyncClient) -> tuple[Any, ...]:
        # the test's own httpx client holds one connection from 127.0.0.1 already
        await client.get("/v1/status")
        mine = await Raw.open(config)
        await mine.send(get("/v1/status"))
        assert (await mine.answer())[0] == 200
        third_here = await Raw.open(config)  # a third from 127.0.0.1
        elsewhere = [await Raw.open(config, local=f"127.0.0.{i}") for i in (2, 3, 4)]
        over_client = await third_here.answer(2.0)
        for raw in elsewhere[:2]:
            await raw.send(get("/v1/status"))
        inside = [(await raw.answer(2.0))[0] for raw in elsewhere[:2]]
        over_all = await elsewhere[2].answer(2.0)
        # a freed slot is usable again
        mine.close()
        await asyncio.sleep(0.2)
        again = await Raw.open(config)
        await again.send(get("/v1/status"))
        after = await again.answer(2.0)
        for raw in [third_here, again, *elsewhere]:
            raw.close()
        return over_client, inside, over_all, after

    # when one address opens more connections than its limit, and all more than the node's
    over_client, inside, over_all, after = asyncio.run(run_node(config, spec, probe))
    # then the excess ones are answered 503 at once, without sending a request
    assert over_client[0] == 503 and over_client[2]["error"]["code"] == "busy"
    assert over_all[0] == 503 and over_all[2]["error"]["code"] == "busy"
    # while other addresses within the limits are served, and a freed slot is reused
    assert inside == [200, 200]
    assert after[0] == 200 and after[2]["api"]["refused_connections"] == 2


# -- malformed requests ------------------------------------------------------------------------


def test_every_malformed_request_gets_a_4xx_with_the_json_error_shape(
    single: NodeConfig, spec: ChainSpec
) -> None:
    deep = b'{"tx": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    requests = [
        get("/v1/blocks/" + "9" * 40),  # absurd height
        get("/v1/blocks/9223372036854775808"),  # one past SQLite's INTEGER
        get("/v1/blocks/%D9%A3"),  # not ASCII digits
        get("/v1/blocks/-1"),
        get("/v1/blocks?from=" + "9" * 30),
        post("/v1/txs", deep),  # deep nesting
        post("/v1/txs/batch", b'{"txs": ' + b"[" * 5_000 + b"}"),
        post("/v1/txs", b'{"tx": "\xff\xfe"}'),  # invalid UTF-8
        post("/v1/txs", b'{"tx": ' + b"9" * 5_000 + b"}"),  # absurd number
        post("/v1/txs", b"{}", extra="content-length: 5\r\n"),  # two content lengths
        b"POST /v1/txs HTTP/1.1\r\nhost: node\r\ncontent-length: abc\r\n\r\n",  # bad lengths
        b"POST /v1/txs HTTP/1.1\r\nhost: node\r\ncontent-length: " + b"9" * 30 + b"\r\n\r\n",
        b"POST /v1/txs/batch HTTP/1.1\r\nhost: node\r\ncontent-length: 5000000\r\n\r\n",
        b"GET /v1/status HTTP/1.1\r\nhost: node\r\nx-big: " + b"a" * 20_000 + b"\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n",  # TLS
    ]

    async def probe(client: httpx.AsyncClient) -> tuple[list[tuple[int, str]], int]:
        answers = []
        for request in requests:
            raw = await Raw.open(single)
            await raw.send(request)
            status, _, payload = await raw.answer()
            answers.append((status, payload["error"]["code"]))
            raw.close()
        return answers, (await client.get("/v1/status")).status_code

    # when requests with absurd numbers, deep nesting, bad lengths, bad bytes and huge heads come
    answers, still = asyncio.run(run_node(single, spec, probe))
    # then each gets its 4xx and a JSON error code, and the node keeps serving
    assert answers == [
        (400, "bad_request"),
        (400, "bad_request"),
        (400, "bad_request"),
        (400, "bad_request"),
        (400, "bad_request"),
        (400, "malformed"),
        (400, "malformed"),
        (400, "malformed"),
        (400, "malformed"),
        (400, "bad_request"),
        (400, "bad_request"),
        (400, "bad_request"),
        (413, "oversize"),
        (431, "bad_request"),
        (400, "bad_request"),
    ]
    assert still == 200


def test_a_client_that_expects_100_continue_gets_it_before_it_sends_its_body(
    single: NodeConfig, spec: ChainSpec
) -> None:
    body = json.dumps({"tx": "zz"}).encode()
    head = post("/v1/txs", b"", extra="expect: 100-continue\r\n")
    head = head.replace(b"content-length: 0", b"content-length: %d" % len(body))

    async def probe(client: httpx.AsyncClient) -> tuple[bytes, Any]:
        raw = await Raw.open(single)
        await raw.send(head)
        interim = await asyncio.wait_for(raw.reader.readuntil(b"\r\n\r\n"), 10)
        await raw.send(body)
        final = await raw.answer()
        raw.close()
        return interim, final

    # when a client asks before sending its body (curl does for large ones)
    interim, final = asyncio.run(run_node(single, spec, probe))
    # then it is told to go on, and its request is answered
    assert interim.startswith(b"HTTP/1.1 100 ")
    assert final[0] == 400 and final[2]["error"]["code"] == "malformed"


# -- forged transactions -----------------------------------------------------------------------


def test_refusals_are_budgeted_per_request_and_per_client_address(
    single: NodeConfig, spec: ChainSpec
) -> None:
    config = with_limits(
        single, refusals_per_request=10, refusal_burst=25, refusals_per_client_s=0.1
    )
    batch = [forged(n) for n in range(1, 41)]

    async def flood(client: httpx.AsyncClient) -> tuple[Any, ...]:
        answers = [
            (await client.post("/v1/txs/batch", json={"txs": batch})).json() for _ in range(3)
        ]
        refused = await client.post("/v1/txs/batch", json={"txs": batch})
        single_refused = await client.post("/v1/txs", json={"tx": batch[0]})
        url = f"http://{config.http_host}:{config.http_port}"
        other = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(base_url=url, transport=other, timeout=5) as elsewhere:
            honest = await elsewhere.post("/v1/txs", json={"tx": anchor(1).hex()})
            honest_forged = await elsewhere.post("/v1/txs", json={"tx": forged(2)})
        status = (await client.get("/v1/status")).json()
        return answers, refused, single_refused, honest, honest_forged, status

    # when one address keeps sending batches of 40 forged transactions
    answers, refused, single_refused, honest, honest_forged, status = asyncio.run(
        run_node(config, spec, flood)
    )
    codes = [[r["code"] for r in a["results"]] for a in answers]
    # then each request verifies at most 10 of them and answers the rest rate_limited unchecked
    assert codes[0] == ["bad_signature"] * 10 + ["rate_limited"] * 30
    assert codes[1] == ["bad_signature"] * 10 + ["rate_limited"] * 30
    # and the address's budget (25) runs out: a part of a request, then whole requests get 429
    assert codes[2][:5] == ["bad_signature"] * 5 and set(codes[2][5:]) == {"rate_limited"}
    assert all(a["rejected"] == 40 for a in answers)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert single_refused.status_code == 429
    # while another address is served as usual, forgeries included
    assert honest.status_code == 202
    assert honest_forged.status_code == 400
    assert honest_forged.json()["error"]["code"] == "bad_signature"
    assert status["api"]["rate_limited"] >= 3


def test_transactions_are_checked_off_the_event_loop(
    single: NodeConfig, spec: ChainSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.state import signing

    original = signing._verify_cached
    verified_on: list[str] = []

    def spy(public_key: bytes, signature: bytes, message: bytes) -> bool:
        misses = original.cache_info().misses
        result = original(public_key, signature, message)
        if original.cache_info().misses > misses:  # a real verification, not a memoised one
            verified_on.append(threading.current_thread().name)
        return result

    monkeypatch.setattr(signing, "_verify_cached", spy)
    # never verified before in this process (verifications are memoised)
    salt = b"off the loop"
    txs = [forged(n, salt) for n in range(1, 101)]
    txs += [anchor(n, commitment=salt).hex() for n in range(1, 4)]

    async def submit(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
        loop_thread = threading.current_thread().name
        answer = (await client.post("/v1/txs/batch", json={"txs": txs})).json()
        return loop_thread, answer

    # when a batch of forged and valid transactions is submitted
    loop_thread, answer = asyncio.run(run_node(single, spec, submit))
    # then every signature was verified on the API's worker thread, none on the loop
    assert len(verified_on) == 103
    assert loop_thread not in verified_on
    assert all(name.startswith("api-checks") for name in verified_on)
    # and the answers are those of the door checks
    assert (answer["accepted"], answer["rejected"]) == (3, 100)


# -- configuration -----------------------------------------------------------------------------


def test_api_limits_are_read_from_the_configuration_and_checked(
    single: NodeConfig, spec: ChainSpec
) -> None:
    limits = ApiLimits.from_json({"max_connections": 8, "idle_timeout_s": 2.5})
    assert limits.max_connections == 8 and limits.idle_timeout_s == 2.5
    assert limits.max_connections_per_client == ApiLimits().max_connections_per_client
    for bad in ({"max_connections": 0}, {"max_connections": 1.5}, {"nope": 1}, {"x": True}, []):
        with pytest.raises(ConfigError):
            ApiLimits.from_json(bad)
