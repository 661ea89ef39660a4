"""Telling the user about a job: status edits, the result with its buttons, failure notices."""

from __future__ import annotations

import contextlib
import time

from aiogram import Bot, html
from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import SendDocument, SendMessage, SendPhoto, SendVideo, TelegramMethod
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from genbot.i18n import N_, translate, translate_plural
from genbot.jobs import media
from genbot.jobs.media import EXTENSIONS
from genbot.jobs.media_check import Form
from genbot.observability import logger
from genbot.store.models import Job
from genbot.telegram.callbacks import ResultAction, ResultCb
from genbot.telegram.sending import Disposition, SendFailure, send
from genbot.users import set_blocked
from genbot.vocab import Funding, Mode

CAPTION_LIMIT = 1024

FAILURE_TEXTS = {
    "refused": N_("🚫 The AI declined this request under its safety rules."),
    "invalid_input": N_("⚠️ The AI couldn't use this input (unsupported or damaged image)."),
    "unavailable": N_("😔 The AI services are unavailable right now. Please try again later."),
    "timeout": N_("⌛ The video took too long to make. Please try again later."),
    "queue_unavailable": N_("😔 Something went wrong on our side. Please try again."),
    "bad_output": N_("⚠️ The AI returned something I can't show you. Please try again."),
    "undeliverable": N_("⚠️ Telegram wouldn't take this result in any form."),
}
ORIGINAL_EXPIRED = N_(
    "📎 The original file of this result is no longer stored (results are kept for 90 days)."
)
TRIAL_BACK = N_("The message is back in your trial.")
ALLOWANCE_BACK = N_("It didn't count against today's allowance.")
ORIGINAL_REFUSED = N_("📎 Telegram wouldn't take the original file. Please try again later.")
LINK_SECONDS = 6 * 3600
RUNNING = N_("🎨 Working on it…")
ANIMATING = N_("🎬 Animating… this usually takes a minute or two.")
ANIMATING_FOR = N_("🎬 Still animating: {elapsed} so far. It usually takes a minute or two.")
ACTIONS = {
    Mode.IMAGE: ChatAction.UPLOAD_PHOTO,
    Mode.EDIT: ChatAction.UPLOAD_PHOTO,
    Mode.VIDEO: ChatAction.RECORD_VIDEO,
}


def caption_for(job: Job) -> str:
    """The prompt as caption, trimmed to Telegram's 1024 characters (counted after parsing)."""
    prompt = job.prompt or ""
    if len(prompt) > CAPTION_LIMIT - 4:
        prompt = prompt[: CAPTION_LIMIT - 5] + "…"
    return html.quote(prompt)


def result_keyboard(job: Job) -> InlineKeyboardMarkup:
    lang = str(job.language)
    builder = InlineKeyboardBuilder()

    def add(label: str, action: ResultAction) -> None:
        builder.button(text=translate(label, lang), callback_data=ResultCb(action=action, job=job.job_id))

    add(N_("🔁 Again"), ResultAction.AGAIN)
    if job.mode in (Mode.IMAGE, Mode.EDIT):
        add(N_("🎲 Variation"), ResultAction.VARY)
        add(N_("🎬 Animate this"), ResultAction.ANIMATE)
    add(N_("📎 Original file"), ResultAction.ORIGINAL)
    builder.adjust(2)
    return builder.as_markup()


def elapsed_text(seconds: int, lang: str) -> str:
    minutes, secs = divmod(max(0, seconds), 60)
    if minutes:
        return translate("{m} min {s} s", lang, m=minutes, s=secs)
    return translate("{s} s", lang, s=secs)


def status_text(job: Job, now_ms: int | None = None) -> str:
    """What the job is doing, as the status message says it (videos: how long so far)."""
    lang = str(job.language)
    if job.mode != Mode.VIDEO:
        return translate(RUNNING, lang)
    if not job.operation:
        return translate(ANIMATING, lang)
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    elapsed = (now - int(job.created_at)) // 1000
    return translate(ANIMATING_FOR, lang, elapsed=elapsed_text(elapsed, lang))


async def status(bot: Bot, job: Job) -> None:
    """Edit the job's status message and show a chat action; cosmetic, so never fatal.

    Called when the job starts and on every poll of a long operation, so the user's view of a
    one-minute video stays true: the chat action (which lasts 5 s) is renewed and the message
    says how long it has been going.
    """
    try:
        if job.status_message_id:
            text = status_text(job)
            if job.prompt:
                text += "\n<i>" + html.quote(job.prompt[:300]) + "</i>"
            try:
                await bot.edit_message_text(
                    text=text, chat_id=int(job.chat_id), message_id=int(job.status_message_id)
                )
            except TelegramBadRequest as exc:  # e.g. "message is not modified": the action still goes
                logger.info("status edit skipped", extra={"job_id": job.job_id, "reason": exc.message})
        action = ACTIONS.get(Mode(job.mode))
        if action is not None:
            await bot.send_chat_action(int(job.chat_id), action)
    except TelegramForbiddenError:
        set_blocked(int(job.user_id), True)
    except TelegramBadRequest as exc:
        logger.info("chat action skipped", extra={"job_id": job.job_id, "reason": exc.message})


