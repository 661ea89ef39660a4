"""Items read per notify run against the users eligible for it (the sparse due indexes at work).

A users table of ``--users`` (10,000) people in the states a live bot has: most long past their
bonus window with no notice due, some who generated in the last day (offer not due yet), some
who claimed today's bonus (reminder due tomorrow), a few who were due but stopped being eligible
(they paid; they turned reminders off) and ``--eligible`` (50) due for the offer and 50 due for
the bonus reminder. One offer run and one reminder run, then the same again (steady state).
Prints the items DynamoDB returned to each run's queries against the eligible count (target
<= 2x) and the scans made (target 0). moto and the Bot API stand-in run in this process.

    .venv/bin/python bench/notify_selection.py [--users 10000] [--eligible 50]
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from typing import Any

from _offline import use_offline_env

use_offline_env()
DAY = 86400


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--eligible", type=int, default=50)
    args = parser.parse_args()

    from botocore.client import BaseClient

    from genbot_local.aws import MotoServer, bootstrap
    from genbot_local.botapi import BotApiStandIn
    from genbot_local.simulate import BOT_TOKEN

    standin = BotApiStandIn(token=BOT_TOKEN, bot_username="genbot_local_bot").start()
    moto = MotoServer().start()
    os.environ.update(
        {"TELEGRAM_API_URL": standin.base_url, "BOT_TOKEN": BOT_TOKEN, "AWS_ENDPOINT_URL": moto.endpoint}
    )
    os.environ.update(bootstrap(prefix="genbot", endpoint=moto.endpoint))
    from genbot.config import get_settings
    from genbot.notify import bonus, offers
    from genbot.store.models import DUE, User
    from genbot.users.notices import local_day, next_bonus_reminder

    get_settings.cache_clear()
    settings = get_settings()
    now = int(time.time())
    eligible, stragglers = args.eligible, max(1, args.eligible // 5)
    states: Counter[str] = Counter()

    def person(n: int) -> User:
        """The ``n``-th user, in one of the states above (ids from 10001: real Telegram ids)."""
        i = n
        old = now - 30 * DAY
        if i < eligible:  # the offer is due: one generation 25 h ago emptied the balance
            states["offer due"] += 1
            return User(
                10_001 + i,
                balance=0,
                generations=1,
                first_generation_at=now - 25 * DAY // 24,
                created_at=old,
                offer_q=DUE,
                offer_at=now - DAY // 24,
            )
        if i < 2 * eligible:  # the bonus reminder is due: registered yesterday, not claimed today
            states["reminder due"] += 1
            created = now - DAY
            return User(10_001 + i, balance=3, created_at=created, bonus_q=DUE, bonus_at=now - 60)
        if i < 2 * eligible + stragglers:  # was due for the offer, but paid meanwhile
            states["offer due, paid since"] += 1
            return User(
                10_001 + i,
                balance=20,
                generations=1,
                first_generation_at=now - 2 * DAY,
                created_at=old,
                offer_q=DUE,
                offer_at=now - DAY,
            )
        if i < 2 * eligible + 2 * stragglers:  # due for the reminder, turned reminders off
            states["reminder due, muted"] += 1
            return User(
                10_001 + i, balance=3, created_at=now - DAY, bonus_q=DUE, bonus_at=now - 60, muted={"bonus"}
            )
        if i % 10 == 0:  # generated in the last day: the offer is due tomorrow
            states["offer due later"] += 1
            return User(
                10_001 + i,
                balance=0,
                generations=1,
                first_generation_at=now - 3600,
                created_at=now - 7200,
                offer_q=DUE,
                offer_at=now + DAY - 3600,
            )
        if i % 10 == 1:  # claimed today's bonus: the reminder is due tomorrow
            states["reminder due tomorrow"] += 1
            created = now - DAY
            at = next_bonus_reminder(settings, created, now, skip_day=local_day(settings, now))
            return User(10_001 + i, balance=4, created_at=created, bonus_q=DUE if at else None, bonus_at=at)
        states["nothing due"] += 1
        return User(10_001 + i, balance=i % 7, generations=i % 5, created_at=old, first_paid_at=None)

    with User.batch_write() as batch:
        for i in range(args.users):
            batch.save(person(i))

    counted = {"items": 0, "scans": 0}
    original = BaseClient._make_api_call

    def counting(self: Any, operation: str, params: dict[str, Any]) -> Any:
        answer = original(self, operation, params)
        if operation == "Query":
            counted["items"] += int(answer.get("Count", 0))
        if operation == "Scan":
            counted["scans"] += 1
        return answer

    print(f"users in the table: {args.users}: {dict(states)}")
    BaseClient._make_api_call = counting  # type: ignore[method-assign]
    try:
        for round_ in ("first", "second"):
            for name, run in (("offer", offers.run), ("bonus reminder", bonus.run)):
                counted.update(items=0, scans=0)
                report = run(settings, now=now)
                ratio = counted["items"] / eligible
                print(
                    f"{round_} {name} run: items read {counted['items']} for {eligible} eligible "
                    f"(x{ratio:.2f}), scans {counted['scans']}, report {report}"
                )
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]
    sent = len([c for c in standin.calls_for("sendMessage") if c.ok])
    print(f"messages sent: {sent} (expected {2 * eligible})")
    from genbot import runtime

    runtime.forget_bot()
    for server in (standin, moto):
        server.stop()


if __name__ == "__main__":
    main()
