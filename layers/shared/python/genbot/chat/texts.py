"""The assistant's buttons and lines that both the webhook and the answering worker show."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from genbot.i18n import N_, translate, translate_plural
from genbot.telegram.callbacks import ChatCb

NEW_CONVERSATION = N_("🆕 New conversation")
LEAVE = N_("✖ Leave the assistant")


def controls(language: str) -> InlineKeyboardMarkup:
    """Under every answer (and the assistant's welcome): start over, or leave the mode."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=translate(NEW_CONVERSATION, language), callback_data=ChatCb(action="new").pack()
                ),
                InlineKeyboardButton(
                    text=translate(LEAVE, language), callback_data=ChatCb(action="exit").pack()
                ),
            ]
        ]
    )


def trial_footer(left: int, language: str) -> str:
    return translate_plural(
        "🎁 Free trial: {n} message left.", "🎁 Free trial: {n} messages left.", left, language
    )
