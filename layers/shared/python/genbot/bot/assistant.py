"""The assistant: a menu button, ``/ask`` (``/ask question``), ``/new``; in assistant mode every
plain text, voice message and captioned photo is a question (``genbot.chat``).

The webhook only decides who pays (the subscription's daily allowance, the trial, credits),
charges and queues; the ``generate`` function asks the model and streams the answer. A user who
never tried the assistant is offered the free trial first (the question waits and is asked
when they take it). The menu's other buttons keep working; leaving the mode is one tap.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.methods import SendChatAction, SendMessage
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from aiogram.utils.keyboard import InlineKeyboardBuilder

from genbot.bot.keyboards import BTN_ASSISTANT, MENU_BUTTONS, buy_button
from genbot.bot.texts import credits
from genbot.chat import access, service
from genbot.chat.service import Asked, Outcome
from genbot.chat.texts import controls
from genbot.config import Settings
from genbot.i18n import get_i18n, variants
from genbot.store.models import User
from genbot.telegram.callbacks import ChatCb, SubCb
from genbot.users import Step, draft_of
from genbot.vocab import Funding

router = Router(name="assistant")


def _controls() -> InlineKeyboardMarkup:
    return controls(str(get_i18n().current_locale))


def _trial_offer(settings: Settings) -> tuple[str, InlineKeyboardMarkup]:
    text = ngettext(
        "🤖 The assistant answers questions, explains, writes and translates; it understands voice "
        "messages and photos. Try it free: {n} message.",
        "🤖 The assistant answers questions, explains, writes and translates; it understands voice "
        "messages and photos. Try it free: {n} messages.",
        settings.chat_trial,
    ).format(n=settings.chat_trial)
    button = InlineKeyboardButton(
        text=_("🎁 Start the free trial"), callback_data=ChatCb(action="trial").pack()
    )
    return text, InlineKeyboardMarkup(inline_keyboard=[[button]])


def _no_access(settings: Settings, user: User) -> SendMessage:
    have = access.allowance(settings, user)
    if have.subscribed:
        text = _("You have used today's {n} assistant messages of your subscription.").format(
            n=have.daily_cap
        )
        if settings.cost_chat:
            text += " " + _("More today cost {cost} each.").format(cost=credits(settings.cost_chat))
    else:
        text = _(
            "The free trial is over. Subscribe for {n} assistant messages a day, or pay {cost} per message."
        ).format(n=access.terms(settings).chat_per_day, cost=credits(settings.cost_chat))
    builder = InlineKeyboardBuilder()
    builder.row(InlineKeyboardButton(text=_("⭐ Subscription"), callback_data=SubCb(action="show").pack()))
    builder.row(buy_button())
    return SendMessage(chat_id=int(user.user_id), text=text, reply_markup=builder.as_markup())


def _welcome(settings: Settings, user: User) -> SendMessage:
    have = access.allowance(settings, user)
    if have.subscription_left:
        line = _("Your subscription: {n} messages left today.").format(n=have.subscription_left)
    elif have.trial_left:
        line = _("Free trial: {n} messages left.").format(n=have.trial_left)
    elif settings.cost_chat:
        line = _("Each message costs {cost}.").format(cost=credits(settings.cost_chat))
    else:
        line = ""
    text = _("🤖 Assistant mode: send a question, a voice message or a photo with a caption.")
    return SendMessage(chat_id=int(user.user_id), text=f"{text}\n{line}".strip(), reply_markup=_controls())


def asking(message: Message, db_user: User | None) -> bool:
    """A question for the assistant: the user is in assistant mode, this is not one of the
    menu's buttons (they keep working) and no picture being set up waits for this text or photo."""
    if db_user is None or not db_user.chat_mode or (message.text or "") in _menu_labels():
        return False
    draft = draft_of(db_user)
    return draft is None or draft.next_step() not in (Step.PROMPT, Step.PHOTO)


@functools.cache
def _menu_labels() -> frozenset[str]:
    return frozenset().union(*(variants(label) for label in MENU_BUTTONS))


async def _ask(
    message: Message,
    user: User,
    settings: Settings,
    text: str,
    *,
    input_kind: str | None = None,
    file_id: str | None = None,
    job_id: str | None = None,
) -> Any:
    asked: Asked = service.ask(
        settings,
        user,
        job_id=job_id or f"q{message.chat.id}_{message.message_id}",
        chat_id=message.chat.id,
        text=text,
        language=str(user.language),
        input_kind=input_kind,
        file_id=file_id,
    )
    if asked.outcome == Outcome.TRIAL_OFFER:
        offer, markup = _trial_offer(settings)
        return message.answer(offer, reply_markup=markup)
    if asked.outcome == Outcome.NO_ACCESS:
        return _no_access(settings, user)
    if asked.outcome == Outcome.BUSY:
        return message.answer(_("I'm still answering your previous messages. Please wait a moment."))
    if asked.outcome == Outcome.REPLAY:
        return None
    return SendChatAction(chat_id=message.chat.id, action="typing")


