"""Buy credits: the packs on offer.

Payment itself (Telegram Stars invoices, YooKassa) is a separate capability; until it
lands this menu shows the packs and says plainly that purchase is not open yet.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.methods import AnswerPreCheckoutQuery, SendMessage
from aiogram.types import Message, PreCheckoutQuery
from aiogram.utils.i18n import gettext as _

from genbot.bot.keyboards import BTN_BUY
from genbot.config import Settings
from genbot.i18n import variants

router = Router(name="buy")


@router.message(F.text.in_(variants(BTN_BUY)))
async def packs(message: Message, settings: Settings) -> SendMessage:
    """List the packs and their prices."""
    lines = [_("🛒 Credit packs:")]
    for credits, stars, rubles in settings.packs().values():
        lines.append(
            _("• {credits} credits — {stars} ⭐ or {rubles} ₽").format(
                credits=credits, stars=stars, rubles=rubles
            )
        )
    lines += ["", _("Purchases are not open yet. Meanwhile, collect the daily bonus and invite friends 🎁")]
    return message.answer("\n".join(lines))


@router.pre_checkout_query()
async def pre_checkout(query: PreCheckoutQuery) -> AnswerPreCheckoutQuery:
    """Telegram waits at most 10 s for this answer; with no invoices of ours out, decline."""
    return query.answer(ok=False, error_message=_("Purchases are not open yet."))
