"""Telegram redelivers an update until it gets a 2xx: remember which ones we took.

A conditional put on the update's exact id (ids are not always increasing: after a quiet
week the next one is random). TTL removes markers lazily, up to ~48 h late, so an expired
marker counts as absent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import PutError

from genbot.store.models import IdempotencyRecord


def first_delivery(bot_id: int, update_id: int, ttl_seconds: int) -> bool:
    """True the first time this update is seen (one PutItem), False for a redelivery."""
    record = IdempotencyRecord(
        f"update#{bot_id}#{update_id}",
        expiration=timedelta(seconds=ttl_seconds),
        status="taken",
    )
    try:
        record.save(
            condition=IdempotencyRecord.id.does_not_exist()
            | (IdempotencyRecord.expiration < datetime.now(UTC))
        )
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True
