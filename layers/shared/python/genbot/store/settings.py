"""Operator-editable settings items (``prices``, ``catalog``, ``keypool_quota``), cached.

Warm Lambdas read each item at most once a minute, so a request pays no extra DynamoDB call
in the common case and an operator's edit takes effect within a minute. A failed read
(table missing, throttling) is logged and treated as "no override": the defaults keep the
bot working.
"""

from __future__ import annotations

import time
from typing import Any

from pynamodb.exceptions import DoesNotExist, PynamoDBException

from genbot.observability import logger
from genbot.store.models import SettingItem

CACHE_SECONDS = 60
_cache: dict[str, tuple[float, Any]] = {}


def cached_setting(key: str) -> Any:
    """A settings item's JSON value, cached per process for a minute; None when absent."""
    now = time.monotonic()
    cache_key = f"{SettingItem.Meta.table_name}/{key}"
    hit = _cache.get(cache_key)
    if hit and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    try:
        value = SettingItem.get(key).value
    except DoesNotExist:
        value = None
    except PynamoDBException as exc:
        logger.warning("settings item unreadable; using defaults", extra={"key": key, "error": str(exc)})
        value = None
    _cache[cache_key] = (now, value)
    return value


def clear_cache() -> None:
    """Forget cached items (tests, and the operator's tools after an edit)."""
    _cache.clear()
