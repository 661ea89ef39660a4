"""When a user is next due for a notice, from the facts on their item (pure, no I/O).

The sparse due keys on ``User`` (``offer_at``, ``bonus_at``; ``sub_at`` is
``genbot.users.subscription_notices``') are set from these functions in the same update that changes
the fact (registration, a bonus claimed, a first generation), and moved by the ``notify`` runs
with the same functions, so the two can't disagree.

The daily bonus window: the bonus is there on the first ``DAILY_BONUS_DAYS`` calendar days in
``TIMEZONE``, counting the day of registration as day 1 (registered on Monday at 23:50 with 3
days: Monday, Tuesday and Wednesday). The reminder for a day is due at
``BONUS_REMINDER_HOUR``:00 that day; on the day of registration not before
``BONUS_REMINDER_DELAY_MINUTES`` after it (registered at 15:00: reminded at 17:00 if the bonus
is still unclaimed; registered at 23:00: first reminded the next day).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pynamodb.expressions.update import Action

from genbot.config import Settings
from genbot.store.models import DUE, User


def local_day(settings: Settings, at: float) -> date:
    """The calendar day in the app's time zone at epoch second ``at``."""
    return datetime.fromtimestamp(at, ZoneInfo(settings.timezone)).date()


def local_moment(settings: Settings, day: date, hour: int) -> int:
    """Epoch second of ``hour``:00 on ``day`` in the app's time zone."""
    return int(datetime.combine(day, time(hour), ZoneInfo(settings.timezone)).timestamp())


def bonus_day(settings: Settings, created_at: int, at: float) -> int:
    """Which day of the user's life with the bot ``at`` falls on (registration day = 1)."""
    return (local_day(settings, at) - local_day(settings, created_at)).days + 1


def bonus_open(settings: Settings, created_at: int, at: float) -> bool:
    """Is the daily bonus there at ``at`` (inside the window, and a bonus at all)?"""
    return settings.daily_bonus > 0 and 1 <= bonus_day(settings, created_at, at) <= settings.daily_bonus_days


def bonus_last_day(settings: Settings, created_at: int) -> date:
    return local_day(settings, created_at) + timedelta(days=settings.daily_bonus_days - 1)


def next_bonus_reminder(
    settings: Settings, created_at: int, after: float, *, skip_day: date | None = None
) -> int | None:
    """The first reminder moment strictly after ``after`` on a window day other than
    ``skip_day`` (claimed or reminded already), or None when the window has no such day left."""
    if settings.daily_bonus <= 0 or settings.daily_bonus_days <= 0:
        return None
    day = local_day(settings, after)
    first, last = local_day(settings, created_at), bonus_last_day(settings, created_at)
    while day <= last:
        moment = local_moment(settings, day, settings.bonus_reminder_hour)
        if day == first:
            moment = max(moment, created_at + settings.bonus_reminder_delay_minutes * 60)
        if moment > after and day != skip_day and local_day(settings, moment) == day:
            return moment
        day += timedelta(days=1)
    return None


def bonus_key(at: int | None) -> list[Action]:
    """Put the user in the bonus reminder index at ``at`` (None: out of it)."""
    if at is None:
        return [User.bonus_at.remove(), User.bonus_q.remove()]
    return [User.bonus_at.set(at), User.bonus_q.set(DUE)]


def offer_key_on_debit(settings: Settings, user: User, price: int, now: int) -> list[Action]:
    """The offer's due key, set by the debit of a user's first generation when it empties the
    balance (read just before; the run checks the facts again, so a race costs one read).

    Due ``OFFER_DELAY_HOURS`` after the debit; the run waits for ``first_generation_at`` (set
    when the generation succeeds) plus the delay.
    """
    if (
        user.offer_sent_at is not None
        or int(user.generations or 0) != 0
        or int(user.active_jobs or 0) != 0
        or int(user.balance) - price != 0
    ):
        return []
    return [
        User.offer_q.set(DUE),
        User.offer_at.set(User.offer_at | (now + int(settings.offer_delay_hours * 3600))),
    ]


def bonus_key_now(settings: Settings, user: User, now: float) -> list[Action]:
    """The bonus reminder's key as it should be now (after /settings turned the reminder back
    on, or the user came back after blocking the bot): the next window day not yet claimed or
    reminded, or out of the index."""
    today = local_day(settings, now).isoformat()
    done_today = today in (user.last_daily_bonus, user.bonus_reminded)
    skip = local_day(settings, now) if done_today else None
    return bonus_key(next_bonus_reminder(settings, int(user.created_at), now, skip_day=skip))
