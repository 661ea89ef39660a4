"""Bonuses: the daily bonus (inside the user's bonus window), the referral link, promo codes."""

from __future__ import annotations

import contextlib
import time

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from genbot.bot.keyboards import BTN_BONUSES, bonuses
from genbot.bot.texts import credits
from genbot.config import Settings
from genbot.i18n import variants
from genbot.store.models import User
from genbot.telegram.callbacks import BonusCb
from genbot.users import BonusClaim, claim_daily_bonus
from genbot.users.notices import bonus_day, bonus_open, local_day

router = Router(name="bonus")


def _daily_line(settings: Settings, user: User, now: float, *, claimed: bool = False) -> tuple[str, bool]:
    """What the menu says about the daily bonus, and whether it can be claimed now
    (``claimed``: today's was just taken, whatever ``user`` as read says)."""
    created = int(user.created_at)
    if not bonus_open(settings, created, now):
        if settings.daily_bonus <= 0 or settings.daily_bonus_days <= 0:
            return "", False
        return (
            _(
                "🎁 The daily bonus was there on your first {days} days, and they are over. "
                "Credits are still yours to get: invite friends or enter a promo code."
            ).format(days=settings.daily_bonus_days),
            False,
        )
    day = bonus_day(settings, created, now)
    if claimed or user.last_daily_bonus == local_day(settings, now).isoformat():
        if day >= settings.daily_bonus_days:
            return _("✅ Today's bonus is yours, and it was the last one."), False
        return _("✅ Today's bonus is yours. Come back tomorrow!"), False
    return (
        _("🎁 Daily bonus: +{credits} today (day {day} of {days}).").format(
            credits=credits(settings.daily_bonus), day=day, days=settings.daily_bonus_days
        ),
        True,
    )


@router.message(F.text.in_(variants(BTN_BONUSES)))
async def show(message: Message, db_user: User | None, settings: Settings, bot: Bot) -> SendMessage:
    """The daily bonus (while the window is open), the referral link and the promo code."""
    if db_user is None:
        return message.answer(_("Send /start first: it sets up your account."))
    me = await bot.me()
    link = f"https://t.me/{me.username}?start=ref_{db_user.user_id}"
    daily, can_claim = _daily_line(settings, db_user, time.time())
    parts = [daily] if daily else []
    parts += [
        _("🤝 Invite friends: +{reward} for each one who starts the bot by your link:").format(
            reward=credits(settings.referral_reward)
        )
        + f"\n{link}",
        _("Friends invited: {n}").format(n=db_user.referrals),
    ]
    return message.answer("\n\n".join(parts), reply_markup=bonuses(can_claim))


@router.callback_query(BonusCb.filter())
async def claim(query: CallbackQuery, db_user: User | None, settings: Settings) -> AnswerCallbackQuery:
    """+DAILY_BONUS once a day inside the window: the ledger key ``bonus#daily#<date>`` makes a
    second claim (a double tap, the reminder's button) a no-op."""
    if db_user is None:
        return query.answer(_("Send /start first: it sets up your account."), show_alert=True)
    now = time.time()
    offered = _daily_line(settings, db_user, now)[0]
    outcome = claim_daily_bonus(settings, db_user)
    now_reads = _daily_line(settings, db_user, now, claimed=outcome != BonusClaim.CLOSED)[0]
    # claimed, claimed before or over: the message has nothing more to give
    await _settle_claim_message(query, offered, now_reads)
    if outcome == BonusClaim.CLOSED:
        return query.answer(
            _("The daily bonus was there on your first {days} days, and they are over.").format(
                days=settings.daily_bonus_days
            ),
            show_alert=True,
        )
    if outcome == BonusClaim.ALREADY:
        return query.answer(_("You have already claimed today's bonus. Come back tomorrow!"), show_alert=True)
    balance = int(db_user.balance) + settings.daily_bonus
    return query.answer(
        _("+{n}! Balance: {balance}.").format(n=credits(settings.daily_bonus), balance=credits(balance)),
        show_alert=True,
    )


async def _settle_claim_message(query: CallbackQuery, offered: str, now_reads: str) -> None:
    """Take the claim button off the message it was pressed on (the bonuses menu or the
    reminder), keeping its other buttons; on the menu, its daily line says what is true now.
    A failed edit changes nothing that matters: the button, pressed again, says the bonus is
    claimed."""
    message = query.message
    if not isinstance(message, Message) or message.reply_markup is None:
        return
    claim = BonusCb().pack()
    before = message.reply_markup.inline_keyboard
    rows = [[b for b in row if b.callback_data != claim] for row in before]
    if sum(map(len, rows)) == sum(map(len, before)):  # no claim button there: nothing to edit
        return
    markup = InlineKeyboardMarkup(inline_keyboard=[r for r in rows if r])
    text = message.text or ""
    with contextlib.suppress(TelegramAPIError):  # "not modified" on a double tap, a deleted message
        if offered and now_reads and text.startswith(offered):  # the menu: plain text (Telegram
            # finds its link again)
            await message.edit_text(now_reads + text[len(offered) :], parse_mode=None, reply_markup=markup)
        else:
            await message.edit_reply_markup(reply_markup=markup)
