"""EventBridge Scheduler on this machine: the real schedule expressions, the real payload.

Expressions (as in ``genbot.resources.SCHEDULES``, the same strings CDK deploys):

- ``rate(value unit)``: unit minute(s), hour(s) or day(s); fires every interval from the
  moment the schedule starts (the scheduler's start here).
- ``cron(minutes hours day-of-month month day-of-week year)``: six fields, evaluated in the
  schedule's ``ScheduleExpressionTimezone``; ``*``, ``,``, ``-``, ``/``; ``?`` in one of the
  day fields; ``L`` (last day of month, or ``5L`` last Thursday), ``W`` (``15W`` nearest
  weekday, ``LW``), ``#`` (``2#1`` first Monday); months ``JAN``-``DEC``, days ``SUN``-``SAT``
  with SUN=1 .. SAT=7 as AWS numbers them.
- ``at(yyyy-mm-ddThh:mm:ss)``: once, in the schedule's timezone.

A spec's expression and time zone are taken through ``ScheduleSpec.resolve(env)``, as the CDK
app does with the deployment's function environment: ``timezone=APP_TIMEZONE`` becomes the app's
``TIMEZONE`` (default Europe/Moscow) and ``{bonus_reminder_hour}`` its ``BONUS_REMINDER_HOUR``, so
the bonus reminder's cron runs on the wall clock of the zone the code counts days in. ``env``
defaults to ``os.environ``; the local stack passes the functions' own settings.

The target gets the schedule's ``input`` as its event, as Scheduler's Lambda target does.
``fast`` mode fires every schedule every ``fast_interval`` seconds instead; ``fire(name)``
runs one now (the stack exposes it as ``POST /local/schedules/<name>``).
"""

from __future__ import annotations

import calendar
import copy
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from genbot.resources import ScheduleSpec

log = logging.getLogger("genbot-local.scheduler")
Target = Callable[[str, dict[str, Any]], Any]  # (function name, event) -> result
OnInvocation = Callable[..., None]

MONTHS = {name: i for i, name in enumerate(calendar.month_abbr) if name}
MONTHS = {k.upper(): v for k, v in MONTHS.items()}
DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
RATE_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


class ExpressionError(ValueError):
    """A schedule expression EventBridge Scheduler would reject."""


def _aws_weekday(day: date) -> int:
    """AWS numbering: SUN=1 .. SAT=7."""
    return (day.isoweekday() % 7) + 1


