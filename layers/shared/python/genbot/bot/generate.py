"""Generate: choose a mode and tier, give a photo and/or prompt, confirm the price, get a job.

Every button of a draft carries the draft's id: a button of a draft that was replaced says it
no longer works, and the replaced draft's buttons are taken off its message. The menu offers
only what has a price and can be served (``genbot.jobs.pricing.Offer``), and says up front
what the user can't afford. Confirming debits and queues in one transaction
(``genbot.jobs.service.create``); a free action runs at once. Everything slow happens in the
generate Lambda.
"""

from __future__ import annotations

import contextlib
from typing import Any

from aiogram import Bot, F, Router, html
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.methods import EditMessageReplyMarkup, EditMessageText, TelegramMethod
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from aiogram.utils.keyboard import InlineKeyboardBuilder

from genbot.bot.keyboards import BTN_GENERATE, buy_button
from genbot.bot.texts import MODE_LABELS, TIER_LABELS, credits
from genbot.config import Settings
from genbot.i18n import variants
from genbot.jobs import queue, service
from genbot.jobs.messages import JobMessage, JobStep
from genbot.jobs.pricing import Offer
from genbot.ledger import InsufficientFundsError
from genbot.providers.base import RefusedError
from genbot.providers.moderation import check_prompt
from genbot.store.models import Job, User
from genbot.telegram.callbacks import DraftAction, DraftCb, ResultAction, ResultCb
from genbot.users import Draft, Step, clear_draft, draft_of, save_draft
from genbot.vocab import MODES, NEEDS_PHOTO, Mode, Tier

router = Router(name="generate")

DESCRIBE_WORDS = ("describe", "prompt", "опиши", "описание", "промпт")
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
PHOTO_MODES = (Mode.EDIT, Mode.VIDEO, Mode.DESCRIBE)


def _stale(query: CallbackQuery) -> Any:
    return query.answer(_("This button no longer works. Please use the menu."))


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cb(draft: Draft, action: DraftAction, **fields: Any) -> str:
    return DraftCb(action=action, draft=draft.id, **fields).pack()


def _cancel_row(builder: InlineKeyboardBuilder, draft: Draft) -> None:
    builder.button(text=_("✖ Cancel"), callback_data=_cb(draft, DraftAction.CANCEL))


# --- what the draft shows ------------------------------------------------------------------


def render(draft: Draft, user: User, offer: Offer) -> tuple[str, InlineKeyboardMarkup | None]:
    """The text and buttons for whatever the draft still needs (never a Start it can't pay)."""
    balance = int(user.balance)
    builder = InlineKeyboardBuilder()
    step = draft.next_step()
    if step == Step.MODE:
        modes = [m for m in offer.modes() if draft.file_id is None or m in PHOTO_MODES]
        if not modes:
            return _("Generation is unavailable right now. Please try again later."), None
        for mode in modes:
            builder.button(text=_(MODE_LABELS[mode]), callback_data=_cb(draft, DraftAction.MODE, mode=mode))
        builder.adjust(1)
        question = _("What shall I do with this photo?") if draft.file_id else _("What shall we make?")
        return question, builder.as_markup()
    assert draft.mode is not None
    if step == Step.TIER:
        affordable = False
        for tier in offer.tiers(draft.mode):
            tier_cost = offer.price(draft.mode, tier) or 0
            label = _("{tier} — {price} cr.").format(tier=_(TIER_LABELS[tier]), price=tier_cost)
            if tier_cost > balance:
                label = "🔒 " + label
            affordable = affordable or tier_cost <= balance
            builder.button(text=label, callback_data=_cb(draft, DraftAction.TIER, tier=tier))
        if not affordable:
            builder.row(buy_button())
        _cancel_row(builder, draft)
        builder.adjust(1)
        text = _("Standard is fast; Pro gives finer detail.")
        if not affordable:
            text += "\n\n" + _("Your balance: {credits}. Top up to continue.").format(
                credits=credits(balance)
            )
        return text, builder.as_markup()
    assert draft.tier is not None
    cost = offer.price(draft.mode, draft.tier)
    if cost is not None and cost > balance:
        builder.row(buy_button())
        _cancel_row(builder, draft)
        return (
            _("{mode} costs {price}; your balance is {credits}.").format(
                mode=_(MODE_LABELS[draft.mode]), price=credits(cost), credits=credits(balance)
            )
            + "\n"
            + _("Top up in 🛒 Buy credits or get a bonus in 🎁 Bonuses."),
            builder.as_markup(),
        )
    if step == Step.PHOTO:
        _cancel_row(builder, draft)
        return _("Send me the photo (as a photo or as a JPEG/PNG/WebP file)."), builder.as_markup()
    if step == Step.PROMPT:
        if draft.mode == Mode.VIDEO:
            builder.button(text=_("Skip"), callback_data=_cb(draft, DraftAction.SKIP))
            _cancel_row(builder, draft)
            return _(
                "Describe the motion (e.g. «waves roll, hair in the wind»), or press Skip."
            ), builder.as_markup()
        _cancel_row(builder, draft)
        if draft.mode == Mode.EDIT:
            return _("What should I change in the photo? Describe it in a message."), builder.as_markup()
        return _("Describe the picture you want in one message."), builder.as_markup()
    builder.button(
        text=_("✅ Start — {price} cr.").format(price=cost), callback_data=_cb(draft, DraftAction.CONFIRM)
    )
    _cancel_row(builder, draft)
    builder.adjust(1)
    summary = _(MODE_LABELS[draft.mode])
    if draft.prompt:
        summary += "\n<i>" + html.quote(_short(draft.prompt)) + "</i>"
    text = _("{summary}\n\nPrice: {price} cr. Your balance: {balance} cr.").format(
        summary=summary, price=cost, balance=balance
    )
    return text, builder.as_markup()


