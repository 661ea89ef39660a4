"""Generate: choose a mode and tier, give a photo and/or prompt, confirm the price, get a job.

The confirmation debits and queues in one transaction (``genbot.jobs.service.create``);
everything slow happens in the generate Lambda.
"""

from __future__ import annotations

import contextlib
from typing import Any

from aiogram import F, Router, html
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import EditMessageText, SendMessage
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from genbot.bot import drafts
from genbot.bot.drafts import Draft
from genbot.bot.keyboards import BTN_GENERATE
from genbot.config import Settings
from genbot.i18n import N_, variants
from genbot.jobs import pricing, queue, service
from genbot.ledger import InsufficientFundsError
from genbot.providers.base import RefusedError
from genbot.providers.moderation import check_prompt
from genbot.store.models import User

router = Router(name="generate")

MODE_LABELS = {
    "image": N_("🖼 Picture from text"),
    "edit": N_("✏️ Edit a photo"),
    "video": N_("🎬 Animate a photo"),
    "describe": N_("🔎 Prompt from a photo"),
}
TIER_LABELS = {"standard": N_("Standard"), "pro": N_("Pro")}
DESCRIBE_WORDS = ("describe", "prompt", "опиши", "описание", "промпт")
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
VARIATION_PROMPT = "Create a variation of this image: same subject and style, a fresh composition."


class GenCb(CallbackData, prefix="gen"):
    action: str  # mode | tier | confirm | cancel | skip
    value: str = ""


class ResultCb(CallbackData, prefix="res"):
    action: str  # again | vary | animate | original | use
    job: str


def tiers(settings: Settings, mode: str) -> list[str]:
    """Tiers offered for a mode: those with a price (operator-controlled)."""
    return [t for t in ("standard", "pro") if _priced(settings, mode, t)]


def _priced(settings: Settings, mode: str, tier: str) -> bool:
    try:
        pricing.price(settings, mode, tier)
    except KeyError:
        return False
    return True


def modes_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for mode, label in MODE_LABELS.items():
        builder.button(text=_(label), callback_data=GenCb(action="mode", value=mode))
    builder.adjust(1)
    return builder.as_markup()


async def ask_next(draft: Draft, user: User, settings: Settings) -> tuple[str, InlineKeyboardMarkup | None]:
    """The text and buttons for whatever the draft still needs."""
    step = draft.next_step()
    if step == "mode":
        return _("What shall we make?"), modes_keyboard()
    if step == "photo":
        return _("Send me the photo (as a photo or as a JPEG/PNG/WebP file)."), _cancel_keyboard()
    if step == "prompt":
        if draft.mode == "video":
            builder = InlineKeyboardBuilder()
            builder.button(text=_("Skip"), callback_data=GenCb(action="skip"))
            builder.button(text=_("✖ Cancel"), callback_data=GenCb(action="cancel"))
            return _(
                "Describe the motion (e.g. «waves roll, hair in the wind»), or press Skip."
            ), builder.as_markup()
        if draft.mode == "edit":
            return _("What should I change in the photo? Describe it in a message."), _cancel_keyboard()
        return _("Describe the picture you want in one message."), _cancel_keyboard()
    cost = pricing.price(settings, draft.mode, draft.tier)
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("✅ Start — {price} cr.").format(price=cost),
        callback_data=GenCb(action="confirm", value=draft.nonce or ""),
    )
    builder.button(text=_("✖ Cancel"), callback_data=GenCb(action="cancel"))
    builder.adjust(1)
    summary = _(MODE_LABELS[draft.mode])
    if draft.prompt:
        summary += "\n<i>" + html.quote(_shorten(draft.prompt, 300)) + "</i>"
    text = _("{summary}\n\nPrice: {price} cr. Your balance: {balance} cr.").format(
        summary=summary, price=cost, balance=user.balance
    )
    return text, builder.as_markup()


def _cancel_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("✖ Cancel"), callback_data=GenCb(action="cancel"))
    return builder.as_markup()


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _show(target: Message, draft: Draft | None, user: User, settings: Settings) -> SendMessage:
    text, markup = await ask_next(draft or Draft(), user, settings)
    return target.answer(text, reply_markup=markup)


# --- entry points ------------------------------------------------------------------------


@router.message(Command("generate"))
@router.message(F.text.in_(variants(BTN_GENERATE)))
async def menu(message: Message, db_user: User | None) -> SendMessage:
    """Show the modes."""
    if db_user is None:
        return message.answer(_("Send /start first: it sets up your account."))
    drafts.save(int(db_user.user_id), None)
    return message.answer(_("What shall we make?"), reply_markup=modes_keyboard())