def _parse_values(field: str, low: int, high: int, names: Mapping[str, int] | None = None) -> set[int]:
    """``*``, ``a``, ``a-b``, ``a/n``, ``a-b/n``, ``*/n`` and lists of them."""
    values: set[int] = set()

    def number(text: str) -> int:
        key = text.upper()
        if names and key in names:
            return names[key]
        if not text.isdigit():
            raise ExpressionError(f"{text!r} is not a valid value")
        value = int(text)
        if not low <= value <= high:
            raise ExpressionError(f"{value} is outside {low}-{high}")
        return value

    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ExpressionError(f"bad step in {part!r}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = number(first), number(last)
            if end < start:
                raise ExpressionError(f"range {base!r} runs backwards")
        else:
            start = number(base)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return values


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    dom: str  # kept as text: L/W need the month to evaluate
    months: frozenset[int]
    dow: str
    years: frozenset[int] | None

    @classmethod
    def parse(cls, body: str) -> Cron:
        fields = body.split()
        if len(fields) != 6:
            raise ExpressionError(
                f"cron needs 6 fields (min hour day-of-month month day-of-week year): {body!r}"
            )
        minute, hour, dom, month, dow, year = fields
        if (dom == "?") == (dow == "?"):
            raise ExpressionError("exactly one of day-of-month and day-of-week must be '?'")
        cron = cls(
            frozenset(_parse_values(minute, 0, 59)),
            frozenset(_parse_values(hour, 0, 23)),
            dom,
            frozenset(_parse_values(month, 1, 12, MONTHS)),
            dow,
            None if year == "*" else frozenset(_parse_values(year, 1970, 2199)),
        )
        probe = date(2024, 1, 1)
        cron.day_matches(probe)  # validates the day fields
        return cron

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months or (self.years is not None and day.year not in self.years):
            return False
        if self.dom != "?":
            return self._dom_matches(day)
        return self._dow_matches(day)

    def _dom_matches(self, day: date) -> bool:
        last = calendar.monthrange(day.year, day.month)[1]
        for part in self.dom.split(","):
            if part == "L":
                if day.day == last:
                    return True
            elif part == "LW":
                target = date(day.year, day.month, last)
                while target.weekday() >= 5:
                    target -= timedelta(days=1)
                if day == target:
                    return True
            elif part.endswith("W"):
                if not part[:-1].isdigit() or not 1 <= int(part[:-1]) <= 31:
                    raise ExpressionError(f"bad W value {part!r}")
                n = int(part[:-1])
                if day == _nearest_weekday(day.year, day.month, min(n, last)):
                    return True
            elif day.day in _parse_values(part, 1, 31):
                return True
        return False

    def _dow_matches(self, day: date) -> bool:
        weekday = _aws_weekday(day)
        for part in self.dow.split(","):
            if "#" in part:
                which, _, nth = part.partition("#")
                (wanted,) = _parse_values(which, 1, 7, DAYS)
                if not nth.isdigit() or not 1 <= int(nth) <= 5:
                    raise ExpressionError(f"bad # value {part!r}")
                if weekday == wanted and (day.day - 1) // 7 + 1 == int(nth):
                    return True
            elif part.endswith("L") and part != "L":
                (wanted,) = _parse_values(part[:-1], 1, 7, DAYS)
                last = calendar.monthrange(day.year, day.month)[1]
                if weekday == wanted and day.day + 7 > last:
                    return True
            elif part == "L":
                if weekday == 7:
                    return True
            elif weekday in _parse_values(part, 1, 7, DAYS):
                return True
        return False

    def next_after(self, after: datetime, tz: ZoneInfo) -> datetime | None:
        """The first fire time strictly after ``after`` (aware), as an aware UTC datetime."""
        local = after.astimezone(tz)
        day = local.date()
        for _ in range(366 * 5):
            if self.day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
                        if _exists(candidate) and candidate.astimezone(UTC) > after.astimezone(UTC):
                            return candidate.astimezone(UTC)
            day += timedelta(days=1)
        return None


def _nearest_weekday(year: int, month: int, dom: int) -> date:
    target = date(year, month, dom)
    if target.weekday() == 5:  # Saturday -> Friday, unless that leaves the month
        return target - timedelta(days=1) if dom > 1 else target + timedelta(days=2)
    if target.weekday() == 6:  # Sunday -> Monday, unless that leaves the month
        last = calendar.monthrange(year, month)[1]
        return target + timedelta(days=1) if dom < last else target - timedelta(days=2)
    return target


def _exists(moment: datetime) -> bool:
    """False for wall-clock times skipped by a DST change (EventBridge skips those too)."""
    there_and_back = moment.astimezone(UTC).astimezone(moment.tzinfo)
    return there_and_back.replace(tzinfo=None) == moment.replace(tzinfo=None)


@dataclass(frozen=True)
class Expression:
    """A parsed schedule expression: ``next_after(moment)`` gives the following fire time."""

    text: str
    timezone: str = "UTC"
    rate_seconds: int | None = None
    cron: Cron | None = None
    at: datetime | None = None

    @classmethod
    def parse(cls, text: str, timezone: str = "UTC") -> Expression:
        try:
            tz = ZoneInfo(timezone)
        except (KeyError, ValueError) as exc:
            raise ExpressionError(f"unknown timezone {timezone!r}") from exc
        found = re.fullmatch(r"\s*(rate|cron|at)\((.*)\)\s*", text)
        if not found:
            raise ExpressionError(f"{text!r}: expected rate(...), cron(...) or at(...)")
        kind, body = found.group(1), found.group(2).strip()
        if kind == "rate":
            parts = body.split()
            if len(parts) != 2 or not parts[0].isdigit() or parts[1] not in RATE_UNITS:
                raise ExpressionError(f"rate(value unit) with unit minute(s)/hour(s)/day(s): {text!r}")
            value = int(parts[0])
            if value < 1:
                raise ExpressionError("a rate must be at least 1")
            if (value == 1) != (not parts[1].endswith("s")):
                raise ExpressionError(f"say rate(1 {parts[1].rstrip('s')}) / rate(N {parts[1].rstrip('s')}s)")
            return cls(text, timezone, rate_seconds=value * RATE_UNITS[parts[1]])
        if kind == "cron":
            return cls(text, timezone, cron=Cron.parse(body))
        try:
            moment = datetime.strptime(body, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=tz)
        except ValueError as exc:
            raise ExpressionError(f"at(yyyy-mm-ddThh:mm:ss): {text!r}") from exc
        return cls(text, timezone, at=moment)

    def next_after(self, after: datetime, start: datetime | None = None) -> datetime | None:
        """The next fire time strictly after ``after`` (aware datetimes, UTC out)."""
        if self.rate_seconds is not None:
            origin = start or after
            elapsed = (after - origin).total_seconds()
            periods = int(elapsed // self.rate_seconds) + 1 if elapsed >= 0 else 1
            return (origin + timedelta(seconds=periods * self.rate_seconds)).astimezone(UTC)
        if self.cron is not None:
            return self.cron.next_after(after, ZoneInfo(self.timezone))
        assert self.at is not None
        return self.at.astimezone(UTC) if self.at > after else None


@dataclass
class _Entry:
    spec: ScheduleSpec
    expression: Expression  # resolved: the text and time zone Scheduler would get
    next_fire: datetime | None


class Scheduler:
    """Fires every schedule at its times (or every ``fast_interval`` seconds when ``fast``)."""

    def __init__(
        self,
        schedules: Mapping[str, ScheduleSpec],
        target: Target,
        *,
        fast: bool = False,
        fast_interval: float = 5.0,
        on_invocation: OnInvocation | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        env: Mapping[str, str] | None = None,
    ) -> None:
        """``env``: what ``ScheduleSpec.resolve`` reads (``TIMEZONE``, ``BONUS_REMINDER_HOUR``);
        ``os.environ`` when not given."""
        self.target = target
        self.fast = fast
        self.fast_interval = fast_interval
        self.on_invocation = on_invocation
        self.clock = clock
        self.started = clock()
        env = os.environ if env is None else env
        self.entries = {
            name: _Entry(spec, Expression.parse(*spec.resolve(env)), None) for name, spec in schedules.items()
        }
        self._plan(self.started)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.fired: list[tuple[str, str]] = []  # (schedule, how: "schedule" | "fast" | "manual")

    def _plan(self, now: datetime) -> None:
        for entry in self.entries.values():
            if self.fast:
                entry.next_fire = now + timedelta(seconds=self.fast_interval)
            else:
                entry.next_fire = entry.expression.next_after(now, self.started)

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "function": e.spec.function,
                "expression": e.expression.text,
                "timezone": e.expression.timezone,
                "next": e.next_fire.isoformat() if e.next_fire else None,
            }
            for name, e in self.entries.items()
        ]

    def fire(self, name: str, how: str = "manual") -> Any:
        """Invoke the schedule's function with its input now; returns the function's result."""
        entry = self.entries.get(name)
        if entry is None:
            raise KeyError(name)
        event = copy.deepcopy(entry.spec.input)
        started = time.monotonic()
        error: BaseException | None = None
        result: Any = None
        with self._lock:
            self.fired.append((name, how))
        try:
            result = self.target(entry.spec.function, event)
        except Exception as exc:
            error = exc
        if self.on_invocation is not None:
            self.on_invocation(
                function=entry.spec.function,
                event_type=f"schedule {name}" + ("" if how == "schedule" else f" ({how})"),
                ident=entry.expression.text,
                duration_ms=(time.monotonic() - started) * 1000,
                outcome="error" if error else "ok",
                error=error,
            )
        if error is not None and how == "manual":
            raise error
        return result

    def tick(self, now: datetime | None = None) -> list[str]:
        """Fire whatever is due at ``now``; returns the names fired."""
        now = now or self.clock()
        due = [n for n, e in self.entries.items() if e.next_fire is not None and e.next_fire <= now]
        for name in due:
            entry = self.entries[name]
            if self.fast:
                entry.next_fire = now + timedelta(seconds=self.fast_interval)
            else:
                entry.next_fire = entry.expression.next_after(now, self.started)
            self.fire(name, "fast" if self.fast else "schedule")
        return due

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("schedule tick failed")
            upcoming = [e.next_fire for e in self.entries.values() if e.next_fire is not None]
            wait = 1.0
            if upcoming:
                wait = max(0.05, min(1.0, (min(upcoming) - self.clock()).total_seconds()))
            self._stop.wait(wait)

    def start(self) -> Scheduler:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
