"""Sending within Telegram's limits: about 30 messages per second overall (FACTS.md).

``Pacer`` spaces sends ``1/rate`` seconds apart (1% more), so no 1-second window holds more
than ``rate``; spacing rather than a burst allowance, so a fresh Lambda instance (whose pacer
starts empty) can't add a burst on top of another sender's steady rate. A 429's
``retry_after`` pauses it. Senders that run side by side split ``BROADCAST_RATE`` between them
(``share``): the broadcast queue's two consumers, a scheduled notice run.
"""

from __future__ import annotations

import asyncio
import threading
import time

from genbot.config import Settings
from genbot.resources import QUEUES

RATE_GUARD = 1.01  # pace 1% under the rate: clocks and networks jitter

_local = threading.local()


class Pacer:
    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.interval = RATE_GUARD / rate
        self.next_at = 0.0

    async def wait(self) -> None:
        delay = self.next_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        self.next_at = time.monotonic() + self.interval

    def pause(self, seconds: float) -> None:
        self.next_at = max(self.next_at, time.monotonic() + seconds)


def share(settings: Settings) -> int:
    """One sender's share of ``BROADCAST_RATE``: the broadcast queue's concurrent consumers
    split it (at least 1 a second)."""
    return max(1, settings.broadcast_rate // (QUEUES["broadcasts"].max_concurrency or 1))


def pacer(settings: Settings) -> Pacer:
    """This thread's pacer (kept across invocations of a warm instance; rebuilt if the rate
    setting changed)."""
    rate = share(settings)
    current: Pacer | None = getattr(_local, "pacer", None)
    if current is None or current.rate != rate:
        current = _local.pacer = Pacer(rate)
    return current