async def send_result(
    bot: Bot, job: Job, data: bytes, mime: str, text: str | None, form: Form | None
) -> Message | None:
    """The result with its buttons, in ``form`` (the described prompt: a message).

    Raises ``SendFailure`` (``genbot.telegram.sending``) saying what to do about a refusal.
    """
    chat = int(job.chat_id)
    if job.mode == Mode.DESCRIBE or form is None:
        return await _send_prompt(bot, job, text or "")
    file = BufferedInputFile(data, filename=f"{job.job_id}.{EXTENSIONS.get(mime, 'bin')}")
    caption, markup = caption_for(job), result_keyboard(job)
    method: TelegramMethod[Message]
    if form == Form.PHOTO:
        method = SendPhoto(chat_id=chat, photo=file, caption=caption, reply_markup=markup)
    elif form == Form.VIDEO:
        method = SendVideo(chat_id=chat, video=file, caption=caption, reply_markup=markup)
    elif form == Form.DOCUMENT:
        method = SendDocument(chat_id=chat, document=file, caption=caption, reply_markup=markup)
    else:
        url = media.presigned_url(str(job.result_key), LINK_SECONDS)
        link = translate(
            'Your result is too large to send here: <a href="{url}">download it</a> '
            "(the link works for {hours} h).",
            str(job.language),
            url=html.quote(url),
            hours=LINK_SECONDS // 3600,
        )
        method = SendMessage(
            chat_id=chat, text=f"{caption}\n\n{link}" if caption else link, reply_markup=markup
        )
    return await send(bot, method, job_id=job.job_id, form=str(form))


async def _send_prompt(bot: Bot, job: Job, prompt: str) -> Message:
    from aiogram.types import CopyTextButton, InlineKeyboardButton

    lang = str(job.language)
    body = translate(
        "🔎 Here is a prompt for your photo — tap to copy, edit it and send it back, or generate right away:",
        lang,
    )
    builder = InlineKeyboardBuilder()
    builder.button(
        text=translate("🖼 Generate from it", lang),
        callback_data=ResultCb(action=ResultAction.USE, job=job.job_id),
    )
    builder.row(
        InlineKeyboardButton(text=translate("📋 Copy", lang), copy_text=CopyTextButton(text=prompt[:256]))
    )
    method = SendMessage(
        chat_id=int(job.chat_id),
        text=f"{body}\n\n<code>{html.quote(prompt[:3500])}</code>",
        reply_markup=builder.as_markup(),
    )
    return await send(bot, method, job_id=job.job_id)


async def finish_status(bot: Bot, job: Job) -> None:
    """The status message has done its job: remove it (the result is the answer)."""
    if not job.status_message_id:
        return
    with contextlib.suppress(TelegramBadRequest, TelegramForbiddenError):
        await bot.delete_message(int(job.chat_id), int(job.status_message_id))


async def send_failure(bot: Bot, job: Job, reason: str) -> None:
    """Tell the user why, in their language, and that the credits are back."""
    key = reason.split(":")[0]
    lang = str(job.language)
    text = translate(FAILURE_TEXTS.get(key, FAILURE_TEXTS["unavailable"]), lang)
    if int(job.price):
        text += " " + translate_plural(
            "Your {n} credit is back on your balance.",
            "Your {n} credits are back on your balance.",
            int(job.price),
            lang,
        )
    elif job.funding == Funding.TRIAL:
        text += " " + translate(TRIAL_BACK, lang)
    elif job.funding == Funding.SUBSCRIPTION:
        text += " " + translate(ALLOWANCE_BACK, lang)
    try:
        if job.status_message_id:
            try:
                await bot.edit_message_text(
                    text=text, chat_id=int(job.chat_id), message_id=int(job.status_message_id)
                )
                return
            except TelegramBadRequest:
                pass
        await bot.send_message(int(job.chat_id), text)
    except TelegramForbiddenError:
        set_blocked(int(job.user_id), True)


async def send_original(bot: Bot, job: Job, data: bytes) -> None:
    """The stored result as a file (SendFailure when Telegram refuses)."""
    mime = str(job.result_mime or "application/octet-stream")
    file = BufferedInputFile(data, filename=f"{job.job_id}.{EXTENSIONS.get(mime, 'bin')}")
    await send(
        bot,
        SendDocument(chat_id=int(job.chat_id), document=file, caption=caption_for(job)),
        job_id=job.job_id,
    )


async def send_notice(bot: Bot, job: Job, msgid: str) -> None:
    """A short notice about a job, in the user's language; a failure here is only logged."""
    try:
        await send(bot, SendMessage(chat_id=int(job.chat_id), text=translate(msgid, str(job.language))))
    except SendFailure as failure:
        if failure.disposition == Disposition.CHAT_GONE:
            set_blocked(int(job.user_id), True)
