"""Bonuses: the daily bonus and the referral link."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from genbot.bot.keyboards import BTN_BONUSES, bonuses
from genbot.bot.texts import credits
from genbot.config import Settings
from genbot.i18n import variants
from genbot.store.models import User
from genbot.telegram.callbacks import BonusCb
from genbot.users import claim_daily_bonus

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
        _("🎁 Daily bonus: +{credits}, once a day.").format(credits=credits(settings.daily_bonus))
        if can_claim
        else _("✅ Today's bonus is yours. Come back tomorrow!")
    )
    text = "\n\n".join(
        [
            daily,
            _("🤝 Invite friends: +{reward} for each one who starts the bot by your link:").format(
                reward=credits(settings.referral_reward)
            )
            + f"\n{link}",
            _("Friends invited: {n}").format(n=db_user.referrals),
        ]
    )
    return message.answer(text, reply_markup=bonuses(can_claim))


@router.callback_query(BonusCb.filter())
async def claim(query: CallbackQuery, db_user: User | None, settings: Settings) -> AnswerCallbackQuery:
    """+1 once a day: the ledger key ``bonus#daily#<date>`` makes a second claim a no-op."""
    if db_user is None:
        return query.answer(_("Send /start first: it sets up your account."), show_alert=True)
    if not claim_daily_bonus(settings, int(db_user.user_id), today(settings)):
        return query.answer(_("You have already claimed today's bonus. Come back tomorrow!"), show_alert=True)
    balance = int(db_user.balance) + settings.daily_bonus
    return query.answer(
        _("+{n}! Balance: {balance}.").format(n=credits(settings.daily_bonus), balance=credits(balance)),
        show_alert=True,
    )
