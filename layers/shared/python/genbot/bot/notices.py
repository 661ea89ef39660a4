"""/settings: which messages the bot may send unasked, one toggle per kind (``NoticeKind``)."""

from __future__ import annotations

import contextlib

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from genbot.config import Settings
from genbot.i18n import N_
from genbot.store.models import User
from genbot.users import set_chat_language, set_notice
from genbot.vocab import NoticeKind

router = Router(name="notices")

LABELS = {
    NoticeKind.OFFERS: N_("Offers and news"),
    NoticeKind.BONUS: N_("Daily bonus reminders"),
    NoticeKind.SUBSCRIPTION: N_("Subscription reminders"),
}


ANSWER_LANGUAGES = {
    "auto": N_("🤖 Assistant answers: in my question's language"),
    "ru": N_("🤖 Assistant answers: in Russian"),
    "en": N_("🤖 Assistant answers: in English"),
}
NEXT_LANGUAGE = {"auto": "ru", "ru": "en", "en": "auto"}


class AnswerLanguageCb(CallbackData, prefix="alang"):
    """The assistant's answer language: ``auto`` (the question's), ``ru``, ``en``."""

    code: str


class NoticeCb(CallbackData, prefix="notice"):
    """Turn a kind of notice on (``on=1``) or off."""

    kind: NoticeKind
    on: bool


def _text() -> str:
    return _(
        "🔔 Messages I may send you unasked. Tap one to turn it on or off; payments, results "
        "and answers to you always come. The last button picks the assistant's language."
    )


def _keyboard(user: User) -> InlineKeyboardMarkup:
    muted = user.muted or set()
    builder = InlineKeyboardBuilder()
    for kind, label in LABELS.items():
        on = str(kind) not in muted
        builder.button(
            text=("✅ " if on else "🔕 ") + _(label),
            callback_data=NoticeCb(kind=kind, on=not on),
        )
    current = str(user.chat_language or "auto")
    builder.button(
        text=_(ANSWER_LANGUAGES.get(current, ANSWER_LANGUAGES["auto"])),
        callback_data=AnswerLanguageCb(code=NEXT_LANGUAGE.get(current, "ru")),
    )
    builder.adjust(1)
    return builder.as_markup()


@router.message(Command("settings"))
async def show(message: Message, db_user: User | None) -> SendMessage:
    if db_user is None:
        return message.answer(_("Send /start first: it sets up your account."))
    return message.answer(_text(), reply_markup=_keyboard(db_user))


@router.callback_query(NoticeCb.filter())
async def toggle(
    query: CallbackQuery, callback_data: NoticeCb, db_user: User | None, settings: Settings
) -> None:
    """Store the choice and redraw the toggles (a repeated tap sets the same value again)."""
    if db_user is None:
        await query.answer(_("Send /start first: it sets up your account."), show_alert=True)
        return
    set_notice(settings, db_user, callback_data.kind, callback_data.on)
    label = _(LABELS[callback_data.kind])
    await query.answer((_("{kind}: on") if callback_data.on else _("{kind}: off")).format(kind=label))
    if query.message is not None:
        with contextlib.suppress(TelegramAPIError):  # "not modified" on a repeated tap
            await query.message.edit_reply_markup(reply_markup=_keyboard(db_user))  # type: ignore[union-attr]


@router.callback_query(AnswerLanguageCb.filter(F.code.in_(ANSWER_LANGUAGES)))
async def answer_language(
    query: CallbackQuery, callback_data: AnswerLanguageCb, db_user: User | None
) -> None:
    """Cycle the assistant's answer language (shared /settings with the notice toggles)."""
    if db_user is None:
        await query.answer(_("Send /start first: it sets up your account."), show_alert=True)
        return
    set_chat_language(db_user, None if callback_data.code == "auto" else callback_data.code)
    await query.answer(_(ANSWER_LANGUAGES[callback_data.code]))
    if query.message is not None:
        with contextlib.suppress(TelegramAPIError):
            await query.message.edit_reply_markup(reply_markup=_keyboard(db_user))  # type: ignore[union-attr]
