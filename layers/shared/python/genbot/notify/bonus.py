"""The daily bonus reminder: once a day after ``BONUS_REMINDER_HOUR``:00 in ``TIMEZONE``, to users
inside their bonus window who haven't claimed today's bonus, with a button that claims it.

Registration puts the user in the sparse ``User.bonus_due`` index at their first reminder
moment; claiming a day's bonus or being reminded moves the key to the next window day's moment,
and past the window's last day the key goes (``genbot.users.notices``). A run (every 15
minutes from the reminder hour, in the app's time zone) reads only the users due now.
Once a day: the conditional key move stamps ``bonus_reminded`` with the local day before
sending, so overlapping or retried runs can't remind twice.
"""

from __future__ import annotations

from aiogram import Bot
from aiogram.methods import SendMessage
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from genbot.config import Settings
from genbot.i18n import N_, translate, translate_plural
from genbot.notify.common import Outcome, deliver, move_key, run_due, wants, with_footer
from genbot.observability import logger, metrics
from genbot.store.models import DUE, User
from genbot.telegram.callbacks import BonusCb
from genbot.users.notices import bonus_day, bonus_open, local_day, local_moment, next_bonus_reminder
from genbot.vocab import NoticeKind

TEXT = N_("🎁 Your daily bonus is waiting: +{credits} today (day {day} of {days}). Tap to take it.")
TEXT_LAST = N_("🎁 Your daily bonus is waiting: +{credits} today. It is the last one: tap to take it.")
BUTTON = N_("🎁 Take +{credits}")


def run(settings: Settings, now: float | None = None) -> dict[str, object]:
    return run_due("bonus_reminders", User.bonus_due, settings, now, _remind)


async def _remind(settings: Settings, bot: Bot, user: User, now: int) -> Outcome:
    created = int(user.created_at)
    today = local_day(settings, now)

    def move(at: int | None) -> Outcome:
        move_key(user, User.bonus_at, User.bonus_q, at)
        return Outcome.SKIPPED

    if not bonus_open(settings, created, now) or not wants(user, NoticeKind.BONUS):
        # past the window, or unwanted: out of the index (/settings and coming back put it back)
        return move(None)
    if today.isoformat() in (user.last_daily_bonus, user.bonus_reminded):
        return move(next_bonus_reminder(settings, created, now, skip_day=today))
    moment = local_moment(settings, today, settings.bonus_reminder_hour)
    if now < moment:  # a key left from an earlier day, read before today's hour
        return move(moment)
    day = today.isoformat()
    taken = move_key(
        user,
        User.bonus_at,
        User.bonus_q,
        next_bonus_reminder(settings, created, now, skip_day=today),
        extra=[User.bonus_reminded.set(day)],
        condition=(User.last_daily_bonus.does_not_exist() | (User.last_daily_bonus != day))
        & (User.bonus_reminded.does_not_exist() | (User.bonus_reminded != day)),
    )
    if not taken:
        return Outcome.SKIPPED
    outcome, _ = await deliver(bot, user, _message(settings, user, now), kind=str(NoticeKind.BONUS))
    if outcome == Outcome.RETRY:
        _put_back(user, day, now)
    elif outcome == Outcome.SENT:
        metrics.add_metric(name="BonusRemindersSent", unit="Count", value=1)
    return outcome


def _put_back(user: User, day: str, now: int) -> None:
    """Telegram said "later": today's reminder wasn't sent; due again now."""
    try:
        User(user.user_id).update(
            actions=[User.bonus_reminded.remove(), User.bonus_q.set(DUE), User.bonus_at.set(now)],
            condition=User.bonus_reminded == day,
        )
    except Exception:  # logged; at worst this user misses today's reminder
        logger.exception("could not put an unsent reminder back", extra={"user_id": int(user.user_id)})


def _message(settings: Settings, user: User, now: int) -> SendMessage:
    language = str(user.language)
    amount = translate_plural("{n} credit", "{n} credits", settings.daily_bonus, language)
    day = bonus_day(settings, int(user.created_at), now)
    if day >= settings.daily_bonus_days:
        text = translate(TEXT_LAST, language, credits=amount)
    else:
        text = translate(TEXT, language, credits=amount, day=day, days=settings.daily_bonus_days)
    button = InlineKeyboardButton(
        text=translate(BUTTON, language, credits=amount), callback_data=BonusCb().pack()
    )
    return SendMessage(
        chat_id=int(user.user_id),
        text=with_footer(text, language),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]),
    )
