"""Subscription notices: "your subscription ends on <date>" ``SUB_REMINDER_DAYS`` before the end
(not for one that renews by itself) and "your subscription has ended", each once per period.

Selection: the sparse ``User.sub_due`` index. A settled subscription charge puts the user there
at the period's first notice, a refund that ends the subscription at its end
(``genbot.users.subscription_notices.next_notice``, the one place that says when; it is re-exported
here). A run (hourly) reads the users due now and decides from the item's facts:

- still active, inside the reminder window, not reminded for this ``subscription_until``: the
  reminder, unless the subscription renews by itself (the key moves on to the end);
- ended (for a renewing one: ``RENEWAL_GRACE_SECONDS`` after the end, in case Telegram's renewal
  charge is late) and not told for this ``subscription_until``: the "ended" message; the key goes;
- extended meanwhile (a renewal, another plan): the key moves to the new period's notice;
- blocked or muted (``/settings``): nothing is sent, the key moves to the next notice or goes,
  so such a user is read once per notice, not every run.

Once per period: the conditional key move (``common.move_key``) stamps ``sub_reminded`` /
``sub_ended`` with the period's ``subscription_until`` before sending, on the condition that the
subscription still ends then and the notice wasn't sent for it; an overlapping or retried run
finds the key moved. A flood answer (429) ends the run and makes the user due again; a 403 marks
them blocked (``common.deliver``).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.methods import SendMessage
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from pynamodb.attributes import NumberAttribute
from pynamodb.expressions.condition import Condition

from genbot.config import Settings
from genbot.i18n import N_, translate
from genbot.notify.common import Outcome, deliver, move_key, run_due, wants, with_footer
from genbot.observability import logger, metrics
from genbot.store.models import DUE, User
from genbot.telegram.callbacks import SubCb
from genbot.users.subscription_notices import (
    RENEWAL_GRACE_SECONDS,
    ended_at,
    next_notice,
    reminder_at,
    renews,
    sent_for,
)
from genbot.vocab import NoticeKind

TASK = "subscription_notices"

REMINDER = N_("⏳ Your subscription ends on {date}. To keep it, renew it: /subscribe")
ENDED = N_("⌛ Your subscription ended on {date}. You can renew it any time: /subscribe")
ENDED_NOT_RENEWED = N_(
    "⌛ Your subscription ended on {date}: Telegram couldn't renew it (perhaps there weren't "
    "enough Stars). You can renew it any time: /subscribe"
)
BUTTON = N_("⭐ Renew the subscription")

__all__ = ["RENEWAL_GRACE_SECONDS", "next_notice", "run"]


def run(settings: Settings, now: float | None = None) -> dict[str, object]:
    """One scheduled run over the users due now (``{"task": "subscription_notices"}``)."""
    return run_due(TASK, User.sub_due, settings, now, _notice)


async def _notice(settings: Settings, bot: Bot, user: User, now: int) -> Outcome:
    def move(at: int | None) -> Outcome:
        move_key(user, User.sub_at, User.sub_q, at)
        return Outcome.SKIPPED

    if user.subscription_until is None:
        return move(None)
    until = int(user.subscription_until)
    if now < until:
        if now < reminder_at(settings, until) or sent_for(user.sub_reminded, until):
            return move(next_notice(settings, user, now))  # extended meanwhile, or reminded
        if renews(user) or not wants(user, NoticeKind.SUBSCRIPTION):
            return move(until)  # no reminder; the end is checked at the end
        return await _send(settings, bot, user, now, until, ended=False)
    if sent_for(user.sub_ended, until):
        return move(None)
    if now < ended_at(user, until):
        return move(ended_at(user, until))  # renewing: Telegram's charge may still come
    if not wants(user, NoticeKind.SUBSCRIPTION):
        return move(None)
    return await _send(settings, bot, user, now, until, ended=True)


async def _send(settings: Settings, bot: Bot, user: User, now: int, until: int, *, ended: bool) -> Outcome:
    """Take this period's notice (the key moved and the notice stamped, conditionally), then send."""
    stamp = User.sub_ended if ended else User.sub_reminded
    condition: Condition = (User.subscription_until == until) & _not_sent(stamp, until)
    if not ended:
        condition &= _not_renewing()
    not_renewed = renews(user)  # read before the key moves: an "ended" renewing one was not renewed
    taken = move_key(
        user,
        User.sub_at,
        User.sub_q,
        None if ended else until,
        extra=[stamp.set(until)],
        condition=condition,
    )
    if not taken:
        return Outcome.SKIPPED
    message = _message(settings, user, until, ended=ended, not_renewed=not_renewed)
    outcome, _ = await deliver(bot, user, message, kind=str(NoticeKind.SUBSCRIPTION))
    if outcome == Outcome.RETRY:
        _put_back(user, stamp, until, now)
    elif outcome == Outcome.SENT:
        name = "SubscriptionEndedSent" if ended else "SubscriptionRemindersSent"
        metrics.add_metric(name=name, unit="Count", value=1)
    return outcome


def _not_sent(stamp: NumberAttribute, until: int) -> Condition:
    return stamp.does_not_exist() | (stamp != until)


def _not_renewing() -> Condition:
    """On the table: the subscription doesn't renew by itself (see ``renews``)."""
    return (
        User.subscription_charge_id.does_not_exist()
        | User.subscription_renews.does_not_exist()
        | User.subscription_renews.is_in(False)
    )


def _put_back(user: User, stamp: NumberAttribute, until: int, now: int) -> None:
    """Telegram said "later": the notice was not sent; unstamp it and make the user due now."""
    try:
        User(user.user_id).update(
            actions=[stamp.remove(), User.sub_q.set(DUE), User.sub_at.set(now)],
            condition=stamp == until,
        )
    except Exception:  # logged; at worst this user misses this notice
        logger.exception(
            "could not put an unsent subscription notice back", extra={"user_id": int(user.user_id)}
        )


def _message(settings: Settings, user: User, until: int, *, ended: bool, not_renewed: bool) -> SendMessage:
    language = str(user.language)
    date = datetime.fromtimestamp(until, ZoneInfo(settings.timezone)).strftime("%d.%m.%Y")
    if not ended:
        text = translate(REMINDER, language, date=date)
    elif not_renewed:
        text = translate(ENDED_NOT_RENEWED, language, date=date)
    else:
        text = translate(ENDED, language, date=date)
    button = InlineKeyboardButton(text=translate(BUTTON, language), callback_data=SubCb(action="show").pack())
    return SendMessage(
        chat_id=int(user.user_id),
        text=with_footer(text, language),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]),
    )
