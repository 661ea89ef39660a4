"""Bonuses: the daily bonus and the referral link."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from genbot.bot.keyboards import BTN_BONUSES, BonusCb, bonuses
from genbot.config import Settings
from genbot.i18n import variants
from genbot.ledger import Posting, apply
from genbot.store.models import User

router = Router(name="bonus")


def today(settings: Settings) -> str:
    """The bonus day, in the operator's time zone (a day starts at local midnight)."""
    return datetime.now(ZoneInfo(settings.timezone)).date().isoformat()


@router.message(F.text.in_(variants(BTN_BONUSES)))
async def show(message: Message, db_user: User | None, settings: Settings, bot: Bot) -> SendMessage:
    """The daily bonus (if not claimed today) and the personal referral link."""
    if db_user is None:
        return message.answer(_("Send /start first: it sets up your account."))
    me = await bot.me()
    link = f"https://t.me/{me.username}?start=ref_{db_user.user_id}"
    can_claim = db_user.last_daily_bonus != today(settings)
    daily = (
        _("🎁 Daily bonus: +{n} credit, once a day.").format(n=settings.daily_bonus)
        if can_claim
        else _("✅ Today's bonus is yours. Come back tomorrow!")
    )
    text = "\n\n".join(
        [
            daily,
            _("🤝 Invite friends: +{reward} credits for each one who starts the bot by your link:").format(
                reward=settings.referral_reward
            )
            + f"\n{link}",
            _("Friends invited: {n}").format(n=db_user.referrals),
        ]
    )
    return message.answer(text, reply_markup=bonuses(can_claim))


@router.callback_query(BonusCb.filter(F.action == "daily"))
async def claim(query: CallbackQuery, db_user: User | None, settings: Settings) -> AnswerCallbackQuery:
    """+1 once a day: the ledger key ``bonus#daily#<date>`` makes a second claim a no-op."""
    if db_user is None:
        return query.answer(_("Send /start first: it sets up your account."), show_alert=True)
    day = today(settings)
    applied = apply(
        Posting(int(db_user.user_id), f"bonus#daily#{day}", settings.daily_bonus, "daily"),
        user_actions=[User.last_daily_bonus.set(day)],
    )
    if not applied:
        return query.answer(_("You have already claimed today's bonus. Come back tomorrow!"), show_alert=True)
    balance = int(db_user.balance) + settings.daily_bonus
    return query.answer(
        _("+{n} credit! Balance: {balance}.").format(n=settings.daily_bonus, balance=balance), show_alert=True
    )