def _ready_and_free(draft: Draft, offer: Offer) -> bool:
    if draft.next_step() != Step.CONFIRM or draft.mode is None or draft.tier is None:
        return False
    return offer.price(draft.mode, draft.tier) == 0


def _pick_single_tier(draft: Draft, offer: Offer) -> None:
    if draft.mode is not None and draft.tier is None:
        tiers = offer.tiers(draft.mode)
        if len(tiers) == 1:
            draft.tier = tiers[0]


# --- showing a draft: in place (callbacks) or as a new message -------------------------------


async def _show_new(
    bot: Bot, chat_id: int, draft: Draft, user: User, offer: Offer, previous: Draft | None
) -> TelegramMethod[Any] | None:
    """Send the draft as a new message (its id is kept, so a later draft can retire it)."""
    text, markup = render(draft, user, offer)
    sent = await bot.send_message(chat_id, text, reply_markup=markup)
    draft.message_id = sent.message_id
    save_draft(int(user.user_id), draft)
    return _retire(chat_id, previous, keep=sent.message_id)


def _retire(chat_id: int, previous: Draft | None, keep: int | None = None) -> TelegramMethod[Any] | None:
    """Take the buttons off the message of a draft that is replaced (webhook reply, no wait)."""
    if previous is None or previous.message_id is None or previous.message_id == keep:
        return None
    return EditMessageReplyMarkup(chat_id=chat_id, message_id=previous.message_id, reply_markup=None)


def _edit(query: CallbackQuery, draft: Draft, user: User, offer: Offer) -> EditMessageText:
    assert query.message is not None
    draft.message_id = query.message.message_id
    save_draft(int(user.user_id), draft)
    text, markup = render(draft, user, offer)
    return EditMessageText(
        chat_id=query.message.chat.id, message_id=query.message.message_id, text=text, reply_markup=markup
    )


def _current(query: CallbackQuery, data: DraftCb, user: User | None) -> Draft | None:
    """The user's draft if this button belongs to it."""
    draft = draft_of(user)
    if user is None or draft is None or draft.id != data.draft or query.message is None:
        return None
    return draft


# --- entry points ----------------------------------------------------------------------------


@router.message(Command("generate"))
@router.message(F.text.in_(variants(BTN_GENERATE)))
async def menu(message: Message, db_user: User | None, settings: Settings, bot: Bot) -> Any:
    """Start a new draft: show the modes that can be made now."""
    if db_user is None:
        return message.answer(_("Send /start first: it sets up your account."))
    return await _show_new(bot, message.chat.id, Draft(), db_user, Offer(settings), draft_of(db_user))


@router.callback_query(DraftCb.filter(F.action == DraftAction.MODE))
async def chose_mode(
    query: CallbackQuery, callback_data: DraftCb, db_user: User | None, settings: Settings
) -> Any:
    """A mode: then the tier (when there is a choice), then what the mode needs."""
    draft = _current(query, callback_data, db_user)
    offer = Offer(settings)
    mode = callback_data.mode
    if draft is None or db_user is None or mode is None or mode not in offer.modes():
        return _stale(query)
    if draft.mode is not None:
        return _stale(query)
    draft.mode = mode
    if mode in NEEDS_PHOTO and draft.caption and mode != Mode.DESCRIBE:
        draft.prompt = draft.caption
    if mode not in NEEDS_PHOTO:
        draft.file_id = None
    draft.caption = None
    _pick_single_tier(draft, offer)
    return await _advance(query, draft, db_user, settings, offer)


