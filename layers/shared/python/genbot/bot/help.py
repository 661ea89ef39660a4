"""/help: what the bot does and what it costs."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.methods import SendMessage
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from genbot.bot.keyboards import BTN_HELP, main_menu
from genbot.config import Settings
from genbot.i18n import variants

router = Router(name="help")


@router.message(Command("help"))
@router.message(F.text.in_(variants(BTN_HELP)))
async def help_(message: Message, settings: Settings) -> SendMessage:
    """Explain the modes, prices and commands."""
    text = _(
        "<b>What I can do</b>\n"
        "🖼 Picture from a description — {image} cr. (pro: {image_pro} cr.)\n"
        "✏️ Edit your photo with a prompt — {edit} cr.\n"
        "🎬 Animate a photo into a short video — {video} cr.\n"
        "🔎 Describe a photo as a prompt\n\n"
        "<b>Credits</b>\n"
        "A welcome gift, a daily bonus and rewards for friends you invite (🎁 Bonuses); "
        "packs in 🛒 Buy credits. If a generation fails, its credits come back.\n\n"
        "<b>Commands</b>\n"
        "/start — main menu\n/balance — credits and history\n/language — язык / language\n/help — this text"
    ).format(
        image=settings.cost_image,
        image_pro=settings.cost_image_pro,
        edit=settings.cost_edit,
        video=settings.cost_video,
    )
    return message.answer(text, reply_markup=main_menu())
