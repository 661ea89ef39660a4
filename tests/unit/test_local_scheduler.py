"""EventBridge Scheduler expressions and the local scheduler that fires them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from genbot.resources import DEFAULT_TIMEZONE, SCHEDULES, ScheduleSpec
from genbot_local.scheduler import Expression, ExpressionError, Scheduler


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(2 hours)", 7200), ("rate(1 day)", 86400)],
)
def test_rate_expressions(text: str, seconds: int) -> None:
    expr = Expression.parse(text)
    start = utc(2026, 3, 1, 10, 0, 0)
    assert expr.rate_seconds == seconds
    assert expr.next_after(start, start) == start + timedelta(seconds=seconds)
    assert expr.next_after(start + timedelta(seconds=seconds), start) == start + timedelta(
        seconds=2 * seconds
    )


@pytest.mark.parametrize(
    "text",
    [
        "rate(0 minutes)",
        "rate(5 minute)",
        "rate(1 minutes)",
        "rate(5 weeks)",
        "every 5 minutes",
        "cron(0 12 * * *)",
        "cron(0 12 * * * *)",  # neither day field is '?'
        "cron(0 12 ? * ? *)",  # both are
        "cron(61 * * * ? *)",
        "cron(0 0 ? * FOO *)",
        "cron(0 0 ? * 9#1 *)",
        "at(2026-13-01T00:00:00)",
    ],
)
def test_invalid_expressions_are_rejected(text: str) -> None:
    with pytest.raises(ExpressionError):
        Expression.parse(text)


def test_unknown_timezone_is_rejected() -> None:
    with pytest.raises(ExpressionError):
        Expression.parse("rate(1 hour)", "Mars/Olympus")


def test_cron_every_quarter_hour() -> None:
    expr = Expression.parse("cron(0/15 * * * ? *)")
    assert expr.next_after(utc(2026, 3, 1, 10, 7, 30)) == utc(2026, 3, 1, 10, 15)
    assert expr.next_after(utc(2026, 3, 1, 10, 15)) == utc(2026, 3, 1, 10, 30)
    assert expr.next_after(utc(2026, 3, 1, 23, 50)) == utc(2026, 3, 2, 0, 0)


def test_cron_in_a_timezone_fires_at_local_wall_clock_time() -> None:
    # 09:00 in Moscow (UTC+3, no DST) every weekday
    expr = Expression.parse("cron(0 9 ? * MON-FRI *)", "Europe/Moscow")
    friday_evening = utc(2026, 3, 6, 12, 0)  # Friday 15:00 in Moscow
    assert expr.next_after(friday_evening) == utc(2026, 3, 9, 6, 0)  # Monday 09:00 MSK


def test_cron_timezone_with_daylight_saving() -> None:
    expr = Expression.parse("cron(30 8 * * ? *)", "Europe/Berlin")
    assert expr.next_after(utc(2026, 3, 28, 12, 0)) == utc(2026, 3, 29, 6, 30)  # CEST, UTC+2
    assert expr.next_after(utc(2026, 3, 27, 12, 0)) == utc(2026, 3, 28, 7, 30)  # CET, UTC+1


def test_cron_skips_a_wall_clock_time_that_does_not_exist() -> None:
    expr = Expression.parse("cron(30 2 * * ? *)", "Europe/Berlin")  # 02:30 doesn't exist on 29 March
    assert expr.next_after(utc(2026, 3, 28, 12, 0)) == utc(2026, 3, 30, 0, 30)


@pytest.mark.parametrize(
    ("text", "after", "expected"),
    [
        ("cron(0 0 L * ? *)", utc(2026, 2, 10), utc(2026, 2, 28)),
        ("cron(0 0 LW * ? *)", utc(2026, 5, 1), utc(2026, 5, 29)),  # 31 May 2026 is a Sunday
        ("cron(0 0 15W * ? *)", utc(2026, 8, 1), utc(2026, 8, 14)),  # 15 Aug 2026 is a Saturday
        ("cron(0 0 ? * 2#1 *)", utc(2026, 3, 3), utc(2026, 4, 6)),  # first Monday
        ("cron(0 0 ? * 6L *)", utc(2026, 3, 1), utc(2026, 3, 27)),  # last Friday
        ("cron(0 6 1,15 JAN-MAR ? 2027)", utc(2026, 6, 1), utc(2027, 1, 1, 6)),
        ("cron(0 12 ? * SUN *)", utc(2026, 3, 2), utc(2026, 3, 8, 12)),
    ],
)
def test_cron_day_rules(text: str, after: datetime, expected: datetime) -> None:
    assert Expression.parse(text).next_after(after) == expected


def test_at_fires_once() -> None:
    expr = Expression.parse("at(2026-05-01T10:00:00)", "Europe/Moscow")
    assert expr.next_after(utc(2026, 4, 1)) == utc(2026, 5, 1, 7, 0)
    assert expr.next_after(utc(2026, 5, 2)) is None


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


SPEC = ScheduleSpec(
    name="payment-poll",
    function="payment_poll",
    expression="cron(0/15 * * * ? *)",
    timezone="Europe/Moscow",
    input={"source": "schedule", "task": "poll"},
)


def test_the_scheduler_fires_at_the_expressions_times_with_the_input_as_the_event() -> None:
    clock = Clock(utc(2026, 3, 1, 10, 7))
    calls: list[tuple[str, dict]] = []
    lines: list[dict] = []
    scheduler = Scheduler(
        {"payment-poll": SPEC},
        lambda fn, event: calls.append((fn, event)) or {"ok": True},
        clock=clock,
        on_invocation=lambda **fields: lines.append(fields),
    )

    assert scheduler.tick() == []
    clock.now = utc(2026, 3, 1, 10, 15)
    assert scheduler.tick() == ["payment-poll"]
    assert scheduler.tick() == []  # not twice for the same time
    clock.now = utc(2026, 3, 1, 10, 31)
    assert scheduler.tick() == ["payment-poll"]

    assert calls == [("payment_poll", SPEC.input)] * 2
    calls[0][1]["mutated"] = True
    assert "mutated" not in SPEC.input  # each invocation gets its own copy
    assert lines[0]["function"] == "payment_poll" and lines[0]["outcome"] == "ok"
    assert scheduler.describe()[0]["next"] == "2026-03-01T10:45:00+00:00"


def test_fire_on_demand_and_fast_mode() -> None:
    clock = Clock(utc(2026, 3, 1, 10, 7))
    calls: list[str] = []
    scheduler = Scheduler(
        {"payment-poll": SPEC}, lambda fn, event: calls.append(fn), fast=True, fast_interval=2, clock=clock
    )
    scheduler.fire("payment-poll")
    assert calls == ["payment_poll"]
    clock.now += timedelta(seconds=2)
    assert scheduler.tick() == ["payment-poll"]
    assert scheduler.fired == [("payment-poll", "manual"), ("payment-poll", "fast")]
    with pytest.raises(KeyError):
        scheduler.fire("nope")


def test_a_failing_function_is_reported_and_manual_fire_raises() -> None:
    lines: list[dict] = []

    def broken(fn: str, event: dict) -> None:
        raise RuntimeError("boom")

    scheduler = Scheduler({"payment-poll": SPEC}, broken, on_invocation=lambda **f: lines.append(f))
    with pytest.raises(RuntimeError):
        scheduler.fire("payment-poll")
    assert lines[-1]["outcome"] == "error" and isinstance(lines[-1]["error"], RuntimeError)


def test_the_scheduler_thread_fires_fast_schedules_until_stopped() -> None:
    import threading

    fired = threading.Event()
    scheduler = Scheduler({"payment-poll": SPEC}, lambda fn, event: fired.set(), fast=True, fast_interval=0.1)
    scheduler.start()
    try:
        assert fired.wait(10)
    finally:
        scheduler.stop()


# --- the app's own schedules, resolved as CDK resolves them ------------------------------------

NOTIFY_TASKS = {"offers", "bonus_reminders", "subscription_notices"}


def test_every_app_schedule_parses_with_the_default_settings() -> None:
    # given no TIMEZONE / BONUS_REMINDER_HOUR: the app's defaults, Europe/Moscow and 11
    scheduler = Scheduler(SCHEDULES, lambda fn, event: None, clock=Clock(utc(2026, 3, 1, 6, 0)), env={})

    described = {d["name"]: d for d in scheduler.describe()}
    assert set(described) == set(SCHEDULES) >= NOTIFY_TASKS | {"sweep_jobs", "poll_payments"}
    assert {n for n, d in described.items() if d["function"] == "notify"} == NOTIFY_TASKS
    assert described["bonus_reminders"]["expression"] == "cron(0/15 11-23 * * ? *)"
    assert described["bonus_reminders"]["timezone"] == DEFAULT_TIMEZONE == "Europe/Moscow"
    assert (described["offers"]["expression"], described["offers"]["timezone"]) == ("rate(15 minutes)", "UTC")
    assert described["subscription_notices"]["expression"] == "rate(1 hour)"
    # 09:00 Moscow now: the first reminder is at 11:00 Moscow (08:00 UTC)
    assert described["bonus_reminders"]["next"] == "2026-03-01T08:00:00+00:00"


@pytest.mark.parametrize(
    ("env", "first", "last"),
    [
        # Moscow (UTC+3): 11:00 .. 23:45 local
        ({}, utc(2026, 3, 1, 8, 0), utc(2026, 3, 1, 20, 45)),
        # Yekaterinburg (UTC+5) from 10:00: 05:00 .. 18:45 UTC
        (
            {"TIMEZONE": "Asia/Yekaterinburg", "BONUS_REMINDER_HOUR": "10"},
            utc(2026, 3, 1, 5, 0),
            utc(2026, 3, 1, 18, 45),
        ),
    ],
)
def test_the_bonus_reminder_runs_on_the_apps_wall_clock(
    env: dict[str, str], first: datetime, last: datetime
) -> None:
    # given the app's zone and hour (the local stack passes the functions' settings)
    clock = Clock(utc(2026, 3, 1, 0, 0))
    calls: list[tuple[str, dict]] = []
    scheduler = Scheduler(
        {"bonus_reminders": SCHEDULES["bonus_reminders"]},
        lambda fn, event: calls.append((fn, event)),
        clock=clock,
        env=env,
    )

    # then nothing fires a minute before the hour, the first tick is on it, every 15 minutes after
    clock.now = first - timedelta(minutes=1)
    assert scheduler.tick() == []
    clock.now = first
    assert scheduler.tick() == ["bonus_reminders"]
    assert calls == [("notify", {"task": "bonus_reminders"})]
    assert scheduler.describe()[0]["next"] == (first + timedelta(minutes=15)).isoformat()
    # and the day's last tick is at :45 of the last hour; the next is the hour on the next day
    clock.now = last - timedelta(seconds=1)
    scheduler.tick()
    clock.now = last
    assert scheduler.tick() == ["bonus_reminders"]
    assert scheduler.describe()[0]["next"] == (first + timedelta(days=1)).isoformat()


def test_the_scheduler_reads_the_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIMEZONE", "Asia/Tokyo")
    monkeypatch.delenv("BONUS_REMINDER_HOUR", raising=False)
    scheduler = Scheduler({"bonus_reminders": SCHEDULES["bonus_reminders"]}, lambda fn, event: None)
    assert scheduler.describe()[0]["timezone"] == "Asia/Tokyo"


def test_fast_mode_fires_the_notices_with_their_tasks() -> None:
    # ./scripts/dev --fast-schedules: every schedule, every few seconds, its own task as the event
    clock = Clock(utc(2026, 3, 1, 10, 7))
    calls: list[tuple[str, dict]] = []
    notices = {name: SCHEDULES[name] for name in NOTIFY_TASKS}
    scheduler = Scheduler(
        notices, lambda fn, event: calls.append((fn, event)), fast=True, fast_interval=2, clock=clock, env={}
    )
    clock.now += timedelta(seconds=2)
    assert set(scheduler.tick()) == NOTIFY_TASKS
    assert sorted(calls, key=lambda c: c[1]["task"]) == [
        ("notify", {"task": t}) for t in sorted(NOTIFY_TASKS)
    ]
