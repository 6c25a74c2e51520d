"""Named errors of the consensus core (docs/ledger.md, "Verification rules").

Every handler of :class:`~ledger.consensus.replica.Replica` is all-or-nothing: when it raises one of
the :class:`InvalidMessage` subclasses below, the replica's state is exactly what it was before the
call. Class names are stable: the simulator counts rejections by class name.
"""

from __future__ import annotations

__all__ = [
    "ConsensusError",
    "DecodeError",
    "Equivocation",
    "FutureMessage",
    "InvalidCertificate",
    "InvalidMessage",
    "InvalidSignature",
    "InvalidValidatorSet",
    "NotLeader",
    "SafetyViolation",
    "StaleMessage",
    "WrongSender",
]


class ConsensusError(Exception):
    """Base class of every error raised by ``ledger.consensus``."""


class InvalidMessage(ConsensusError):
    """A message (or a field of it) fails a verification rule; the replica state is unchanged."""


class DecodeError(InvalidMessage):
    """Bytes that are not the canonical encoding of a consensus value."""


class InvalidSignature(InvalidMessage):
    """The message's own partial signature (vote or timeout) does not verify."""


class InvalidCertificate(InvalidMessage):
    """A QuorumCert, TimeoutCert or CommitCert is malformed or its aggregate does not verify."""


class WrongSender(InvalidMessage):
    """The signer or author named in the message is not the authenticated transport sender."""


class NotLeader(InvalidMessage):
    """A proposal whose proposer is not the leader of its round (or not its sender)."""


class Equivocation(InvalidMessage):
    """A second, different proposal or vote from the same validator in the same round."""


class StaleMessage(InvalidMessage):
    """A message from an epoch or round the replica has left behind."""


class FutureMessage(InvalidMessage):
    """A message too far ahead (round beyond the look-ahead window) to be kept."""


class SafetyViolation(ConsensusError):
    """The safety rules refused to sign: signing would break a vote or timeout rule."""


class InvalidValidatorSet(ConsensusError):
    """A validator set with a bad key, a bad proof of possession, or inconsistent indices."""
