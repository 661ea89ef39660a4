"""Broadcast rate to the Bot API stand-in: sustained messages/s, lost and duplicate messages.

N users sit in the users table (moto); one broadcast goes to all of them through the real
fan-out: ``start`` -> the broadcasts queue -> the ``notify`` function, fed by two consumer
threads the way Lambda's event source mapping does (the queue's ``max_concurrency`` is 2),
each with its own event loop and Bot. The stand-in keeps Telegram's flood control (30/s
overall, 429 with retry_after beyond it) and records every call with its time.

Prints the sustained rate (delivered messages over the time from the first to the last), the
busiest 1-second window, 429 answers, and users who got no message (lost) or more than one
(duplicates). Figures are measurements on this machine; nothing passes or fails on time.

    .venv/bin/python bench/broadcast_rate.py [--users 1000] [--rate 28] [--consumers 2]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections import Counter

from _offline import use_offline_env

use_offline_env()


def busiest_second(times: list[float]) -> int:
    """The most calls in any 1-second window [t, t + 1)."""
    times = sorted(times)
    best = low = 0
    for high, at in enumerate(times):
        while times[low] <= at - 1.0:
            low += 1
        best = max(best, high - low + 1)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=28, help="BROADCAST_RATE (messages/s overall)")
    parser.add_argument("--consumers", type=int, default=2, help="concurrent notify invocations")
    args = parser.parse_args()

    import boto3

    from genbot_local.aws import MotoServer, bootstrap
    from genbot_local.botapi import BotApiStandIn
    from genbot_local.invoke import invoke, load_handler
    from genbot_local.simulate import BOT_TOKEN
    from genbot_local.sqs_driver import SqsDriver, queue_depth

    standin = BotApiStandIn(token=BOT_TOKEN, bot_username="genbot_local_bot").start()
    moto = MotoServer().start()
    os.environ.update(
        {
            "TELEGRAM_API_URL": standin.base_url,
            "BOT_TOKEN": BOT_TOKEN,
            "AWS_ENDPOINT_URL": moto.endpoint,
            "BROADCAST_RATE": str(args.rate),
        }
    )
    env = bootstrap(prefix="genbot", endpoint=moto.endpoint)
    os.environ.update(env)
    from genbot import runtime
    from genbot.config import get_settings
    from genbot.notify import broadcast
    from genbot.resources import QUEUES
    from genbot.store.models import User
    from genbot.telegram import pacing

    get_settings.cache_clear()
    settings = get_settings()
    ids = list(range(1_000_000, 1_000_000 + args.users))
    with User.batch_write() as batch:
        for n, user_id in enumerate(ids):
            batch.save(User(user_id, language="ru" if n % 3 else "en"))

    spec = QUEUES["broadcasts"]
    sqs = boto3.client("sqs")
    url = env[spec.env_var]
    load_handler("notify")
    invocations = Counter[str]()

    def depth() -> int:
        return queue_depth(sqs, url)

    def consume() -> None:
        driver = SqsDriver.for_queue(spec, url, lambda e: invoke("notify", e), client=sqs, wait_seconds=1)
        while True:
            messages = driver.receive()
            if not messages:
                if depth() == 0:
                    break
                continue
            outcome = driver.process(messages)
            invocations["failed" if not outcome.ok else "ok"] += 1
        runtime.forget_bot()  # this thread's Bot: close its session

    item = broadcast.create(settings, "Bench <b>news</b>", created_by="bench")
    began = time.monotonic()
    broadcast.start(settings, item.broadcast_id)
    threads = [threading.Thread(target=consume) for _ in range(args.consumers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began

    calls = [c for c in standin.calls if c.method.lower() == "sendmessage"]
    ok = [c for c in calls if c.ok]
    got = Counter(int(c.params["chat_id"]) for c in ok)
    lost = sum(1 for user_id in ids if got[user_id] == 0)
    duplicates = sum(n - 1 for n in got.values() if n > 1)
    span = max(c.at for c in ok) - min(c.at for c in ok) if len(ok) > 1 else 0.0
    final = broadcast.progress(broadcast.get(item.broadcast_id))  # type: ignore[arg-type]
    per_consumer = pacing.share(settings)
    print(
        f"users: {args.users}; BROADCAST_RATE {args.rate} -> {per_consumer}/s per consumer x {args.consumers}"
    )
    print(f"invocations: {dict(invocations)}; wall time from start to empty queue: {elapsed:.1f} s")
    print(f"delivered: {len(ok)} messages; sustained {len(ok) / span if span else 0:.2f} messages/s")
    print(f"busiest 1-second window: {busiest_second([c.at for c in calls])} calls (limit {args.rate})")
    print(f"429 answers: {sum(1 for c in calls if c.response.get('error_code') == 429)}")
    print(f"lost: {lost}; duplicates: {duplicates}")
    print(
        f"broadcast {final.status}: selected {final.selected}, sent {final.sent}, failed {final.failed}, "
        f"blocked {final.blocked}, skipped {final.skipped}"
    )
    runtime.forget_bot()
    for server in (standin, moto):
        server.stop()


if __name__ == "__main__":
    main()
