"""The invariant behind every balance: a user's ledger sums to their balance.

Two checks: ``audit()``, the operator's full one (``genbot audit``, the admin section): it
scans both tables, so it costs a full read of each; and ``audit_recent()``, the hourly
scheduled one (the ``audit`` function): only the users whose ledger moved since its last run,
alarmed on any difference (metric ``LedgerMismatches``).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from genbot.ledger.service import balance_from_ledger
from genbot.observability import logger, metrics
from genbot.store.models import LedgerEntry, SettingItem, User, hour_of, now_ms


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


# -- the scheduled, incremental audit ---------------------------------------------------------------

CHECKPOINT_KEY = "audit#ledger"  # settings item: {"at": epoch ms the last run covered up to}
LAG_MS = 10 * 60_000  # a run looks this far behind its checkpoint: index reads may lag the writes
FIRST_LOOKBACK_MS = 24 * 3_600_000  # with no checkpoint yet: the last day
_STABLE_TRIES = 4  # quiet re-checks of a user whose balance differed from their ledger
_PAUSE_SECONDS = 0.2


@dataclass(frozen=True)
class AuditRun:
    since_ms: int
    until_ms: int
    entries: int  # ledger entries read from the by_hour index
    users: int  # distinct users checked
    mismatches: list[Mismatch]

    def as_dict(self) -> dict[str, Any]:
        return {
            "since_ms": self.since_ms,
            "until_ms": self.until_ms,
            "entries": self.entries,
            "users": self.users,
            "mismatches": [vars(m) for m in self.mismatches],
        }


def _hours(since_ms: int, until_ms: int) -> list[str]:
    hours, at = [], since_ms - since_ms % 3_600_000
    while at <= until_ms:
        hours.append(hour_of(at))
        at += 3_600_000
    return hours


def _balance(user_id: int) -> int | None:
    try:
        return int(User.get(user_id, consistent_read=True).balance)
    except User.DoesNotExist:
        return None


def check_user(user_id: int) -> Mismatch | None:
    """One user's balance against the sum of their ledger: a consistent Query and GetItem.

    Those are two reads, not one snapshot: a posting landing between them looks like a
    difference. So a difference is reported only when two "quiet" checks (the balance read
    before and after the ledger, unchanged) agree on it; a user too busy to read quietly is
    left to the next run, which sees them again (they moved)."""
    total, balance = balance_from_ledger(user_id), _balance(user_id)
    if balance is not None and balance == total and balance >= 0:
        return None  # the common case: one Query, one GetItem
    seen: list[Mismatch] = []
    for _attempt in range(_STABLE_TRIES):
        time.sleep(_PAUSE_SECONDS)
        before = _balance(user_id)
        total = balance_from_ledger(user_id)
        if _balance(user_id) != before:
            continue  # it moved while we read: not a quiet check
        if before is not None and before == total and before >= 0:
            return None
        found = Mismatch(user_id, before, total)
        if found in seen:
            return found
        seen.append(found)
    logger.warning("ledger audit: no two quiet checks agreed", extra={"user_id": user_id})
    metrics.add_metric(name="LedgerAuditUnsettled", unit="Count", value=1)
    return None


def audit_recent(now_ms_: int | None = None) -> AuditRun:
    """Check the users whose ledger moved since the last run: the entries written since the
    checkpoint (minus ``LAG_MS``) from the ledger's ``by_hour`` index (one Query per UTC hour),
    then each of their users once. Reads grow with the activity since the last run, not with
    the tables. The checkpoint moves to this run's start; ``genbot audit`` keeps the full check."""
    until = now_ms() if now_ms_ is None else now_ms_
    try:
        stored = SettingItem.get(CHECKPOINT_KEY, consistent_read=True)
        since = int((stored.value or {}).get("at", until - FIRST_LOOKBACK_MS)) - LAG_MS
    except SettingItem.DoesNotExist:
        since = until - FIRST_LOOKBACK_MS
    users: set[int] = set()
    entries = 0
    for hour in _hours(since, until):
        for entry in LedgerEntry.by_hour.query(hour, LedgerEntry.created_at.between(since, until)):
            entries += 1
            users.add(int(entry.user_id))
    problems = [m for m in (check_user(uid) for uid in sorted(users)) if m is not None]
    SettingItem(CHECKPOINT_KEY, value={"at": until}, updated_at=now_ms()).save()
    run = AuditRun(since, until, entries, len(users), problems)
    metrics.add_metric(name="LedgerUsersAudited", unit="Count", value=run.users)
    metrics.add_metric(name="LedgerMismatches", unit="Count", value=len(problems))
    for problem in problems:
        logger.error("ledger mismatch", extra=vars(problem))
    logger.info("ledger audit", extra={k: v for k, v in run.as_dict().items() if k != "mismatches"})
    return run


def handle(event: dict[str, Any]) -> dict[str, Any]:
    """The ``audit`` function: the ``ledger_audit`` schedule's ``{"task": "ledger_audit"}``."""
    task = event.get("task")
    if task != "ledger_audit":
        logger.warning("unknown audit task", extra={"task": task})
        return {"task": task, "error": "unknown task"}
    return {"task": task, **audit_recent().as_dict()}