@router.callback_query(DraftCb.filter(F.action == DraftAction.TIER))
async def chose_tier(
    query: CallbackQuery, callback_data: DraftCb, db_user: User | None, settings: Settings
) -> Any:
    """A tier: the price is known from here on."""
    draft = _current(query, callback_data, db_user)
    offer = Offer(settings)
    tier = callback_data.tier
    if (
        draft is None
        or db_user is None
        or draft.next_step() != Step.TIER
        or tier not in offer.tiers(draft.mode)
    ):
        return _stale(query)
    assert draft.mode is not None and tier is not None
    cost = offer.price(draft.mode, tier) or 0
    if cost > int(db_user.balance):
        return query.answer(
            _("Not enough credits: this costs {price}, you have {balance}.").format(
                price=credits(cost), balance=credits(int(db_user.balance))
            ),
            show_alert=True,
        )
    draft.tier = tier
    return await _advance(query, draft, db_user, settings, offer)


@router.callback_query(DraftCb.filter(F.action == DraftAction.SKIP))
async def skip_prompt(
    query: CallbackQuery, callback_data: DraftCb, db_user: User | None, settings: Settings
) -> Any:
    """Video without a motion prompt."""
    draft = _current(query, callback_data, db_user)
    if draft is None or db_user is None or draft.mode != Mode.VIDEO or draft.next_step() != Step.PROMPT:
        return _stale(query)
    draft.prompt = ""
    return await _advance(query, draft, db_user, settings, Offer(settings))


@router.callback_query(DraftCb.filter(F.action == DraftAction.CANCEL))
async def cancel(query: CallbackQuery, callback_data: DraftCb, db_user: User | None) -> Any:
    """Drop this draft (a button of another draft changes nothing)."""
    draft = _current(query, callback_data, db_user)
    if draft is None or db_user is None or query.message is None:
        return _stale(query)
    clear_draft(int(db_user.user_id))
    await query.answer()
    return EditMessageText(
        chat_id=query.message.chat.id, message_id=query.message.message_id, text=_("Cancelled.")
    )


async def _advance(query: CallbackQuery, draft: Draft, user: User, settings: Settings, offer: Offer) -> Any:
    """Show the next step in place, or run a free action at once."""
    if _ready_and_free(draft, offer):
        assert query.message is not None
        draft.message_id = query.message.message_id
        return await _start_job(query, draft, user, settings, offer, f"c{query.id}")
    await query.answer()  # the client shows a progress bar on the button until it is answered
    return _edit(query, draft, user, offer)


# --- inputs: prompt text, photos -----------------------------------------------------------


def awaiting_prompt(message: Message, db_user: User | None) -> bool:
    draft = draft_of(db_user)
    return draft is not None and draft.next_step() == Step.PROMPT


@router.message(F.text, awaiting_prompt)
async def got_prompt(message: Message, db_user: User, settings: Settings, bot: Bot) -> Any:
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
    draft = draft_of(db_user)
    assert draft is not None
    previous = draft.model_copy()
    draft.prompt = prompt
    return await _show_new(bot, message.chat.id, draft, db_user, Offer(settings), previous)


@router.message(F.photo | F.document)
async def got_photo(message: Message, db_user: User | None, settings: Settings, bot: Bot) -> Any:
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
    describe = caption.lower() in DESCRIBE_WORDS
    if caption and not describe:
        try:
            await check_prompt(settings, caption)
        except RefusedError:
            return message.answer(
                _("🚫 I can't make this: the description breaks the content rules. Try another one.")
            )
    offer = Offer(settings)
    previous = draft_of(db_user)
    if previous is not None and previous.next_step() == Step.PHOTO:
        draft = previous.model_copy()  # the photo this draft was waiting for
        if caption and draft.mode != Mode.DESCRIBE:
            draft.prompt = caption
    else:
        draft = Draft(caption=caption or None)
        if describe and Mode.DESCRIBE in offer.modes():
            draft.mode, draft.caption = Mode.DESCRIBE, None
            _pick_single_tier(draft, offer)
    draft.file_id = file_id
    if _ready_and_free(draft, offer):
        job_id = f"m{message.chat.id}_{message.message_id}"
        await _start_job(message, draft, db_user, settings, offer, job_id, stored=False)
        return _retire(message.chat.id, previous)
    return await _show_new(bot, message.chat.id, draft, db_user, offer, previous)


