"""Balances as the follower mirrored them, for the payments tests on a real ledger (no tests
here)."""

from __future__ import annotations

from ledger.models import MirrorAccount


def balance(account_id: str) -> int:
    """The posted balance of ``account_id`` in the mirror."""
    return MirrorAccount.objects.get(account_id=account_id).balance


def held(account_id: str) -> int:
    """What active holds reserve on ``account_id``, in the mirror."""
    return MirrorAccount.objects.get(account_id=account_id).held
