"""Transaction receipts a payer can verify offline (docs/ledger.md, "Receipts").

A receipt is a JSON document holding everything needed to check, without any node or portal,
that a transaction is in a finalised block of the chain that starts at a given genesis:

- the transaction bytes, its index, the number of transactions of the block and its **audit
  path** to the header's ``payload_root`` (RFC 9162 section 2.1.3: the payload root is the RFC
  6962 Merkle Tree Hash, ``compute_payload_root``);
- the block header and its commit certificate (``verify_commit``: one aggregate BLS verification);
- the chain of custody of the validator sets: the genesis block with its validator set (the
  genesis payload is the set's digest), and for each epoch change the header and certificate of
  the block that ended the epoch with the state proofs of its validator set (``ledger.state.
  proofs``), so each epoch costs one aggregate verification whatever the number of validators;
- optionally the **outcome**: the receipts of the block, proved against the header's state root,
  which say whether the state machine committed or rejected the transaction.

``verify_receipt`` is pure; ``manage.py verify_receipt`` and ``bench/receipts.py`` wrap it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.consensus.certificates import is_commit_chain, verify_commit, verify_qc
from ledger.consensus.crypto import Backend
from ledger.consensus.errors import DecodeError, InvalidValidatorSet
from ledger.consensus.types import Block, BlockHeader, CommitCert, _mth, decode
from ledger.consensus.validators import SIGNATURE_SIZE, ValidatorInfo, ValidatorSet
from ledger.state.proofs import (
    InvalidProof,
    OutcomeProof,
    ProvedOutcome,
    verify_next_validators,
    verify_outcome,
)
from ledger.state.store import EntryProof

__all__ = [
    "RECEIPT_FORMAT",
    "RECEIPT_VERSION",
    "EpochChange",
    "ReceiptError",
    "TransactionReceipt",
    "VerifiedReceipt",
    "compute_inclusion_proof",
    "entry_proof_from_json",
    "entry_proof_to_json",
    "genesis_hash_from_json",
    "verify_inclusion_proof",
    "verify_receipt",
]

RECEIPT_FORMAT = "alliance-ledger/receipt"
RECEIPT_VERSION = 1


def _leaf_hash(tx: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + tx).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


# --- payload inclusion proofs (RFC 9162 section 2.1.3) ---------------------------------------


def compute_inclusion_proof(payload: Sequence[bytes], index: int) -> tuple[bytes, ...]:
    """The audit path of ``payload[index]``: sibling subtree hashes from the leaf up (RFC 9162
    2.1.3.1, ``PATH(m, D[n])``); ``IndexError`` for an index outside the payload."""
    if not 0 <= index < len(payload):
        raise IndexError(f"no transaction at index {index} of {len(payload)}")
    path: list[bytes] = []
    leaves = [_leaf_hash(tx) for tx in payload]
    # Walk down from the root, remembering the sibling subtree at each split.
    while len(leaves) > 1:
        split = 1 << ((len(leaves) - 1).bit_length() - 1)
        if index < split:
            path.append(_mth(leaves[split:]))
            leaves = leaves[:split]
        else:
            path.append(_mth(leaves[:split]))
            leaves, index = leaves[split:], index - split
    return tuple(reversed(path))


def verify_inclusion_proof(
    tx: bytes, index: int, tree_size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """True when ``tx`` is leaf ``index`` of the ``tree_size``-leaf tree with ``root`` (RFC 9162
    2.1.3.2, the verification algorithm verbatim)."""
    if not 0 <= index < tree_size or any(len(p) != 32 for p in path):
        return False
    fn, sn, r = index, tree_size - 1, _leaf_hash(tx)
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


# --- the document ----------------------------------------------------------------------------


class ReceiptError(ValueError):
    """A receipt that does not verify; ``part`` names the part of the document that is wrong
    (``document``, ``genesis``, ``validators``, ``header``, ``certificate``, ``transaction``,
    ``audit_path`` or ``outcome``)."""

    def __init__(self, part: str, message: str) -> None:
        super().__init__(f"{part}: {message}")
        self.part = part
        self.message = message


@dataclass(frozen=True)
class EpochChange:
    """The committed block that ended an epoch, and the state proofs of the next set."""

    header: BlockHeader
    cert: CommitCert
    meta: EntryProof
    validators: EntryProof


@dataclass(frozen=True)
class TransactionReceipt:
    """Everything needed to verify one transaction offline (see the module docstring)."""

    chain_id: bytes
    genesis: Block
    genesis_validators: tuple[ValidatorInfo, ...]
    epoch_changes: tuple[EpochChange, ...]
    header: BlockHeader
    cert: CommitCert
    tx: bytes
    index: int
    tree_size: int
    audit_path: tuple[bytes, ...]
    outcome: OutcomeProof | None = None

    @property
    def tx_hash(self) -> bytes:
        return hashlib.sha256(self.tx).digest()

    def to_json(self) -> dict[str, Any]:
        """The JSON document (bytes as lowercase hex)."""
        return {
            "format": RECEIPT_FORMAT,
            "version": RECEIPT_VERSION,
            "chain_id": self.chain_id.hex(),
            "genesis": {
                "block": self.genesis.encoded.hex(),
                "validators": [
                    {
                        "index": v.index,
                        "public_key": v.public_key.hex(),
                        "pop": v.proof_of_possession.hex(),
                        "name": v.name,
                    }
                    for v in self.genesis_validators
                ],
            },
            "epoch_changes": [
                {
                    "header": c.header.encoded.hex(),
                    "certificate": c.cert.encoded.hex(),
                    "meta_proof": entry_proof_to_json(c.meta),
                    "validators_proof": entry_proof_to_json(c.validators),
                }
                for c in self.epoch_changes
            ],
            "block": {"header": self.header.encoded.hex(), "certificate": self.cert.encoded.hex()},
            "transaction": {
                "hash": self.tx_hash.hex(),
                "tx": self.tx.hex(),
                "index": self.index,
                "tree_size": self.tree_size,
                "audit_path": [p.hex() for p in self.audit_path],
            },
            "outcome": None
            if self.outcome is None
            else {
                "meta_proof": entry_proof_to_json(self.outcome.meta),
                "receipts": [r.hex() for r in self.outcome.receipts],
            },
        }

    @classmethod
    def from_json(cls, data: Any) -> TransactionReceipt:
        """Parse a receipt document; ``ReceiptError`` naming the part that is malformed (a
        transaction whose bytes do not hash to the stated hash is refused here)."""
        doc = _Doc(data, "document")
        if doc.get("format") != RECEIPT_FORMAT or doc.get("version") != RECEIPT_VERSION:
            raise ReceiptError("document", f"not a {RECEIPT_FORMAT} version {RECEIPT_VERSION}")
        genesis = doc.child("genesis", "genesis")
        tx_part = doc.child("transaction", "transaction")
        block = doc.child("block", "header")
        receipt = cls(
            chain_id=doc.hex("chain_id"),
            genesis=genesis.value("block", Block),
            genesis_validators=tuple(
                ValidatorInfo(
                    index=v.integer("index"),
                    public_key=v.hex("public_key"),
                    proof_of_possession=v.hex("pop"),
                    name=v.text("name"),
                )
                for v in genesis.children("validators", "validators")
            ),
            epoch_changes=tuple(
                EpochChange(
                    header=c.value("header", BlockHeader),
                    cert=c.value("certificate", CommitCert),
                    meta=c.child("meta_proof", "validators").proof(),
                    validators=c.child("validators_proof", "validators").proof(),
                )
                for c in doc.children("epoch_changes", "validators")
            ),
            header=block.value("header", BlockHeader),
            cert=_Doc(block.data, "certificate").value("certificate", CommitCert),
            tx=tx_part.hex("tx"),
            index=tx_part.integer("index"),
            tree_size=_Doc(tx_part.data, "audit_path").integer("tree_size"),
            audit_path=tuple(_Doc(tx_part.data, "audit_path").hex_list("audit_path")),
            outcome=None
            if doc.get("outcome") is None
            else OutcomeProof(
                meta=doc.child("outcome", "outcome").child("meta_proof", "outcome").proof(),
                receipts=tuple(doc.child("outcome", "outcome").hex_list("receipts")),
            ),
        )
        if tx_part.hex("hash") != receipt.tx_hash:
            raise ReceiptError("transaction", "the transaction bytes do not hash to its hash")
        return receipt


def entry_proof_to_json(proof: EntryProof) -> dict[str, Any]:
    """A state membership proof as the JSON a receipt carries (bytes as hex)."""
    return {
        "key": proof.key.hex(),
        "value": proof.value.hex(),
        "bucket": [h.hex() for h in proof.bucket],
        "siblings": [h.hex() for h in proof.siblings],
    }


class _Doc:
    """Typed access to one JSON object of the document; errors name ``part``."""

    def __init__(self, data: Any, part: str) -> None:
        if not isinstance(data, Mapping):
            raise ReceiptError(part, "expected a JSON object")
        self.data = data
        self.part = part

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def _field(self, key: str, kind: type | tuple[type, ...]) -> Any:
        value = self.data.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ReceiptError(self.part, f"{key!r} is missing or mistyped")
        return value

    def child(self, key: str, part: str) -> _Doc:
        return _Doc(self._field(key, Mapping), part)

    def children(self, key: str, part: str) -> list[_Doc]:
        return [_Doc(item, part) for item in self._field(key, list)]

    def integer(self, key: str) -> int:
        value: int = self._field(key, int)
        if value < 0:
            raise ReceiptError(self.part, f"{key!r} is negative")
        return value

    def text(self, key: str) -> str:
        value: str = self._field(key, str)
        return value

    def hex(self, key: str) -> bytes:
        return self._bytes(self._field(key, str), key)

    def hex_list(self, key: str) -> list[bytes]:
        return [self._bytes(item, key) for item in self._field(key, list)]

    def _bytes(self, value: Any, key: str) -> bytes:
        # Lowercase only, so each byte string has exactly one spelling in the document.
        if not isinstance(value, str) or value != value.lower():
            raise ReceiptError(self.part, f"{key!r} is not lowercase hex")
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise ReceiptError(self.part, f"{key!r} is not hex") from None

    def value(self, key: str, kind: type[Any]) -> Any:
        try:
            value = decode(self.hex(key))
        except DecodeError as exc:
            raise ReceiptError(self.part, f"{key!r} does not decode ({exc})") from exc
        if not isinstance(value, kind):
            raise ReceiptError(self.part, f"{key!r} is not a {kind.__name__}")
        return value

    def proof(self) -> EntryProof:
        return EntryProof(
            key=self.hex("key"),
            value=self.hex("value"),
            bucket=tuple(self.hex_list("bucket")),
            siblings=tuple(self.hex_list("siblings")),
        )


def entry_proof_from_json(data: Any, part: str = "document") -> EntryProof:
    """Inverse of ``entry_proof_to_json``; ``ReceiptError(part, ...)`` when malformed."""
    return _Doc(data, part).proof()


def genesis_hash_from_json(data: Any) -> bytes:
    """The genesis hash of a genesis description (``GET /v1/genesis``, genesis.json): the hash of
    its ``genesis_block``; ``ReceiptError("genesis", ...)`` when there is none."""
    block: Block = _Doc(data, "genesis").value("genesis_block", Block)
    return block.hash


# --- verification ----------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedReceipt:
    """What a receipt proved."""

    tx_hash: bytes
    height: int
    epoch: int
    block_hash: bytes
    genesis_hash: bytes
    genesis_pinned: bool
    signers: int
    validators: int
    outcome: ProvedOutcome | None

    def summary(self) -> str:
        lines = [
            f"valid: tx {self.tx_hash.hex()} in block {self.height}, epoch {self.epoch}, "
            f"signed by {self.signers} of {self.validators} validators"
        ]
        if self.outcome is None:
            lines.append("outcome: not proved (the receipt carries no outcome proof)")
        elif self.outcome.committed:
            lines.append("outcome: committed by the state machine")
        else:
            lines.append(f"outcome: rejected by the state machine ({self.outcome.code})")
        pin = "pinned" if self.genesis_pinned else "NOT pinned: compare it or pass --genesis"
        lines.append(f"genesis: {self.genesis_hash.hex()} ({pin})")
        return "\n".join(lines)


#: Stands in for the proofs of possession of validators admitted after genesis, which a verifier
#: does not need: the state admits a key only after its proof of possession verified (and that
#: check includes KeyValidate), and the state comes to the verifier through a quorum certificate.
_UNUSED_POP = bytes(SIGNATURE_SIZE)


def _trusted_set(infos: Sequence[ValidatorInfo], crypto: Backend, epoch: int) -> ValidatorSet:
    # No key is re-validated here: the genesis set is what the genesis hash names (the caller
    # trusts that hash, so it trusts the keys), later sets come from certified state (above).
    # This keeps a receipt's cost at one aggregate verification per epoch, whatever n is.
    known = frozenset((v.public_key, v.proof_of_possession) for v in infos)
    return ValidatorSet(infos, crypto=crypto, epoch=epoch, _already_validated=known)


def _genesis_set(receipt: TransactionReceipt, crypto: Backend, pin: bytes | None) -> ValidatorSet:
    genesis = receipt.genesis
    if pin is not None and genesis.hash != pin:
        raise ReceiptError("genesis", f"genesis {genesis.hash.hex()} is not the pinned {pin.hex()}")
    h = genesis.header
    if h.height != 0 or h.epoch != 0 or h.chain_id != receipt.chain_id:
        raise ReceiptError("genesis", "not the height-0 block of this chain id")
    try:
        vset = _trusted_set(receipt.genesis_validators, crypto, 0)
    except InvalidValidatorSet as exc:
        raise ReceiptError("validators", f"genesis validator set: {exc}") from exc
    if genesis.payload != (vset.digest,) or not genesis.is_payload_consistent():
        raise ReceiptError("validators", "the genesis validator set is not the genesis block's")
    return vset


def _next_set(
    vset: ValidatorSet, change: EpochChange, chain_id: bytes, after: int, crypto: Backend
) -> ValidatorSet:
    h, epoch = change.header, vset.epoch
    where = f"end of epoch {epoch}"
    if h.chain_id != chain_id or h.epoch != epoch or h.height <= after:
        raise ReceiptError("validators", f"{where}: the header is not of epoch {epoch}")
    if not verify_commit(vset, h, change.cert):
        raise ReceiptError("validators", f"{where}: the commit certificate does not verify")
    try:
        validators = verify_next_validators(
            h.state_root, height=h.height, epoch=epoch, meta=change.meta,
            validators=change.validators,
        )  # fmt: skip
    except InvalidProof as exc:
        raise ReceiptError("validators", f"{where}: {exc}") from exc
    infos = [
        ValidatorInfo(i, v.bls_public_key, _UNUSED_POP, v.org_id) for i, v in enumerate(validators)
    ]
    try:
        return _trusted_set(infos, crypto, epoch + 1)
    except InvalidValidatorSet as exc:
        raise ReceiptError("validators", f"{where}: next set: {exc}") from exc


def verify_receipt(
    receipt: TransactionReceipt, *, crypto: Backend, genesis_hash: bytes | None = None
) -> VerifiedReceipt:
    """Check a receipt completely; ``ReceiptError`` naming the first part that is wrong.

    ``genesis_hash`` pins the chain (compare with the genesis you trust); without it the receipt
    is only checked to be consistent with the genesis it carries, whose hash is returned.
    """
    chain_id = receipt.chain_id
    vset = _genesis_set(receipt, crypto, genesis_hash)
    after = 0
    for change in receipt.epoch_changes:
        vset = _next_set(vset, change, chain_id, after, crypto)
        after = change.header.height

    header, cert = receipt.header, receipt.cert
    if header.chain_id != chain_id or header.height <= after:
        raise ReceiptError("header", "the block is not on this chain after its last epoch change")
    if header.epoch != vset.epoch:
        raise ReceiptError(
            "validators", f"the block is of epoch {header.epoch}; the receipt proves the "
            f"validator sets up to epoch {vset.epoch}",
        )  # fmt: skip
    if not cert.headers or cert.headers[0].parent_hash != header.hash:
        raise ReceiptError(
            "header", "the certificate does not extend this header (header or certificate changed)"
        )
    if not is_commit_chain(header, cert, vset.epoch):
        raise ReceiptError("certificate", "the certificate's headers do not form a commit chain")
    if not verify_qc(vset, chain_id, cert.qc):
        raise ReceiptError("certificate", "the quorum certificate does not verify")

    if not verify_inclusion_proof(
        receipt.tx, receipt.index, receipt.tree_size, receipt.audit_path, header.payload_root
    ):
        raise ReceiptError("audit_path", "the transaction is not in the block's payload root")

    outcome = None
    if receipt.outcome is not None:
        if len(receipt.outcome.receipts) != receipt.tree_size:
            raise ReceiptError("outcome", "one receipt per transaction of the block is needed")
        try:
            outcome = verify_outcome(
                header.state_root, header.height, receipt.outcome, receipt.index
            )
        except InvalidProof as exc:
            raise ReceiptError("outcome", str(exc)) from exc
        if outcome.tx_hash != receipt.tx_hash:
            raise ReceiptError("outcome", "the receipt at that index is of another transaction")

    return VerifiedReceipt(
        tx_hash=receipt.tx_hash,
        height=header.height,
        epoch=header.epoch,
        block_hash=header.hash,
        genesis_hash=receipt.genesis.hash,
        genesis_pinned=genesis_hash is not None,
        signers=len(vset.indices_from_bitmap(cert.qc.signers)),
        validators=vset.n,
        outcome=outcome,
    )