# --- starting a job: debit + queue -----------------------------------------------------------


@router.callback_query(DraftCb.filter(F.action == DraftAction.CONFIRM))
async def confirm(
    query: CallbackQuery, callback_data: DraftCb, db_user: User | None, settings: Settings
) -> Any:
    """Debit and queue, once per draft (its id) and once per update (the job id)."""
    draft = _current(query, callback_data, db_user)
    if draft is None or db_user is None or draft.next_step() != Step.CONFIRM:
        return query.answer(_("This request was already started or replaced."), show_alert=True)
    return await _start_job(query, draft, db_user, settings, Offer(settings), f"c{query.id}")


async def _start_job(
    origin: CallbackQuery | Message,
    draft: Draft,
    user: User,
    settings: Settings,
    offer: Offer,
    job_id: str,
    *,
    stored: bool = True,
    status_id: int | None = None,
) -> Any:
    """Create the job (debit, queue); a status message follows it.

    ``stored``: the draft is the user's stored one, whose id the debit consumes (a double tap
    can't start twice); a free action that never was stored just replaces whatever was.
    The status message is the draft's own message for a button press in it, else a new one.
    """
    assert draft.mode is not None and draft.tier is not None
    cost = offer.price(draft.mode, draft.tier)
    if cost is None:
        return await _refuse_now(origin, _("This option is unavailable right now. Please use the menu."))
    queued = _("⏳ In the queue…")
    if draft.prompt:
        queued += "\n<i>" + html.quote(_short(draft.prompt)) + "</i>"
    message = origin.message if isinstance(origin, CallbackQuery) else origin
    assert message is not None
    separate_status = status_id is not None or not isinstance(origin, CallbackQuery)
    fresh_status = status_id is None and not isinstance(origin, CallbackQuery)
    if fresh_status:
        status_id = (await message.answer(queued)).message_id
    elif status_id is None:
        status_id = message.message_id

    async def _refuse(text: str) -> Any:
        if separate_status:  # the status message we showed must not keep saying "in the queue"
            with contextlib.suppress(TelegramAPIError):
                await message.bot.edit_message_text(text, chat_id=message.chat.id, message_id=status_id)  # type: ignore[union-attr]
            return None
        return (
            origin.answer(text, show_alert=True) if isinstance(origin, CallbackQuery) else origin.answer(text)
        )

    new = service.NewJob(
        job_id=job_id,
        user_id=int(user.user_id),
        chat_id=message.chat.id,
        mode=draft.mode,
        tier=draft.tier,
        prompt=draft.prompt or "",
        price=cost,
        language=str(user.language),
        input_file_id=draft.file_id if draft.mode in NEEDS_PHOTO else None,
        status_message_id=status_id,
        variant=draft.variant,
    )
    try:
        job = service.create(settings, new, draft_id=draft.id if stored else None, user=user)
    except InsufficientFundsError:
        return await _refuse(
            _("Not enough credits: this costs {price}, you have {balance}.").format(
                price=credits(cost), balance=credits(int(user.balance))
            )
            + " "
            + _("Top up in 🛒 Buy credits or get a bonus in 🎁 Bonuses."),
        )
    except service.TooManyJobsError:
        return await _refuse(
            ngettext(
                "You already have {n} generation in progress. Please wait for it to finish.",
                "You already have {n} generations in progress. Please wait for one to finish.",
                settings.max_user_queue,
            ).format(n=settings.max_user_queue),
        )
    except service.StaleDraftError:
        return await _refuse(_("This request was already started or replaced."))
    if job is None or fresh_status:
        return None
    if isinstance(origin, CallbackQuery):
        with contextlib.suppress(TelegramAPIError):  # cosmetic: the job is queued either way
            await origin.answer(_("Started!"))
    return EditMessageText(chat_id=message.chat.id, message_id=status_id, text=queued)


async def _refuse_now(origin: CallbackQuery | Message, text: str) -> Any:
    if isinstance(origin, CallbackQuery):
        return origin.answer(text, show_alert=True)
    return origin.answer(text)


# --- result buttons: one handler per action ----------------------------------------------------


def _own_job(query: CallbackQuery, data: ResultCb, user: User | None) -> Job | None:
    job = service.get(data.job)
    if user is None or job is None or int(job.user_id) != int(user.user_id) or query.message is None:
        return None
    return job


