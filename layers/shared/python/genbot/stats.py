"""Operator statistics as counters: added to where each fact happens, read by the day.

The admin section's numbers (new and active users, generations by mode and provider, chat
usage, revenue by currency) would otherwise need a Scan of the jobs and payments tables. Each
fact adds to a counter item of its day in the ``stats`` table (``genbot.store.models.
StatsCounter``) with one UpdateItem ``ADD``, written after the conditional write that made the
fact true (a registration, the first visit of a day, a job's terminal transition, a payment
settled or refunded), so a replay that changed nothing counts nothing. Reading a month costs one
Query (a 30-day window: two at most).

The counters are statistics, not money: the ledger stays the truth. A counter write that fails
is logged and counted (``StatsWriteFailed``) and never undoes or fails the fact it counts, so a
crash between the fact and its count loses that count (never doubles it). For the same reason
the SDK does not retry an ``ADD`` (``StatsCounter``'s connection makes one attempt): a read
timeout or a 5xx may come after the write landed, and its resend would count twice. ``bump``
retries only the answers that say nothing was written (throttling, no connection made). Days are calendar
days in the app's ``TIMEZONE``; a job counts on the day it was created (its later refund
corrects the same day), a refund on the day it happened.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError
from pynamodb.exceptions import PynamoDBException

from genbot.config import get_settings
from genbot.observability import logger, metrics
from genbot.store.models import StatsCounter

USERS = "users"
CHAT = "chat"
NO_PROVIDER = "-"


def day_of(at_seconds: float) -> date:
    """The calendar day in the app's time zone at epoch second ``at_seconds``."""
    return datetime.fromtimestamp(at_seconds, ZoneInfo(get_settings.environment().timezone)).date()


def _key(day: date, what: str) -> tuple[str, str]:
    return day.strftime("%Y-%m"), f"{day.day:02d}#{what}"


def bump(what: str, at: float | None = None, **deltas: int) -> None:
    """Add ``deltas`` (attribute -> amount) to the counter ``what`` of the day of ``at`` (epoch
    seconds; now by default): one UpdateItem. Never raises."""
    actions = [getattr(StatsCounter, name).add(int(value)) for name, value in deltas.items() if value]
    if not actions:
        return
    month, key = _key(day_of(time.time() if at is None else at), what)
    for attempt in range(_ATTEMPTS):
        try:
            StatsCounter(month, key).update(actions=actions)
            return
        except Exception as exc:
            if attempt + 1 < _ATTEMPTS and _not_applied(exc):
                time.sleep(_BACKOFF_SECONDS * 2**attempt)
                continue
            logger.exception(
                "stats counter not written", extra={"counter": f"{month}/{key}", "deltas": deltas}
            )
            metrics.add_metric(name="StatsWriteFailed", unit="Count", value=1)
            return


_ATTEMPTS = 3
_BACKOFF_SECONDS = 0.05
# DynamoDB refused the request: nothing was written, so sending it again cannot count twice
_REFUSED = frozenset(
    {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"}
)


def _not_applied(exc: Exception) -> bool:
    """True when ``exc`` proves the UpdateItem did not reach the table: a refusal, or a
    connection that was never made. A read timeout or a 5xx proves nothing."""
    cause = exc.cause if isinstance(exc, PynamoDBException) else None
    if isinstance(cause, ClientError):  # (PynamoDB's cause_response_code fails on other causes)
        return cause.response.get("Error", {}).get("Code") in _REFUSED
    return isinstance(cause, ConnectTimeoutError | EndpointConnectionError)


def generation_key(mode: str, provider: str | None) -> str:
    return f"gen#{mode}#{provider or NO_PROVIDER}"


# -- reading ----------------------------------------------------------------------------------------


@dataclass
class Day:
    """One day's counters, by what they count (``users``, ``chat``, ``gen#...``, ``pay#...``)."""

    day: date
    counters: dict[str, dict[str, int]] = field(default_factory=dict)

    def get(self, what: str, name: str) -> int:
        return self.counters.get(what, {}).get(name, 0)

    def starting(self, prefix: str) -> Iterable[tuple[str, dict[str, int]]]:
        return ((what, values) for what, values in sorted(self.counters.items()) if what.startswith(prefix))


_NUMBERS = tuple(name for name, attr in StatsCounter.get_attributes().items() if name not in ("month", "key"))


def read(days: int, today: date | None = None) -> list[Day]:
    """The last ``days`` days up to ``today`` (the app's today by default), oldest first, every
    day present (zeros when nothing happened): one Query per calendar month in the window."""
    today = today or day_of(time.time())
    first = today - timedelta(days=days - 1)
    window = {first + timedelta(days=n): Day(first + timedelta(days=n)) for n in range(days)}
    months = sorted({d.strftime("%Y-%m") for d in window})
    for month in months:
        year, number = (int(part) for part in month.split("-"))
        for item in StatsCounter.query(month):
            day_part, _, what = str(item.key).partition("#")
            found = window.get(date(year, number, int(day_part)))
            if found is not None:
                found.counters[what] = _values(item)
    return list(window.values())


def _values(item: StatsCounter) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in _NUMBERS:
        value: Any = getattr(item, name)
        if value is not None:
            out[name] = int(value)
    return out
