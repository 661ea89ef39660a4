"""Promo codes: ``/promo CODE``, or ``/promo`` / the Bonuses button and then the code.

Asking for the code keeps no state: the question goes out with ``ForceReply``, so the user's
next message is a reply to it, and a reply to that question is read as the code (in either
language, whenever it comes). ``/promo CODE`` works everywhere, replies or not.
"""

from __future__ import annotations

import contextlib

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import CallbackQuery, ForceReply, Message
from aiogram.utils.i18n import gettext as _

from genbot.bot.keyboards import MENU_BUTTONS, main_menu
from genbot.bot.texts import credits
from genbot.i18n import N_, variants
from genbot.payments import promo
from genbot.payments.promo import Outcome
from genbot.store.models import User
from genbot.telegram.callbacks import PromoCb

router = Router(name="promo")

# Plain text (no markup): a reply carries it back as sent, and it is matched in every language.
ASK = N_("🎟 Send me your promo code in reply to this message, or type /promo and the code.")
ASKS = variants(ASK)
MENU_TEXTS = frozenset().union(*(variants(b) for b in MENU_BUTTONS))

REFUSALS: dict[Outcome, str] = {
    Outcome.UNKNOWN: N_("There is no such promo code. Check it and try again."),
    Outcome.DISABLED: N_("This promo code is no longer valid."),
    Outcome.EXPIRED: N_("This promo code has expired."),
    Outcome.USED_UP: N_("This promo code has run out: all its uses are taken."),
    Outcome.ALREADY_USED: N_("You have already used this promo code."),
}


def _ask(chat_id: int) -> SendMessage:
    return SendMessage(
        chat_id=chat_id,
        text=_(ASK),
        reply_markup=ForceReply(input_field_placeholder=_("Promo code")),
    )


def _redeem(message: Message, user: User, code: str) -> SendMessage:
    """Redeem ``code`` for the user; the answer says what came of it, with the new balance."""
    result = promo.redeem(int(user.user_id), code)
    if result.outcome != Outcome.REDEEMED:
        return message.answer(_(REFUSALS[result.outcome]), reply_markup=main_menu())
    balance = result.balance if result.balance is not None else int(user.balance) + result.credits
    text = _("🎉 Promo code {code} activated: +{credits}! Balance: {balance}.").format(
        code=result.code, credits=credits(result.credits), balance=credits(balance)
    )
    return message.answer(text, reply_markup=main_menu())


def answers_the_question(message: Message, bot: Bot) -> bool:
    """A text in reply to our "send me your promo code" (not a command or a menu button)."""
    asked = message.reply_to_message
    text = message.text or ""
    return (
        asked is not None
        and asked.from_user is not None
        and asked.from_user.id == bot.id
        and asked.text in ASKS
        and not text.startswith("/")
        and text not in MENU_TEXTS
    )


@router.message(Command("promo"))
async def redeem_command(message: Message, command: CommandObject, db_user: User | None) -> SendMessage:
    """``/promo CODE`` redeems; ``/promo`` alone asks for the code."""
    if db_user is None:
        return message.answer(_("Send /start first: it sets up your account."))
    if not command.args or not command.args.strip():
        return _ask(message.chat.id)
    return _redeem(message, db_user, command.args)


@router.callback_query(PromoCb.filter())
async def ask_from_button(
    query: CallbackQuery, db_user: User | None
) -> SendMessage | AnswerCallbackQuery | None:
    """The Bonuses menu's "Promo code": ask for it, as a new message."""
    if db_user is None:
        return query.answer(_("Send /start first: it sets up your account."), show_alert=True)
    with contextlib.suppress(TelegramAPIError):
        await query.answer()
    if query.message is None:
        return None
    return _ask(query.message.chat.id)


@router.message(F.text, answers_the_question)
async def code_in_reply(message: Message, db_user: User | None) -> SendMessage:
    """The code, in reply to the question."""
    if db_user is None:
        return message.answer(_("Send /start first: it sets up your account."))
    return _redeem(message, db_user, message.text or "")