@router.callback_query(GenCb.filter(F.action == "mode"))
async def chose_mode(
    query: CallbackQuery, callback_data: GenCb, db_user: User | None, settings: Settings
) -> Any:
    """A mode: ask for the tier when there is a choice, else for what the mode needs."""
    if db_user is None or callback_data.value not in drafts.MODES or query.message is None:
        return query.answer(_("This button no longer works. Please use the menu."))
    current = Draft.of(db_user)
    draft = Draft(mode=callback_data.value)
    if current is not None and callback_data.value in drafts.NEEDS_PHOTO:
        draft.file_id = current.file_id  # a photo sent before choosing what to do with it
        caption = current.extra.get("caption")
        if caption and callback_data.value != "describe":
            draft.prompt = caption
    options = tiers(settings, draft.mode)
    if len(options) > 1:
        drafts.save(int(db_user.user_id), draft)
        builder = InlineKeyboardBuilder()
        for tier in options:
            cost = pricing.price(settings, draft.mode, tier)
            label = _("{tier} — {price} cr.").format(tier=_(TIER_LABELS[tier]), price=cost)
            builder.button(text=label, callback_data=GenCb(action="tier", value=tier))
        builder.adjust(1)
        text = _("Standard is fast; Pro gives finer detail.")
        return EditMessageText(
            chat_id=query.message.chat.id,
            message_id=query.message.message_id,
            text=text,
            reply_markup=builder.as_markup(),
        )
    draft.tier = options[0] if options else "standard"
    return await _advance(query, draft, db_user, settings)


@router.callback_query(GenCb.filter(F.action == "tier"))
async def chose_tier(
    query: CallbackQuery, callback_data: GenCb, db_user: User | None, settings: Settings
) -> Any:
    """The tier: move on to the photo or prompt."""
    draft = Draft.of(db_user)
    if db_user is None or draft is None or callback_data.value not in tiers(settings, draft.mode):
        return query.answer(_("This button no longer works. Please use the menu."))
    draft.tier = callback_data.value
    return await _advance(query, draft, db_user, settings)


@router.callback_query(GenCb.filter(F.action == "skip"))
async def skip_prompt(query: CallbackQuery, db_user: User | None, settings: Settings) -> Any:
    """Video without a motion prompt."""
    draft = Draft.of(db_user)
    if db_user is None or draft is None or draft.mode != "video":
        return query.answer(_("This button no longer works. Please use the menu."))
    draft.prompt = ""
    return await _advance(query, draft, db_user, settings)


@router.callback_query(GenCb.filter(F.action == "cancel"))
async def cancel(query: CallbackQuery, db_user: User | None) -> Any:
    """Drop the draft."""
    if db_user is not None:
        drafts.save(int(db_user.user_id), None)
    if query.message is None:
        return query.answer()
    return EditMessageText(
        chat_id=query.message.chat.id, message_id=query.message.message_id, text=_("Cancelled.")
    )


async def _advance(query: CallbackQuery, draft: Draft, user: User, settings: Settings) -> Any:
    drafts.save(int(user.user_id), draft)
    text, markup = await ask_next(draft, user, settings)
    assert query.message is not None
    return EditMessageText(
        chat_id=query.message.chat.id, message_id=query.message.message_id, text=text, reply_markup=markup
    )


# --- inputs: prompt text, photos -----------------------------------------------------------


def awaiting_prompt(message: Message, db_user: User | None) -> bool:
    draft = Draft.of(db_user)
    return draft is not None and draft.next_step() == "prompt"


@router.message(F.text, awaiting_prompt)
async def got_prompt(message: Message, db_user: User, settings: Settings) -> SendMessage:
    """The prompt: checked (length, moderation) before anything is charged."""
    prompt = (message.text or "").strip()
    if not prompt:
        return message.answer(_("The description is empty. Please write what you want to see."))
    if len(prompt) > settings.max_prompt_chars:
        return message.answer(
            _(
                "That description is too long ({n} characters; the limit is {limit}). Please shorten it."
            ).format(n=len(prompt), limit=settings.max_prompt_chars)
        )
    try:
        await check_prompt(settings, prompt)
    except RefusedError:
        return message.answer(
            _("🚫 I can't make this: the description breaks the content rules. Try another one.")
        )
    draft = Draft.of(db_user)
    assert draft is not None
    draft.prompt = prompt
    drafts.save(int(db_user.user_id), draft)
    return await _show(message, draft, db_user, settings)


