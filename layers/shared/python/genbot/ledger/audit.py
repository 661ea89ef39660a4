"""The invariant behind every balance: a user's ledger sums to their balance.

An operator's tool (``genbot audit``): it scans both tables, so it costs a full read of
each; run it on demand or nightly, not per request.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from genbot.store.models import LedgerEntry, User


@dataclass(frozen=True)
class Mismatch:
    user_id: int
    balance: int | None  # None: ledger entries for a user that does not exist
    ledger_sum: int


def audit() -> list[Mismatch]:
    """Every user whose balance differs from the sum of their ledger entries."""
    sums: dict[int, int] = defaultdict(int)
    for entry in LedgerEntry.scan(consistent_read=True):
        sums[int(entry.user_id)] += int(entry.delta)
    problems: list[Mismatch] = []
    seen: set[int] = set()
    for user in User.scan(consistent_read=True):
        uid = int(user.user_id)
        seen.add(uid)
        if int(user.balance) != sums.get(uid, 0) or user.balance < 0:
            problems.append(Mismatch(uid, int(user.balance), sums.get(uid, 0)))
    problems += [Mismatch(uid, None, total) for uid, total in sums.items() if uid not in seen]
    return problems