async def _offer_draft(query: CallbackQuery, draft: Draft, user: User, settings: Settings, bot: Bot) -> Any:
    """A new draft from a result: shown as a new message under the result."""
    assert query.message is not None
    offer = Offer(settings)
    with contextlib.suppress(TelegramAPIError):
        await query.answer()
    previous = draft_of(user)
    if _ready_and_free(draft, offer):
        sent = await bot.send_message(query.message.chat.id, _("⏳ In the queue…"))
        await _start_job(
            query, draft, user, settings, offer, f"c{query.id}", stored=False, status_id=sent.message_id
        )
        return _retire(query.message.chat.id, previous)
    return await _show_new(bot, query.message.chat.id, draft, user, offer, previous)


def _repeat(job: Job, *, fresh: bool) -> Draft:
    """The job's request again: same mode, tier, input and prompt (``fresh``: a new composition)."""
    return Draft(
        mode=Mode(job.mode),
        tier=Tier(job.tier),
        file_id=job.input_file_id,
        prompt=job.prompt,
        variant=int(job.variant or 0) + (1 if fresh else 0),
    )


async def again_from_link(message: Message, job_id: str, user: User, settings: Settings, bot: Bot) -> Any:
    """``/start again_<job>`` (the cabinet's "generate again"): the user's own job's request as a
    new draft to confirm (never started unasked: it costs credits)."""
    job = service.get(job_id) if job_id else None
    if job is None or int(job.user_id) != int(user.user_id) or job.mode not in MODES:
        return message.answer(
            _("That generation can't be repeated from here. Press «🎨 Generate» to start a new one.")
        )
    return await _show_new(
        bot, message.chat.id, _repeat(job, fresh=False), user, Offer(settings), draft_of(user)
    )


@router.callback_query(ResultCb.filter(F.action == ResultAction.AGAIN))
async def again(
    query: CallbackQuery, callback_data: ResultCb, db_user: User | None, settings: Settings, bot: Bot
) -> Any:
    """The same request once more, for confirmation."""
    job = _own_job(query, callback_data, db_user)
    if job is None or db_user is None:
        return _stale(query)
    return await _offer_draft(query, _repeat(job, fresh=False), db_user, settings, bot)


@router.callback_query(ResultCb.filter(F.action == ResultAction.VARY))
async def vary(
    query: CallbackQuery, callback_data: ResultCb, db_user: User | None, settings: Settings, bot: Bot
) -> Any:
    """The same mode, tier, prompt and price, asking for a fresh composition."""
    job = _own_job(query, callback_data, db_user)
    if job is None or db_user is None or job.mode not in (Mode.IMAGE, Mode.EDIT):
        return _stale(query)
    return await _offer_draft(query, _repeat(job, fresh=True), db_user, settings, bot)


@router.callback_query(ResultCb.filter(F.action == ResultAction.ANIMATE))
async def animate(
    query: CallbackQuery, callback_data: ResultCb, db_user: User | None, settings: Settings, bot: Bot
) -> Any:
    """The result picture becomes the photo of a video draft."""
    job = _own_job(query, callback_data, db_user)
    if job is None or db_user is None or not job.result_file_id:
        return _stale(query)
    draft = Draft(mode=Mode.VIDEO, file_id=job.result_file_id)
    _pick_single_tier(draft, Offer(settings))
    return await _offer_draft(query, draft, db_user, settings, bot)


@router.callback_query(ResultCb.filter(F.action == ResultAction.USE))
async def use_prompt(
    query: CallbackQuery, callback_data: ResultCb, db_user: User | None, settings: Settings, bot: Bot
) -> Any:
    """A picture from the prompt the bot wrote for a photo."""
    job = _own_job(query, callback_data, db_user)
    if job is None or db_user is None or not job.result_text:
        return _stale(query)
    draft = Draft(mode=Mode.IMAGE, prompt=job.result_text[: settings.max_prompt_chars])
    _pick_single_tier(draft, Offer(settings))
    return await _offer_draft(query, draft, db_user, settings, bot)


@router.callback_query(ResultCb.filter(F.action == ResultAction.ORIGINAL))
async def original(query: CallbackQuery, callback_data: ResultCb, db_user: User | None) -> Any:
    """The stored result as a file (sent by the generate Lambda)."""
    job = _own_job(query, callback_data, db_user)
    if job is None or db_user is None:
        return _stale(query)
    if not service.claim_original(job):  # one request per job in flight, however many presses
        return query.answer(_("The original file is on its way."))
    queue.send(JobMessage(job_id=job.job_id, action=JobStep.ORIGINAL, user_id=int(db_user.user_id)))
    return query.answer(_("Sending the original file…"))