@router.message(F.photo | F.document)
async def got_photo(message: Message, db_user: User | None, settings: Settings) -> SendMessage:
    """A photo (or an image file): input for the draft, or the start of a new one."""
    if db_user is None:
        return message.answer(_("Send /start first: it sets up your account."))
    if message.photo:
        photo = message.photo[-1]
        file_id, size = photo.file_id, photo.file_size or 0
    else:
        document = message.document
        assert document is not None
        if (document.mime_type or "") not in IMAGE_TYPES:
            return message.answer(_("I can only work with images: please send a JPEG, PNG or WebP photo."))
        file_id, size = document.file_id, document.file_size or 0
    if size > settings.max_input_bytes:
        return message.answer(
            _("This file is too large ({mb} MB). Please send an image up to {limit} MB.").format(
                mb=round(size / 2**20, 1), limit=settings.max_input_bytes // 2**20
            )
        )
    caption = (message.caption or "").strip()[: settings.max_prompt_chars]
    if caption and caption.lower() not in DESCRIBE_WORDS:
        try:
            await check_prompt(settings, caption)
        except RefusedError:
            return message.answer(
                _("🚫 I can't make this: the description breaks the content rules. Try another one.")
            )
    draft = Draft.of(db_user)
    if draft is None or draft.mode not in drafts.NEEDS_PHOTO:
        mode = "describe" if caption.lower() in DESCRIBE_WORDS else ""
        draft = Draft(mode=mode, file_id=file_id)
        if mode == "" and caption:
            draft.extra["caption"] = caption
        if not mode:
            drafts.save(int(db_user.user_id), draft)
            builder = InlineKeyboardBuilder()
            for m in ("edit", "video", "describe"):
                builder.button(text=_(MODE_LABELS[m]), callback_data=GenCb(action="mode", value=m))
            builder.adjust(1)
            return message.answer(_("What shall I do with this photo?"), reply_markup=builder.as_markup())
    draft.file_id = file_id
    if caption and draft.mode != "describe":
        draft.prompt = caption
    drafts.save(int(db_user.user_id), draft)
    return await _show(message, draft, db_user, settings)


# --- confirmation: debit + queue -------------------------------------------------------------


@router.callback_query(GenCb.filter(F.action == "confirm"))
async def confirm(
    query: CallbackQuery, callback_data: GenCb, db_user: User | None, settings: Settings
) -> Any:
    """Debit and queue, once per draft (the nonce) and once per update (the job id)."""
    draft = Draft.of(db_user)
    if db_user is None or draft is None or query.message is None or draft.nonce != callback_data.value:
        return query.answer(_("This request was already started or replaced."), show_alert=True)
    cost = pricing.price(settings, draft.mode, draft.tier)
    new = service.NewJob(
        job_id=f"c{query.id}",
        user_id=int(db_user.user_id),
        chat_id=query.message.chat.id,
        mode=draft.mode,
        tier=draft.tier,
        prompt=draft.prompt or "",
        price=cost,
        language=str(db_user.language),
        input_file_id=draft.file_id,
        status_message_id=query.message.message_id,
    )
    try:
        job = service.create(settings, new, draft_nonce=draft.nonce)
    except InsufficientFundsError:
        return query.answer(
            _(
                "Not enough credits: this costs {price}, you have {balance}. "
                "Top up in 🛒 Buy credits or get a bonus in 🎁 Bonuses."
            ).format(price=cost, balance=db_user.balance),
            show_alert=True,
        )
    except service.TooManyJobsError:
        return query.answer(
            _("You already have {n} generations in progress. Please wait for one to finish.").format(
                n=settings.max_user_queue
            ),
            show_alert=True,
        )
    except service.StaleDraftError:
        return query.answer(_("This request was already started or replaced."), show_alert=True)
    if job is None:
        return None
    with contextlib.suppress(TelegramAPIError):  # cosmetic: the job is queued either way
        await query.answer(_("Started!"))
    text = (
        _("⏳ In the queue…") + "\n<i>" + html.quote(_shorten(new.prompt, 300)) + "</i>"
        if new.prompt
        else _("⏳ In the queue…")
    )
    return EditMessageText(chat_id=new.chat_id, message_id=query.message.message_id, text=text)


# --- result buttons --------------------------------------------------------------------------


@router.callback_query(ResultCb.filter())
async def on_result(
    query: CallbackQuery, callback_data: ResultCb, db_user: User | None, settings: Settings
) -> Any:
    """Again / variations / animate this / original file / generate from a described prompt."""
    job = service.get(callback_data.job)
    if db_user is None or job is None or int(job.user_id) != int(db_user.user_id) or query.message is None:
        return query.answer(_("This button no longer works. Please use the menu."))
    action = callback_data.action
    if action == "original":
        queue.send({"action": "original", "job_id": job.job_id, "user_id": int(db_user.user_id)})
        return query.answer(_("Sending the original file…"))
    if action == "again":
        draft = Draft(mode=job.mode, tier=job.tier, file_id=job.input_file_id, prompt=job.prompt)
    elif action == "vary" and job.result_file_id:
        draft = Draft(mode="edit", tier=job.tier, file_id=job.result_file_id, prompt=VARIATION_PROMPT)
    elif action == "animate" and job.result_file_id:
        draft = Draft(mode="video", tier="standard", file_id=job.result_file_id)
    elif action == "use" and job.result_text:
        draft = Draft(mode="image", tier="standard", prompt=job.result_text[: settings.max_prompt_chars])
    else:
        return query.answer(_("This button no longer works. Please use the menu."))
    drafts.save(int(db_user.user_id), draft)
    with contextlib.suppress(TelegramAPIError):
        await query.answer()
    text, markup = await ask_next(draft, db_user, settings)
    return SendMessage(chat_id=query.message.chat.id, text=text, reply_markup=markup)
