"""Buy credits: the packs on offer.

Payment itself (Telegram Stars invoices, YooKassa) is a separate capability; until it
lands this menu shows the packs and says plainly that purchase is not open yet.
"""

from __future__ import annotations

import contextlib

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.methods import AnswerPreCheckoutQuery, SendMessage
from aiogram.types import CallbackQuery, Message, PreCheckoutQuery
from aiogram.utils.i18n import gettext as _

from genbot.bot.keyboards import BTN_BUY
from genbot.bot.texts import credits
from genbot.config import Settings
from genbot.i18n import variants
from genbot.telegram.callbacks import MenuAction, MenuCb

router = Router(name="buy")


def packs_text(settings: Settings) -> str:
    lines = [_("🛒 Credit packs:")]
    for amount, stars, rubles in settings.packs().values():
        lines.append(
            _("• {credits} — {stars} ⭐ or {rubles} ₽").format(
                credits=credits(amount), stars=stars, rubles=rubles
            )
        )
    lines += ["", _("Purchases are not open yet. Meanwhile, collect the daily bonus and invite friends 🎁")]
    return "\n".join(lines)


@router.message(Command("buy"))
@router.message(F.text.in_(variants(BTN_BUY)))
async def packs(message: Message, settings: Settings) -> SendMessage:
    """List the packs and their prices."""
    return message.answer(packs_text(settings))


@router.callback_query(MenuCb.filter(F.action == MenuAction.BUY))
async def packs_from_button(query: CallbackQuery, settings: Settings, bot: Bot) -> SendMessage | None:
    """The Buy button under a price the user can't pay: the packs, as a new message."""
    with contextlib.suppress(TelegramAPIError):
        await query.answer()
    if query.message is None:
        return None
    return SendMessage(chat_id=query.message.chat.id, text=packs_text(settings))


@router.pre_checkout_query()
async def pre_checkout(query: PreCheckoutQuery) -> AnswerPreCheckoutQuery:
    """Telegram waits at most 10 s for this answer; with no invoices of ours out, decline."""
    return query.answer(ok=False, error_message=_("Purchases are not open yet."))
