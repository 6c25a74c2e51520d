"""Pure BFT consensus core (DiemBFT v4 / Jolteon 2-chain); see docs/ledger.md.

Imports nothing from Django, Celery, Channels, asyncio, sockets, clocks or global randomness: the
validator process, the portal and the simulator all drive the same :class:`Replica`.
"""

from __future__ import annotations

from .block_tree import BlockTree, make_block, make_genesis, make_root_qc
from .certificates import verify_commit, verify_qc, verify_tc
from .effects import Broadcast, Commit, Effect, NewEpoch, PersistSafety, Send, SetTimer
from .errors import (
    ConsensusError,
    DecodeError,
    Equivocation,
    FutureMessage,
    InvalidCertificate,
    InvalidMessage,
    InvalidSignature,
    InvalidValidatorSet,
    NotLeader,
    SafetyViolation,
    StaleMessage,
    WrongSender,
)
from .pacemaker import Pacemaker
from .params import ProtocolParams
from .replica import Replica
from .safety import SafetyRules, SafetyState
from .signing import compute_timeout_signing_root, compute_vote_signing_root
from .types import (
    Block,
    BlockHeader,
    CertifiedBlock,
    CommitCert,
    CommittedBlock,
    Message,
    Proposal,
    QuorumCert,
    SyncRequest,
    SyncResponse,
    TimeoutCert,
    TimeoutMsg,
    Vote,
    compute_payload_root,
    decode,
    encode,
)
from .validators import ValidatorInfo, ValidatorSet

__all__ = [
    "Block",
    "BlockHeader",
    "BlockTree",
    "Broadcast",
    "CertifiedBlock",
    "Commit",
    "CommitCert",
    "CommittedBlock",
    "ConsensusError",
    "DecodeError",
    "Effect",
    "Equivocation",
    "FutureMessage",
    "InvalidCertificate",
    "InvalidMessage",
    "InvalidSignature",
    "InvalidValidatorSet",
    "Message",
    "NewEpoch",
    "NotLeader",
    "Pacemaker",
    "PersistSafety",
    "Proposal",
    "ProtocolParams",
    "QuorumCert",
    "Replica",
    "SafetyRules",
    "SafetyState",
    "SafetyViolation",
    "Send",
    "SetTimer",
    "StaleMessage",
    "SyncRequest",
    "SyncResponse",
    "TimeoutCert",
    "TimeoutMsg",
    "ValidatorInfo",
    "ValidatorSet",
    "Vote",
    "WrongSender",
    "compute_payload_root",
    "compute_timeout_signing_root",
    "compute_vote_signing_root",
    "decode",
    "encode",
    "make_block",
    "make_genesis",
    "make_root_qc",
    "verify_commit",
    "verify_qc",
    "verify_tc",
]