@router.message(Command("ask"))
@router.message(F.text.in_(variants(BTN_ASSISTANT)))
async def open_assistant(
    message: Message, db_user: User | None, settings: Settings, command: CommandObject | None = None
) -> Any:
    """Assistant mode on; ``/ask question`` asks at once."""
    if db_user is None:
        return message.answer(_("Send /start first: it sets up your account."))
    if not db_user.chat_mode:
        service.set_mode(db_user, True)
    question = (command.args or "").strip() if command is not None else ""
    if question:
        return await _question(message, db_user, settings, question)
    if (
        db_user.chat_trial_left is None
        and settings.chat_trial > 0
        and access.choose(settings, db_user) != Funding.SUBSCRIPTION
    ):
        offer, markup = _trial_offer(settings)
        return message.answer(offer, reply_markup=markup)
    return _welcome(settings, db_user)


@router.message(Command("new"))
async def new_conversation(message: Message, db_user: User | None) -> Any:
    if db_user is None:
        return message.answer(_("Send /start first: it sets up your account."))
    service.new_conversation(db_user)
    if not db_user.chat_mode:
        service.set_mode(db_user, True)
    return message.answer(_("🆕 A new conversation: I've forgotten what we talked about. Ask away."))


async def _question(message: Message, user: User, settings: Settings, text: str) -> Any:
    if len(text) > settings.max_prompt_chars:
        return message.answer(
            _("That message is too long ({n} characters; the limit is {limit}). Please shorten it.").format(
                n=len(text), limit=settings.max_prompt_chars
            )
        )
    return await _ask(message, user, settings, text)


@router.message(F.text & ~F.text.startswith("/"), asking)
async def text_question(message: Message, db_user: User, settings: Settings) -> Any:
    return await _question(message, db_user, settings, (message.text or "").strip())


@router.message(F.voice, asking)
async def voice_question(message: Message, db_user: User, settings: Settings) -> Any:
    voice = message.voice
    assert voice is not None
    if voice.duration > settings.chat_max_voice_seconds:
        return message.answer(
            _("That voice message is too long: at most {n} seconds, please.").format(
                n=settings.chat_max_voice_seconds
            )
        )
    if (voice.file_size or 0) > settings.max_input_bytes:
        return message.answer(_("That voice message is too large. Please send a shorter one."))
    return await _ask(message, db_user, settings, "", input_kind="voice", file_id=voice.file_id)


@router.message(F.photo, asking)
async def photo_question(message: Message, db_user: User, settings: Settings) -> Any:
    photo = (message.photo or [])[-1]
    caption = (message.caption or "").strip()
    if len(caption) > settings.max_prompt_chars:
        return await _question(message, db_user, settings, caption)  # the same "too long" answer
    return await _ask(message, db_user, settings, caption, input_kind="photo", file_id=photo.file_id)


@router.message(F.voice)
async def voice_outside(message: Message) -> Any:
    """A voice message outside assistant mode: say where voice works."""
    return message.answer(_("Voice messages go to the assistant: tap 💬 Assistant or send /ask."))


@router.callback_query(ChatCb.filter(F.action == "trial"))
async def take_trial(query: CallbackQuery, db_user: User | None, settings: Settings) -> Any:
    """The free trial, once; a question that waited for it is asked now."""
    if db_user is None or query.message is None:
        await query.answer(_("Send /start first: it sets up your account."), show_alert=True)
        return None
    taken = service.activate_trial(settings, db_user)
    with contextlib.suppress(TelegramAPIError):
        await query.answer(
            _("The trial is on: {n} free messages.").format(n=settings.chat_trial)
            if taken
            else _("You have already used the free trial.")
        )
    pending = db_user.chat_pending if taken else None
    if pending:
        message = query.message
        assert isinstance(message, Message)
        return await _ask(message, db_user, settings, str(pending), job_id=f"t{query.id}")
    return _welcome(settings, db_user)


@router.callback_query(ChatCb.filter(F.action == "new"))
async def new_from_button(query: CallbackQuery, db_user: User | None) -> Any:
    if db_user is None:
        return await query.answer()
    service.new_conversation(db_user)
    return await query.answer(
        _("🆕 A new conversation: I've forgotten what we talked about."), show_alert=False
    )


@router.callback_query(ChatCb.filter(F.action == "exit"))
async def leave(query: CallbackQuery, db_user: User | None) -> Any:
    if db_user is not None and db_user.chat_mode:
        service.set_mode(db_user, False)
    await query.answer()
    if query.message is None:
        return None
    return SendMessage(
        chat_id=query.message.chat.id,
        text=_(
            "You have left the assistant. The menu below has everything else; 💬 Assistant brings me back."
        ),
    )
