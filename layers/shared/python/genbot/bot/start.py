"""/start: registration with welcome credits and referrals, then the main menu."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, Router, html
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from genbot.bot.generate import again_from_link
from genbot.bot.keyboards import main_menu
from genbot.bot.referrals import tell_referrer
from genbot.bot.texts import credits
from genbot.config import Settings
from genbot.i18n import normalize_language
from genbot.store.models import User
from genbot.users import register

router = Router(name="start")
AGAIN = "again_"  # /start again_<job id>: the cabinet's "generate again"


def parse_referrer(args: str | None) -> int | None:
    """``ref_<id>`` from a deep link; anything else is ignored."""
    if args and args.startswith("ref_") and args[4:].isascii() and args[4:].isdigit():
        return int(args[4:])
    return None


@router.message(CommandStart())
async def start(
    message: Message, command: CommandObject, db_user: User | None, settings: Settings, bot: Bot
) -> Any:
    """Register someone new (once) and show the main menu; ``again_<job>`` (from the cabinet)
    offers that generation again."""
    sender = message.from_user
    assert sender is not None
    name = sender.first_name
    if db_user is not None and command.args and command.args.startswith(AGAIN):
        return await again_from_link(message, command.args[len(AGAIN) :], db_user, settings, bot)
    if db_user is not None:
        return message.answer(
            _("Welcome back, {name}! Balance: {balance}.").format(
                name=html.quote(name), balance=credits(int(db_user.balance))
            ),
            reply_markup=main_menu(),
        )
    language = normalize_language(sender.language_code, settings.default_language)
    reg = register(
        settings,
        sender.id,
        language=language,
        first_name=name,
        username=sender.username,
        referrer_id=parse_referrer(command.args),
    )
    if reg.referrer_rewarded is not None:
        await tell_referrer(bot, settings, reg.referrer_rewarded, name, joined=True)
    text = _(
        "Hi, {name}! I turn words into pictures and photos into videos.\n\n"
        "🎁 Welcome gift: {credits}. Press «🎨 Generate» to start, or /help to learn more."
    ).format(name=html.quote(name), credits=credits(int(reg.user.balance)))
    return message.answer(text, reply_markup=main_menu())
