"""/language: switch between Russian and English."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from genbot.bot.keyboards import language_picker, main_menu
from genbot.i18n import LANGUAGES
from genbot.store.models import User
from genbot.telegram.callbacks import LanguageCb
from genbot.users import set_language

router = Router(name="language")


@router.message(Command("language"))
async def pick(message: Message) -> SendMessage:
    """Offer the languages."""
    return message.answer(_("Choose your language:"), reply_markup=language_picker())


@router.callback_query(LanguageCb.filter(F.code.in_(LANGUAGES)))
async def chosen(
    query: CallbackQuery, callback_data: LanguageCb, db_user: User | None, i18n: I18n, bot: Bot
) -> SendMessage | None:
    """Store the language and answer in it, with the menu re-labelled."""
    await query.answer()
    if db_user is None or query.message is None:
        return None
    set_language(int(db_user.user_id), callback_data.code)
    with i18n.use_locale(callback_data.code):
        return SendMessage(
            chat_id=query.message.chat.id,
            text=_("Done: I will speak English."),
            reply_markup=main_menu(),
        )
