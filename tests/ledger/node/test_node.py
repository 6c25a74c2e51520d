"""Unit tests of the validator process parts: storage, wire format, handshake, mempool, and one
single-validator node driven in-process through its HTTP API (blst backend, no subprocess)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.consensus import (
    SafetyState,
    Vote,
    compute_vote_signing_root,
    decode,
    make_block,
    make_root_qc,
)
from ledger.node.chain import ChainSpec
from ledger.node.config import ConfigError, NodeConfig
from ledger.node.faults import Byzantine, ByzantineTransport
from ledger.node.mempool import Mempool, MempoolFull
from ledger.node.storage import Storage, StorageError
from ledger.node.wire import (
    CONSENSUS,
    HELLO,
    TXS,
    Hello,
    ProtocolError,
    decode_hello,
    decode_txs,
    encode_frame,
    encode_hello,
    encode_txs,
    parse_frame_length,
)
from ledger.simulation import ByzantineBehaviour
from ledger.state import (
    MAX_TX_BYTES,
    ErrorCode,
    InvalidTransaction,
    apply_block,
)
from tests.ledger.node.support import (
    BLS,
    CHAIN,
    anchor,
    bls_key,
    make_transport,
    run_node,
    until,
)

# -- storage -----------------------------------------------------------------------------------


def test_storage_keeps_the_safety_state_and_blocks_across_reopening(
    tmp_path: Path, spec: ChainSpec
) -> None:
    # given a storage file with a safety state and one committed block
    genesis = spec.genesis_block
    storage = Storage(tmp_path / "n.sqlite3", genesis_hash=genesis.hash)
    block = make_block(
        chain_id=spec.chain_id, epoch=0, round=1, parent=genesis, payload=(), proposer=0,
        timestamp_ms=1,
    )  # fmt: skip
    cert = _cert_for(block)
    with storage.batch():
        storage.save_safety(SafetyState(0, 7, 6, 5))
        storage.save_block(block, cert, ())
    storage.close()
    # when it is reopened
    reopened = Storage(tmp_path / "n.sqlite3", genesis_hash=genesis.hash)
    # then both are there
    assert reopened.load_safety() == SafetyState(0, 7, 6, 5)
    assert reopened.tip_height() == 1
    stored = reopened.get_block(1)
    assert stored is not None and stored.block.hash == block.hash and stored.cert == cert


def test_storage_keeps_the_certificates_that_justify_the_lock(
    tmp_path: Path, spec: ChainSpec
) -> None:
    # given a safety state that carries the QC that raised its lock
    genesis = spec.genesis_block
    storage = Storage(tmp_path / "n.sqlite3", genesis_hash=genesis.hash)
    block = make_block(
        chain_id=spec.chain_id, epoch=0, round=1, parent=genesis, payload=(), proposer=0,
        timestamp_ms=1,
    )  # fmt: skip
    state = SafetyState(0, 1, 1, 0, high_qc=make_root_qc(0, block))
    storage.save_safety(state)
    storage.close()
    # when the validator restarts, then the certificate is back (a lost one stalls the chain)
    reopened = Storage(tmp_path / "n.sqlite3", genesis_hash=genesis.hash)
    loaded = reopened.load_safety()
    assert loaded == state
    assert loaded is not None and loaded.high_qc is not None
    assert loaded.high_qc.block_hash == block.hash


def _cert_for(block: Any) -> Any:
    from ledger.consensus import CommitCert

    return CommitCert((block.header,), make_root_qc(0, block))


def test_storage_refuses_a_gap_and_a_file_of_another_chain(tmp_path: Path, spec: ChainSpec) -> None:
    # given a storage file of this chain
    genesis = spec.genesis_block
    storage = Storage(tmp_path / "n.sqlite3", genesis_hash=genesis.hash)
    child = make_block(
        chain_id=spec.chain_id, epoch=0, round=1, parent=genesis, payload=(), proposer=0,
        timestamp_ms=1,
    )  # fmt: skip
    grandchild = make_block(
        chain_id=spec.chain_id, epoch=0, round=2, parent=child, payload=(), proposer=0,
        timestamp_ms=2,
    )  # fmt: skip
    # when a block above tip + 1 is stored, then it is refused and nothing is written
    with pytest.raises(StorageError):
        storage.save_block(grandchild, _cert_for(grandchild), ())
    assert storage.tip_height() == 0
    storage.close()
    # and when the file is opened for another genesis, it is refused
    with pytest.raises(StorageError):
        Storage(tmp_path / "n.sqlite3", genesis_hash=bytes(32))


def test_storage_keeps_only_the_latest_snapshots(tmp_path: Path, spec: ChainSpec) -> None:
    # given three snapshots saved with keep=2
    storage = Storage(tmp_path / "n.sqlite3", genesis_hash=spec.genesis_block.hash)
    for height in (100, 200, 300):
        storage.save_snapshot(height, b"s%d" % height, keep=2)
    # then the oldest is gone and the lookup takes the highest at or below a height
    assert storage.latest_snapshot(250) == (200, b"s200")
    assert storage.latest_snapshot(99) is None


# -- wire format ---------------------------------------------------------------------------


def _config_with(**extra: object) -> dict[str, object]:
    return {
        "chain_id": CHAIN, "index": 0, "genesis_file": "genesis.json", "bls_key_file": "bls.key",
        "listen": {"host": "127.0.0.1", "port": 1}, "http": {"host": "127.0.0.1", "port": 2},
        **extra,
    }  # fmt: skip


def test_the_config_takes_a_byzantine_behaviour_by_its_shared_simulator_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given test mode
    monkeypatch.setenv("LEDGER_NODE_TEST_MODE", "1")
    # when a config names a behaviour the validator process can play
    config = NodeConfig.from_json(_config_with(byzantine="bad_signature"), tmp_path)
    # then it is parsed into the one shared name
    assert config.byzantine is ByzantineBehaviour.BAD_SIGNATURE


@pytest.mark.parametrize("name", ["bad_signatures", "withhold", "Equivocate"])
def test_the_config_refuses_an_unknown_byzantine_behaviour_naming_the_choices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # given test mode and a name the validator process cannot play
    monkeypatch.setenv("LEDGER_NODE_TEST_MODE", "1")
    # when / then loading fails with the accepted names in the message
    with pytest.raises(ConfigError, match="choose from equivocate, bad_signature"):
        NodeConfig.from_json(_config_with(byzantine=name), tmp_path)


class _RecordingTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[int, int, bytes]] = []

    def send(self, to: int, kind: int, body: bytes) -> None:
        self.sent.append((to, kind, body))


def test_a_byzantine_transport_spoils_each_vote_it_sends_and_passes_other_frames(
    spec: ChainSpec,
) -> None:
    # given a bad_signature validator whose transport is wrapped, and a properly signed vote
    inner = _RecordingTransport()
    byzantine = Byzantine(
        ByzantineBehaviour.BAD_SIGNATURE,
        secret_key=bls_key(0),
        crypto=BLS,
        execute=lambda root, txs, timestamp_ms: root,
        get_block=lambda h: None,
    )
    transport = ByzantineTransport(inner, byzantine)  # type: ignore[arg-type]
    block_hash = spec.genesis_block.hash
    root = compute_vote_signing_root(spec.chain_id, 0, 1, block_hash)
    vote = Vote(0, 1, block_hash, 0, BLS.Sign(bls_key(0), root))
    # when the node sends the vote and a transaction batch through it
    transport.send(1, CONSENSUS, vote.encoded)
    transport.send(1, TXS, b"batch")
    # then the vote left with a signature that no longer verifies, everything else unchanged
    (_, kind, body), txs = inner.sent
    sent = decode(body)
    assert kind == CONSENSUS and isinstance(sent, Vote)
    assert (sent.epoch, sent.round, sent.block_hash, sent.voter) == (0, 1, block_hash, 0)
    assert sent.signature != vote.signature
    assert not BLS.Verify(BLS.SkToPk(bls_key(0)), root, sent.signature)
    assert txs == (1, TXS, b"batch")
    assert byzantine.rewritten == 1


def test_frames_outside_the_length_bounds_are_protocol_errors() -> None:
    # given frame headers of length 0 and of one byte over the maximum
    # then both are refused, and a valid one is read back
    with pytest.raises(ProtocolError):
        parse_frame_length((0).to_bytes(4, "big"), 1024)
    with pytest.raises(ProtocolError):
        parse_frame_length((1025).to_bytes(4, "big"), 1024)
    frame = encode_frame(HELLO, b"abc")
    assert parse_frame_length(frame[:4], 1024) == 4


def test_hello_and_transaction_batches_round_trip_and_reject_truncation() -> None:
    # given a HELLO and a batch of two transactions
    hello = Hello(b"chain", 3, bytes(range(32)), bytes(range(32, 64)))
    batch = encode_txs([b"one", b"two!"])
    # then they decode to the same values
    assert decode_hello(encode_hello(hello)) == hello
    assert decode_txs(batch) == [b"one", b"two!"]
    # and truncated or padded bodies are protocol errors
    with pytest.raises(ProtocolError):
        decode_hello(encode_hello(hello)[:-1])
    with pytest.raises(ProtocolError):
        decode_txs(batch[:-1])
    with pytest.raises(ProtocolError):
        decode_txs(batch + b"x")


# -- handshake and garbage -------------------------------------------------------------------


def test_two_validators_with_their_keys_connect_and_exchange_frames() -> None:
    from ledger.node.devnet import free_base_port

    async def scenario() -> list[Any]:
        base = free_base_port(2)
        seen: list[Any] = []
        a = make_transport(0, base, base + 1, seen)
        b = make_transport(1, base + 1, base, seen)
        await a.start()
        await b.start()
        try:
            assert await until(lambda: a.is_connected(1) and b.is_connected(0))
            a.send(1, 0x01, b"hello")
            assert await until(lambda: bool(seen))
        finally:
            await a.stop()
            await b.stop()
        return seen

    # when both sides hold the keys of the indices they claim
    seen = asyncio.run(scenario())
    # then the frame arrives, attributed to the sender's index
    assert seen == [(0, 0x01, b"hello")]


def test_a_peer_with_the_wrong_key_or_garbage_is_disconnected_and_the_node_keeps_serving() -> None:
    from ledger.node.devnet import free_base_port

    async def scenario() -> tuple[bool, bool]:
        base = free_base_port(2)
        seen: list[Any] = []
        honest = make_transport(1, base + 1, base, seen)
        # claims index 0 but signs with another key
        impostor = make_transport(0, base, base + 1, seen, secret_key=bls_key(5))
        await honest.start()
        await impostor.start()
        try:
            impostor_connected = await until(lambda: honest.is_connected(0), 1.5)
        finally:
            await impostor.stop()
        # garbage: a huge length prefix, then random bytes
        reader, writer = await asyncio.open_connection("127.0.0.1", base + 1)
        writer.write(b"\xff\xff\xff\xff" + bytes(100))
        await writer.drain()
        closed = await reader.read(1 << 20)  # the HELLO, then EOF when it hangs up
        writer.close()
        genuine = make_transport(0, base, base + 1, seen)
        await genuine.start()
        try:
            recovered = await until(lambda: honest.is_connected(0))
        finally:
            await genuine.stop()
            await honest.stop()
        return impostor_connected or not closed, recovered

    # when an impostor and a garbage sender come first, then the real validator
    impostor_accepted, recovered = asyncio.run(scenario())
    # then the impostor is never connected and the real validator connects afterwards
    assert not impostor_accepted
    assert recovered


# -- mempool door ------------------------------------------------------------------------------


def test_the_mempool_refuses_invalid_transactions_at_the_door_with_their_code(
    spec: ChainSpec,
) -> None:
    # given a mempool on the genesis state (org-0 exists, next nonce 1)
    _, state = spec.verify(BLS)
    pool = Mempool(max_txs=2, nonce_window=4)
    cases = {
        ErrorCode.MALFORMED: b"\x01garbage",
        ErrorCode.OVERSIZE: b"\x01" * (MAX_TX_BYTES + 1),
        ErrorCode.WRONG_CHAIN: anchor(1, chain="other-chain"),
        ErrorCode.UNKNOWN_SENDER: anchor(1, sender="nobody"),
        ErrorCode.BAD_NONCE: anchor(6),
        ErrorCode.BAD_SIGNATURE: anchor(1, key=1),
    }
    # when each is offered, then each is refused with its code
    for code, data in cases.items():
        with pytest.raises(InvalidTransaction) as refused:
            pool.add(data, state)
        assert refused.value.code == code
    # and a valid one is admitted once, then reported as a duplicate
    assert not pool.add(anchor(1), state).duplicate
    assert pool.add(anchor(1), state).duplicate
    assert len(pool) == 1


def test_the_mempool_is_bounded_and_forgets_used_nonces(spec: ChainSpec) -> None:
    # given a full pool of two
    _, state = spec.verify(BLS)
    pool = Mempool(max_txs=2, nonce_window=4)
    pool.add(anchor(1), state)
    pool.add(anchor(2), state)
    # when a third arrives, then it is refused
    with pytest.raises(MempoolFull):
        pool.add(anchor(3), state)
    # and candidates come in nonce order
    assert [tx.nonce for tx in pool.candidates(10, state.next_nonce)] == [1, 2]


def test_candidates_start_at_the_parent_states_next_nonce_and_stop_at_a_gap(
    spec: ChainSpec,
) -> None:
    # given nonces 1, 2, 3 and 5 of one sender queued (4 missing)
    _, state = spec.verify(BLS)
    pool = Mempool(max_txs=10, nonce_window=8)
    for nonce in (1, 2, 3, 5):
        pool.add(anchor(nonce), state)
    # when a leader builds on a parent whose block already carried nonce 1 (uncommitted)
    after_one = {"org-0": 2}.__getitem__
    # then it is offered 2 and 3 only: nothing its parent holds, nothing past the gap
    assert [tx.nonce for tx in pool.candidates(10, after_one)] == [2, 3]
    assert [tx.nonce for tx in pool.candidates(1, after_one)] == [2]
    # and on the committed state it gets 1, 2, 3
    assert [tx.nonce for tx in pool.candidates(10, state.next_nonce)] == [1, 2, 3]


def test_a_committed_nonce_retires_every_transaction_that_carried_it(spec: ChainSpec) -> None:
    # given two different transactions with nonce 1 and one with nonce 2
    _, state = spec.verify(BLS)
    pool = Mempool(max_txs=10, nonce_window=8)
    first = pool.add(anchor(1), state).tx
    rival = pool.add(anchor(1, commitment=b"rival"), state).tx
    second = pool.add(anchor(2), state).tx
    # then the first to arrive is the candidate for nonce 1
    assert pool.candidates(10, state.next_nonce) == [first, second]
    # when the block carrying the first one is committed
    committed, _ = apply_block(state, [first], timestamp_ms=1)
    pool.remove_committed(committed, [first.tx_hash])
    # then the rival is gone with a reason, and nonce 2 waits
    assert len(pool) == 1 and second.tx_hash in pool and rival.tx_hash not in pool
    refusal = pool.refusal(rival.tx_hash)
    assert refusal is not None and refusal.code == "bad_nonce"
    assert pool.refusal(first.tx_hash) is None


# -- one validator, in process -----------------------------------------------------------------


def test_a_single_validator_commits_a_submitted_transaction_and_keeps_it_across_restart(
    single: NodeConfig, spec: ChainSpec
) -> None:
    tx = anchor(1)
    tx_hash = hashlib.sha256(tx).hexdigest()

    async def submit(client: httpx.AsyncClient) -> tuple[Any, ...]:
        accepted = await client.post("/v1/txs", json={"tx": tx.hex()})
        again = await client.post("/v1/txs", json={"tx": tx.hex()})
        bad = await client.post("/v1/txs", json={"tx": anchor(2, key=1).hex()})
        for _ in range(200):
            status = (await client.get(f"/v1/txs/{tx_hash}")).json()
            if status["status"] == "committed":
                break
            await asyncio.sleep(0.05)
        block = (await client.get(f"/v1/blocks/{status['height']}")).json()
        for _ in range(200):
            if (await client.get("/v1/status")).json()["height"] >= 7:
                break
            await asyncio.sleep(0.05)
        return accepted, again, bad, status, block

    # when a transaction is submitted twice and a forged one once
    accepted, again, bad, status, block = asyncio.run(run_node(single, spec, submit))
    # then it is accepted, then reported as a duplicate, and the forgery is refused with its code
    assert accepted.status_code == 202 and accepted.json() == {"hash": tx_hash}
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_signature"
    # and it is committed in a block that lists it with its certificate's signers
    assert status["status"] == "committed" and status["code"] is None
    assert [t["hash"] for t in block["transactions"]] == [tx_hash]
    assert block["signers"] == [0]

    async def after_restart(client: httpx.AsyncClient) -> tuple[Any, Any]:
        status = (await client.get("/v1/status")).json()
        found = (await client.get(f"/v1/txs/{tx_hash}")).json()
        return status, found

    # and a snapshot of the state was stored (encoded off the loop, written before stopping)
    storage = Storage(single.data_dir / "node.sqlite3", genesis_hash=spec.genesis_block.hash)
    snapshot = storage.latest_snapshot(10**9)
    storage.close()
    assert snapshot is not None and snapshot[0] % 3 == 0 and snapshot[0] >= 3

    # when the node restarts from its storage (from a snapshot plus the blocks after it)
    status2, found = asyncio.run(run_node(single, spec, after_restart))
    # then its height and the transaction's record survived
    assert status2["height"] >= 7
    assert found["status"] == "committed" and found["height"] == status["height"]


def test_the_api_answers_bad_requests_with_the_one_error_shape(
    single: NodeConfig, spec: ChainSpec
) -> None:
    async def probe(client: httpx.AsyncClient) -> list[tuple[int, str]]:
        answers = [
            await client.post("/v1/txs", content=b"{not json"),
            await client.post("/v1/txs", content=b"x" * (300 * 1024)),
            await client.post("/v1/txs", json={"tx": "zz"}),
            await client.get("/v1/txs/zz"),
            await client.get("/v1/blocks/999999"),
            await client.get("/v1/nothing"),
            await client.post("/v1/test/partition", json={"peers": [1], "duration_ms": 1}),
        ]
        return [(a.status_code, a.json()["error"]["code"]) for a in answers]

    # when malformed, oversize, unknown and test-only requests are sent to a node
    answers = asyncio.run(run_node(single, spec, probe))
    # then each gets its status and a JSON error code (the fault hook is off outside tests)
    assert answers == [
        (400, "malformed"),
        (413, "oversize"),
        (400, "malformed"),
        (400, "malformed"),
        (404, "not_found"),
        (404, "not_found"),
        (404, "not_found"),
    ]


def test_a_batch_admits_each_transaction_on_its_own_and_answers_in_order(
    single: NodeConfig, spec: ChainSpec
) -> None:
    from ledger.node.api import MAX_BATCH_TXS

    one, two = anchor(1), anchor(2)

    async def submit(client: httpx.AsyncClient) -> tuple[Any, ...]:
        batch = [one.hex(), two.hex(), one.hex(), anchor(3, key=1).hex(), "zz", "01ff"]
        answer = await client.post("/v1/txs/batch", json={"txs": batch})
        too_many = await client.post("/v1/txs/batch", json={"txs": ["00"] * (MAX_BATCH_TXS + 1)})
        not_a_list = await client.post("/v1/txs/batch", json={"txs": one.hex()})
        for _ in range(200):
            found = (await client.get(f"/v1/txs/{hashlib.sha256(two).hexdigest()}")).json()
            if found["status"] == "committed":
                break
            await asyncio.sleep(0.05)
        again = await client.post("/v1/txs", json={"tx": one.hex()})
        again_batch = await client.post("/v1/txs/batch", json={"txs": [one.hex()]})
        hashes = [hashlib.sha256(t).hexdigest() for t in (one, two)] + ["00" * 32]
        lookup = await client.post("/v1/txs/lookup", json={"hashes": hashes})
        bad_lookup = await client.post("/v1/txs/lookup", json={"hashes": ["zz"]})
        return answer, too_many, not_a_list, found, again, again_batch, lookup, bad_lookup

    # when a batch mixes new, repeated, forged and undecodable transactions
    answer, too_many, not_a_list, found, again, again_batch, lookup, bad_lookup = asyncio.run(
        run_node(single, spec, submit)
    )
    # then each gets its own outcome, in order, and the valid ones are admitted
    assert answer.status_code == 200
    body = answer.json()
    results = [(r["status"], r["code"]) for r in body["results"]]
    assert results == [
        ("accepted", None),
        ("accepted", None),
        ("duplicate", None),
        ("rejected", "bad_signature"),
        ("rejected", "malformed"),
        ("rejected", "malformed"),
    ]
    assert body["results"][0]["hash"] == hashlib.sha256(one).hexdigest()
    assert body["results"][4]["hash"] is None and body["results"][4]["message"]
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 1, 3)
    # and a batch that is not a list of at most MAX_BATCH_TXS strings is refused as a whole
    assert (too_many.status_code, too_many.json()["error"]["code"]) == (413, "oversize")
    assert (not_a_list.status_code, not_a_list.json()["error"]["code"]) == (400, "malformed")
    # and once committed, submitting it again is a duplicate, not a nonce error
    assert found["status"] == "committed"
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again_batch.json()["results"][0]["status"] == "duplicate"
    # and a lookup answers each hash like GET /v1/txs/<hash>, in order
    statuses = [r["status"] for r in lookup.json()["results"]]
    assert lookup.status_code == 200 and statuses == ["committed", "committed", "unknown"]
    assert (bad_lookup.status_code, bad_lookup.json()["error"]["code"]) == (400, "malformed")


def test_committed_state_is_frozen_for_the_collector_and_a_full_collection_runs_on_schedule(
    single: NodeConfig, spec: ChainSpec
) -> None:
    import gc

    async def watch(client: httpx.AsyncClient) -> dict[str, Any]:
        await client.post("/v1/txs", json={"tx": anchor(1).hex()})
        for _ in range(100):
            status = (await client.get("/v1/status")).json()
            if status["height"] >= 3 and status["gc"]["full_collections"] >= 1:
                return dict(status["gc"])
            await asyncio.sleep(0.05)
        return dict(status["gc"])

    # when a node commits blocks for longer than its full-collection interval (0.3 s here)
    config = dataclasses.replace(single, full_gc_every_s=0.3)
    stats = asyncio.run(run_node(config, spec, watch))
    # then what was alive at its commits is frozen, and the full collection ran and was timed
    assert stats["frozen"] > 0
    assert stats["full_collections"] >= 1 and stats["last_pause_ms"] >= 0
    assert stats["last_collected"] >= 0
    # and a stopped node leaves the process's collector as it found it
    assert gc.get_freeze_count() == 0
