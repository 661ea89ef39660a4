"""Telegram redelivers an update until it gets a 2xx: take each one once, unless we died on it.

A conditional put on the update's exact id (ids are not always increasing: after a quiet
week the next one is random). The marker holds a lease until the invocation's deadline: a
redelivery while the first delivery may still be working is ignored, but one after the
deadline (the first Lambda died mid-way, or timed out) is taken again, and its effects stay
keyed by business ids (the job id, the ledger key), so nothing happens twice that matters.
Still one PutItem per update. TTL removes markers lazily, up to ~48 h late, so an expired
marker counts as absent.

The marker carries a token of this delivery, and the condition accepts it: when the SDK retries
the PutItem because its first attempt's answer was lost (a read timeout after the write
landed), the retry finds its own marker and passes, rather than taking the first delivery for
a copy and dropping the update.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import PutError

from genbot.store.models import IdempotencyRecord, condition_failed, now_ms


def first_delivery(bot_id: int, update_id: int, ttl_seconds: int, lease_ms: int) -> bool:
    """True when this delivery should be processed (one PutItem), False for a redelivery."""
    now = now_ms()
    token = uuid.uuid4().hex  # the same bytes in every SDK attempt of this one PutItem
    record = IdempotencyRecord(
        f"update#{bot_id}#{update_id}",
        expiration=timedelta(seconds=ttl_seconds),
        status="taken",
        lease_until=now + max(0, lease_ms),
        owner=token,
    )
    try:
        record.save(
            condition=IdempotencyRecord.id.does_not_exist()
            | (IdempotencyRecord.expiration < datetime.now(UTC))
            | (IdempotencyRecord.lease_until < now)
            | (IdempotencyRecord.owner == token)
        )
    except PutError as exc:
        if condition_failed(exc):
            return False
        raise
    return True
