"""/help: what the bot does and what it costs, with the same labels and prices as the menu."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.methods import SendMessage
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from genbot.bot.keyboards import BTN_HELP, main_menu
from genbot.bot.texts import MODE_LABELS, TIER_LABELS
from genbot.commands import COMMANDS
from genbot.config import Settings
from genbot.i18n import variants
from genbot.jobs.pricing import Offer

router = Router(name="help")


def help_text(settings: Settings) -> str:
    """Modes that can be made now with their prices per tier, then the commands."""
    offer = Offer(settings)
    lines = ["<b>" + _("What I can do") + "</b>"]
    for mode in offer.modes():
        prices = []
        for tier in offer.tiers(mode):
            cost = offer.price(mode, tier) or 0
            price = _("free") if cost == 0 else _("{price} cr.").format(price=cost)
            prices.append(f"{_(TIER_LABELS[tier])} — {price}" if len(offer.tiers(mode)) > 1 else price)
        lines.append(f"{_(MODE_LABELS[mode])}: {'; '.join(prices)}")
    if not offer.modes():
        lines.append(_("Generation is unavailable right now. Please try again later."))
    chat_price = _("free") if settings.cost_chat == 0 else _("{price} cr.").format(price=settings.cost_chat)
    lines.append(
        _("💬 Assistant: {trial} free messages to try, then {price} a message").format(
            trial=settings.chat_trial, price=chat_price
        )
    )
    lines += [
        "",
        "<b>" + _("Credits") + "</b>",
        _(
            "A welcome gift, a daily bonus and rewards for friends you invite (🎁 Bonuses); "
            "packs in 🛒 Buy credits. If a generation fails, its credits come back."
        ),
        "",
        "<b>" + _("Commands") + "</b>",
        *(f"/{name} — {_(text)}" for name, text in COMMANDS),
    ]
    return "\n".join(lines)


@router.message(Command("help"))
@router.message(F.text.in_(variants(BTN_HELP)))
async def help_(message: Message, settings: Settings) -> SendMessage:
    """Explain the modes, prices and commands."""
    return message.answer(help_text(settings), reply_markup=main_menu())
