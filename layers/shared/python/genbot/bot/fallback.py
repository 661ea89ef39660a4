"""Whatever no other router took: a helpful answer, never silence."""

from __future__ import annotations

from aiogram import Router
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from genbot.bot.keyboards import main_menu
from genbot.observability import logger

router = Router(name="fallback")


@router.edited_message()
async def edited(message: Message) -> None:
    """Edits of old messages change nothing (a prompt is read when it is sent)."""
    logger.info("edited message ignored", extra={"message_id": message.message_id})


@router.message()
async def unknown(message: Message) -> SendMessage:
    """Text or media we don't expect here: point at the menu."""
    return message.answer(
        _("I didn't understand that. Use the menu below, or /help to see what I can do."),
        reply_markup=main_menu(),
    )


@router.callback_query()
async def stale_button(query: CallbackQuery) -> AnswerCallbackQuery:
    """A button from an old message or a forged callback: say so instead of spinning."""
    logger.info("unknown callback", extra={"data": (query.data or "")[:64]})
    return query.answer(_("This button no longer works. Please use the menu."), show_alert=False)
