"""Shared harness of the portal-side ledger tests (no tests here).

``LedgerHarness`` runs four REAL consensus replicas (blst) over REAL ``ledger.state``
transactions in process: the leaders fill blocks from a shared mempool, every block is executed
by ``Executor.execute_root`` and committed with the certificate the replica's ``Commit`` effect
carries. ``NodeServer`` serves those signed blocks over HTTP with the node API contract of
/work/briefs/ledger-network.md (a test harness around real consensus output, not a fake of its
verdicts), with switches to make it unavailable or to corrupt what it serves.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.consensus import (
    Block,
    CommitCert,
    CommittedBlock,
    ValidatorInfo,
    ValidatorSet,
    make_genesis,
)
from ledger.consensus.replica import Replica
from ledger.state import (
    Executor,
    GenesisAccount,
    GenesisConfig,
    GenesisOrganization,
    GenesisValidator,
    InvalidTransaction,
    State,
    Transaction,
    genesis_state,
    propose_block,
    transaction_to_json,
    validate_tx,
)
from tests.ledger.consensus.support import Driver, blst, secret_key

CHAIN = "alliance-test"
VALIDATOR_ORGS = ("val-a", "val-b", "val-c", "val-d")


def org_key(name: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes((name.encode() + b"-ed25519").ljust(32, b"."))


def raw_public_key(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


class LedgerHarness:
    """Four replicas committing real blocks of real transactions."""

    def __init__(
        self,
        organizations: dict[str, bytes],
        accounts: tuple[GenesisAccount, ...] = (),
        *,
        joining: int = 0,
    ) -> None:
        """``joining`` extra replicas (indices 4, 5, ...) follow the chain without voting until
        a committed ``validator_add`` makes them validators of the next epoch."""
        crypto = blst()
        self.crypto = crypto
        infos = tuple(
            ValidatorInfo.from_secret_key(i, secret_key(i), crypto, org)
            for i, org in enumerate(VALIDATOR_ORGS)
        )
        self.config = GenesisConfig(
            chain_id=CHAIN,
            validators=tuple(
                GenesisValidator(
                    org, raw_public_key(org_key(org)), info.public_key, info.proof_of_possession
                )
                for org, info in zip(VALIDATOR_ORGS, infos, strict=True)
            ),
            organizations=tuple(GenesisOrganization(o, k) for o, k in organizations.items()),
            accounts=accounts,
        )
        state = genesis_state(self.config, pop_verify=crypto.PopVerify)
        self.vset = ValidatorSet(infos, crypto=crypto, epoch=0)
        self.vsets = {0: self.vset}
        self.chain_id = CHAIN.encode()
        self.genesis = make_genesis(self.chain_id, self.vset, state_root=state.root)
        self.executor = Executor(state)
        self.tip_state: State = state
        self.mempool: list[Transaction] = []
        self.seen: dict[str, Transaction] = {}
        self.refused: dict[str, tuple[str, str]] = {}
        self.driver = Driver(
            [
                Replica(
                    chain_id=self.chain_id,
                    index=i,
                    secret_key=secret_key(i),
                    validator_set=self.vset,
                    genesis=self.genesis,
                    crypto=crypto,
                    payload_source=self._payload,
                    execute=self.executor.execute_root,
                    on_reconfigure=self._reconfigure,
                )
                for i in range(4 + joining)
            ]
        )
        self.driver.start()

    def _reconfigure(self, block: Block) -> ValidatorSet | None:
        """What a node does on commit: the next epoch's set from the replicated state (BLS keys
        in the bitmap order of the state; proofs of possession of the keys we hold)."""
        validators = self.executor.reconfiguration(block.header.state_root)
        if validators is None:
            return None
        epoch = block.header.epoch + 1
        if epoch not in self.vsets:
            known = {secret_key_pk(i, self.crypto): i for i in range(16)}
            infos = [
                ValidatorInfo.from_secret_key(
                    i, secret_key(known[v.bls_public_key]), self.crypto, v.org_id
                )
                for i, v in enumerate(validators)
            ]
            self.vsets[epoch] = self.vsets[epoch - 1].successor(infos, epoch=epoch)
        return self.vsets[epoch]

    # -- the mempool and proposals ----------------------------------------------------------

    def _payload(self, max_bytes: int) -> list[bytes]:
        # The in-order driver always extends the last proposal, so the candidates are filtered
        # against the state that proposal produced (what a node's mempool does with the parent).
        proposal = propose_block(
            self.tip_state, self.mempool, timestamp_ms=self.tip_state.timestamp_ms + 1
        )
        future = []
        for tx, error in proposal.excluded:
            if error.code.value == "bad_nonce" and tx.nonce > self.tip_state.next_nonce(tx.sender):
                future.append(tx)
            else:
                self.refused[tx.tx_hash.hex()] = (error.code.value, error.reason)
        self.mempool = future + list(proposal.deferred)
        self.tip_state = proposal.state
        return [tx.encoding for tx in proposal.transactions]

    def submit(self, data: bytes) -> tuple[str, bool]:
        """Admit an encoded transaction (the door checks of a node); InvalidTransaction."""
        tx = Transaction.decode(data)
        key = tx.tx_hash.hex()
        if key in self.seen:
            return key, True
        # The mempool's door checks: chain, sender, nonce (future ones kept), signature.
        validate_tx(self.tip_state, tx, nonce_window=1024)
        self.seen[key] = tx
        self.mempool.append(tx)
        return key, False

    # -- driving consensus ------------------------------------------------------------------

    @property
    def committed(self) -> tuple[CommittedBlock, ...]:
        return self.driver.replicas[0].committed_with_certs

    @property
    def height(self) -> int:
        return len(self.committed)

    def run_until(self, height: int) -> None:
        self.driver.run(lambda d: len(d.replicas[0].committed_with_certs) >= height)

    def commit_pending(self) -> None:
        """Run until every transaction submitted so far is in a committed block."""
        self.run_until(self.height + 3)

    def receipts(self, block: Block) -> dict[str, Any]:
        return {r.tx_hash.hex(): r for r in self.executor.receipts(block.header.state_root)}

    def tx_status(self, tx_hash: str) -> dict[str, Any]:
        for item in self.committed:
            receipt = self.receipts(item.block).get(tx_hash)
            if receipt is not None:
                return {
                    "hash": tx_hash, "status": str(receipt.status), "height": item.block.height,
                    "code": None if receipt.code is None else str(receipt.code),
                    "reason": receipt.reason,
                }  # fmt: skip
        if tx_hash in self.refused:
            code, reason = self.refused[tx_hash]
            return {"hash": tx_hash, "status": "rejected", "height": None, "code": code,
                    "reason": reason}  # fmt: skip
        status = "pending" if tx_hash in self.seen else "unknown"
        return {"hash": tx_hash, "status": status, "height": None, "code": None, "reason": None}

    def block_object(self, item: CommittedBlock) -> dict[str, Any]:
        block, h = item.block, item.block.header
        receipts = self.receipts(block)
        txs = []
        for data in block.payload:
            tx = Transaction.decode(data)
            r = receipts[tx.tx_hash.hex()]
            view = transaction_to_json(tx)
            txs.append(
                {
                    "hash": view["hash"], "tx": data.hex(), "type": view["type"],
                    "sender": tx.sender, "nonce": tx.nonce, "status": str(r.status),
                    "code": None if r.code is None else str(r.code),
                }
            )  # fmt: skip
        return {
            "height": h.height,
            "hash": block.hash.hex(),
            "block": block.encoded.hex(),
            "certificate": item.cert.encoded.hex(),
            "header": {
                "epoch": h.epoch, "round": h.round, "proposer": h.proposer,
                "timestamp_ms": h.timestamp_ms, "state_root": h.state_root.hex(),
                "parent_hash": h.parent_hash.hex(),
            },
            "transactions": txs,
            "signers": self.vsets[h.epoch].indices_from_bitmap(item.cert.qc.signers),
        }  # fmt: skip

    def genesis_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id.hex(),
            "genesis_block": self.genesis.encoded.hex(),
            "validators": [
                {
                    "index": v.index, "name": v.name, "organization": v.name,
                    "public_key": v.public_key.hex(), "pop": v.proof_of_possession.hex(),
                }
                for v in self.vset.validators
            ],
            "state": self.config.to_dict(),
        }  # fmt: skip


def secret_key_pk(i: int, crypto: object) -> bytes:
    return bytes(crypto.SkToPk(secret_key(i)))  # type: ignore[attr-defined]


def forged_certificate(cert: CommitCert) -> CommitCert:
    """The same certificate with one byte of its aggregate signature changed."""
    sig = cert.qc.signature
    return replace(cert, qc=replace(cert.qc, signature=sig[:-1] + bytes([sig[-1] ^ 1])))


class NodeServer:
    """One node API endpoint over a harness. ``down`` answers 503 to everything; ``forge``
    serves blocks with a forged certificate (a lying node)."""

    def __init__(self, harness: LedgerHarness, name: str = "node") -> None:
        self.harness = harness
        self.name = name
        self.down = False
        self.forge = False
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        node = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, code: str, message: str) -> None:
                self._send(status, {"error": {"code": code, "message": message}})

            def do_GET(self) -> None:
                node.requests.append(f"GET {self.path}")
                if node.down:
                    return self._error(503, "unavailable", "node is down")
                url = urlparse(self.path)
                h = node.harness
                if url.path == "/v1/genesis":
                    return self._send(200, h.genesis_json())
                if url.path == "/v1/status":
                    return self._send(200, {
                        "chain_id": h.chain_id.hex(), "validator": 0, "name": node.name,
                        "epoch": 0, "round": h.driver.replicas[0].round, "height": h.height,
                        "state_root": h.committed[-1].block.header.state_root.hex()
                        if h.committed else h.genesis.header.state_root.hex(),
                        "peers": [], "mempool": len(h.mempool),
                    })  # fmt: skip
                if url.path.startswith("/v1/txs/"):
                    return self._send(200, h.tx_status(url.path.rsplit("/", 1)[1]))
                if url.path == "/v1/blocks":
                    start = int(parse_qs(url.query)["from"][0])
                    self.send_response(200)
                    self.send_header("Content-Type", "application/x-ndjson")
                    self.end_headers()
                    self.wfile.write(b"{}\n")
                    for item in h.committed[start - 1 :]:
                        self.wfile.write(json.dumps(node.serve(item)).encode() + b"\n")
                    return None
                if url.path.startswith("/v1/blocks/"):
                    height = int(url.path.rsplit("/", 1)[1])
                    if not 1 <= height <= h.height:
                        return self._error(404, "not_found", "not committed yet")
                    return self._send(200, node.serve(h.committed[height - 1]))
                return self._error(404, "not_found", "no such endpoint")

            def do_POST(self) -> None:
                node.requests.append(f"POST {self.path}")
                if node.down:
                    return self._error(503, "unavailable", "node is down")
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/v1/txs/lookup":
                    statuses = [node.harness.tx_status(h) for h in body["hashes"]]
                    return self._send(200, {"results": statuses})
                if self.path == "/v1/txs/batch":
                    return self._send(200, {"results": [node.admit(tx) for tx in body["txs"]]})
                try:
                    tx_hash, duplicate = node.harness.submit(bytes.fromhex(body["tx"]))
                except InvalidTransaction as exc:
                    return self._error(400, exc.code.value, exc.reason)
                if duplicate:
                    return self._send(200, {"hash": tx_hash, "duplicate": True})
                return self._send(202, {"hash": tx_hash})

        return Handler

    def admit(self, raw: str) -> dict[str, Any]:
        """One item of ``POST /v1/txs/batch`` (the node's per-transaction answer)."""
        try:
            tx_hash, duplicate = self.harness.submit(bytes.fromhex(raw))
        except InvalidTransaction as exc:
            return {"hash": None, "status": "rejected", "code": exc.code.value,
                    "message": exc.reason}  # fmt: skip
        status = "duplicate" if duplicate else "accepted"
        return {"hash": tx_hash, "status": status, "code": None, "message": None}

    def serve(self, item: CommittedBlock) -> dict[str, Any]:
        if self.forge:
            item = CommittedBlock(item.block, forged_certificate(item.cert))
        return self.harness.block_object(item)

    def __enter__(self) -> NodeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def nodes(harness: LedgerHarness, count: int = 2) -> Iterator[list[NodeServer]]:
    """``count`` node endpoints over one chain (validators that agree, as honest ones do)."""
    servers = [NodeServer(harness, f"node-{i}") for i in range(count)]
    for s in servers:
        s.__enter__()
    try:
        yield servers
    finally:
        for s in servers:
            s.__exit__()
