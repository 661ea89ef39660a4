"""Items read by the hourly ledger audit against the users whose ledger moved (and the full audit).

A ledger of ``--users`` (1,000) people, three entries each, written more than an hour ago; then
``--moved`` (50) of them get a posting, and the scheduled audit (``audit_recent``) runs. Prints
the items DynamoDB returned to that run (index entries, each moved user's ledger and balance)
against the moved users, and the same for the full audit (``genbot audit``: a scan of both
tables). moto runs in this process.

    .venv/bin/python bench/ledger_audit.py [--users 1000] [--moved 50]
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from typing import Any

from _offline import use_offline_env

use_offline_env()
HOUR_MS = 3_600_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--moved", type=int, default=50)
    args = parser.parse_args()

    from botocore.client import BaseClient

    from genbot_local.aws import MotoServer, bootstrap

    moto = MotoServer().start()
    os.environ["AWS_ENDPOINT_URL"] = moto.endpoint
    os.environ.update(bootstrap(prefix="genbot", endpoint=moto.endpoint))
    from genbot.config import get_settings
    from genbot.ledger import Posting, apply
    from genbot.ledger.audit import CHECKPOINT_KEY, audit, audit_recent
    from genbot.store import models
    from genbot.store.models import LedgerEntry, SettingItem, User, hour_of, now_ms

    models._Meta.read_timeout_seconds = 60  # moto answers a full scan slowly; DynamoDB pages it
    get_settings.cache_clear()
    long_ago = now_ms() - 3 * HOUR_MS
    with User.batch_write() as users, LedgerEntry.batch_write() as ledger:
        for n in range(args.users):
            uid = 10_001 + n
            users.save(User(uid, balance=3 + 5 - 2, language="ru"))
            for i, (op, delta) in enumerate((("bonus#welcome", 3), ("grant#b", 5), ("job#b", -2))):
                at = long_ago + n + i
                ledger.save(LedgerEntry(uid, op, delta=delta, kind="grant", created_at=at, hour=hour_of(at)))
    SettingItem(CHECKPOINT_KEY, value={"at": now_ms() - HOUR_MS}).save()  # the last run, an hour ago
    for n in range(args.moved):
        apply(Posting(10_001 + n * (args.users // args.moved), f"grant#moved-{n}", 1, "grant"))

    counted: Counter[str] = Counter()
    original = BaseClient._make_api_call

    def counting(self: Any, operation: str, params: dict[str, Any]) -> Any:
        answer = original(self, operation, params)
        counted[operation] += 1
        counted["items"] += int(answer.get("Count", 0)) + (
            1 if operation == "GetItem" and "Item" in answer else 0
        )
        return answer

    BaseClient._make_api_call = counting  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        run = audit_recent()
        recent_s, recent = time.perf_counter() - started, dict(counted)
        counted.clear()
        started = time.perf_counter()
        full = audit()
        full_s, whole = time.perf_counter() - started, dict(counted)
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]
        moto.stop()

    calls = sum(v for k, v in recent.items() if k != "items")
    print(
        f"ledger audit: {args.users} users ({3 * args.users} entries), {args.moved} moved since the last run"
    )
    print(
        f"  scheduled (audit_recent): users checked {run.users}, items read {recent['items']} "
        f"({recent['items'] / args.moved:.1f} per moved user), calls {calls}, "
        f"scans {recent.get('Scan', 0)}, mismatches {len(run.mismatches)}, {recent_s:.2f} s"
    )
    print(
        f"  full (genbot audit):      items read {whole['items']} "
        f"({whole['items'] / args.moved:.1f} per moved user), "
        f"scans {whole.get('Scan', 0)}, mismatches {len(full)}, {full_s:.2f} s"
    )
    print(f"  ratio full/scheduled items: {whole['items'] / max(1, recent['items']):.1f}x")


if __name__ == "__main__":
    main()
