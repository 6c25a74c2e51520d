"""Verification rules of single messages that need no replica state (docs/ledger.md, "Messages").

Pure functions that raise a named ``InvalidMessage`` subclass; the replica runs them before it
looks at its own state (equivocation, rounds, certificates) and before it assigns anything.
"""

from __future__ import annotations

from .errors import InvalidMessage, InvalidSignature, NotLeader, WrongSender
from .params import ProtocolParams
from .types import Block, Message, Proposal, TimeoutMsg, Vote
from .validators import SIGNATURE_SIZE, ValidatorSet

__all__ = [
    "check_encodable",
    "check_proposal",
    "check_proposal_parent",
    "check_timeout",
    "check_vote",
]


def check_encodable(message: Message) -> None:
    """Every field has the type and range of its canonical encoding (a message built in-process,
    e.g. by a faulty peer in the simulator, may not); the encoding is cached for the hash."""
    try:
        message.encoded  # noqa: B018 - computing (and caching) it is the check
    except (ValueError, TypeError, AttributeError, OverflowError) as error:
        raise InvalidMessage(f"malformed {type(message).__name__}: {error}") from None


def check_proposal(
    proposal: Proposal,
    *,
    sender: int,
    validator_set: ValidatorSet,
    params: ProtocolParams,
    now_ms: int,
) -> None:
    """Leader, justification (QC of the parent, TC after a timeout), payload and clock rules."""
    block, qc, tc = proposal.block, proposal.qc, proposal.tc
    h = block.header
    epoch = validator_set.epoch
    if h.proposer != sender:
        raise NotLeader("proposal not sent by its proposer")
    if validator_set.leader(h.round) != h.proposer:
        raise NotLeader(f"validator {h.proposer} is not the leader of round {h.round}")
    if qc.epoch != epoch or qc.block_hash != h.parent_hash or qc.round >= h.round:
        raise InvalidMessage("proposal QC does not certify the block's parent")
    if h.round == qc.round + 1:
        if tc is not None:
            raise InvalidMessage("proposal carries a TC it does not need")
    elif tc is None or tc.epoch != epoch or tc.round + 1 != h.round:
        raise InvalidMessage("proposal round is not justified by its QC or a TC")
    elif qc.round < tc.max_high_qc_round:
        raise InvalidMessage("proposal after a timeout does not extend the highest QC")
    if len(block.payload) > params.max_block_txs:
        raise InvalidMessage("too many transactions")
    if block.payload_bytes > params.max_block_bytes:
        raise InvalidMessage("payload too large")
    if not block.is_payload_consistent():
        raise InvalidMessage("payload does not match the payload root")
    if h.timestamp_ms > now_ms + params.max_clock_drift_ms:
        raise InvalidMessage("proposal timestamp too far in the future")


def check_proposal_parent(block: Block, parent: Block, expected_state_root: bytes) -> None:
    """Height, timestamp monotonicity and the executed state root, against the parent."""
    h = block.header
    if h.height != parent.height + 1:
        raise InvalidMessage("proposal height is not parent height + 1")
    if h.timestamp_ms <= parent.header.timestamp_ms:
        raise InvalidMessage("proposal timestamp is not after its parent's")
    if h.state_root != expected_state_root:
        raise InvalidMessage("proposal state root does not match execution")


def check_vote(vote: Vote, *, sender: int, validator_set: ValidatorSet) -> None:
    """The voter is the authenticated sender and the signature has the right size."""
    if vote.voter != sender or not 0 <= sender < validator_set.n:
        raise WrongSender("vote signer is not the sender")
    if len(vote.signature) != SIGNATURE_SIZE:
        raise InvalidSignature("malformed vote signature")


def check_timeout(msg: TimeoutMsg, *, sender: int, validator_set: ValidatorSet) -> None:
    """Author, signature size, and that the carried certificates precede the round."""
    if msg.author != sender or not 0 <= sender < validator_set.n:
        raise WrongSender("timeout author is not the sender")
    if len(msg.signature) != SIGNATURE_SIZE:
        raise InvalidSignature("malformed timeout signature")
    epoch = validator_set.epoch
    if msg.high_qc.epoch != epoch or msg.high_qc.round >= msg.round:
        raise InvalidMessage("timeout high QC is not from an earlier round of this epoch")
    last_tc = msg.last_tc
    if last_tc is not None and (last_tc.epoch != epoch or last_tc.round + 1 != msg.round):
        raise InvalidMessage("timeout carries a TC for the wrong round")
