"""Telling the user about a job: status edits, the result with its buttons, failure notices."""

from __future__ import annotations

import contextlib

from aiogram import Bot, html
from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from genbot.i18n import N_, translate
from genbot.jobs.media import EXTENSIONS
from genbot.observability import logger
from genbot.store.models import Job
from genbot.users import set_blocked

CAPTION_LIMIT = 1024

FAILURE_TEXTS = {
    "refused": N_(
        "🚫 The AI declined this request under its safety rules. Your {price} cr. are back on your balance."
    ),
    "invalid_input": N_(
        "⚠️ The AI couldn't use this input (unsupported or damaged image). Your {price} cr. are back."
    ),
    "unavailable": N_(
        "😔 The AI services are unavailable right now. Your {price} cr. are back — please try again later."
    ),
    "timeout": N_("⌛ The video took too long to make. Your {price} cr. are back — please try again later."),
    "queue_unavailable": N_(
        "😔 Something went wrong on our side. Your {price} cr. are back — please try again."
    ),
}
STATUS_TEXTS = {
    "running": N_("🎨 Working on it…"),
    "video": N_("🎬 Animating… this usually takes a minute or two."),
}
ACTIONS = {
    "image": ChatAction.UPLOAD_PHOTO,
    "edit": ChatAction.UPLOAD_PHOTO,
    "video": ChatAction.RECORD_VIDEO,
}


def caption_for(job: Job) -> str:
    """The prompt as caption, trimmed to Telegram's 1024 characters (counted after parsing)."""
    prompt = job.prompt or ""
    if len(prompt) > CAPTION_LIMIT - 4:
        prompt = prompt[: CAPTION_LIMIT - 5] + "…"
    return html.quote(prompt)


def result_keyboard(job: Job) -> InlineKeyboardMarkup:
    from genbot.bot.generate import ResultCb

    lang = str(job.language)
    builder = InlineKeyboardBuilder()
    builder.button(text=translate("🔁 Again", lang), callback_data=ResultCb(action="again", job=job.job_id))
    if job.mode in ("image", "edit"):
        builder.button(
            text=translate("🎲 Variation", lang), callback_data=ResultCb(action="vary", job=job.job_id)
        )
        builder.button(
            text=translate("🎬 Animate this", lang), callback_data=ResultCb(action="animate", job=job.job_id)
        )
    builder.button(
        text=translate("📎 Original file", lang), callback_data=ResultCb(action="original", job=job.job_id)
    )
    builder.adjust(2)
    return builder.as_markup()


async def status(bot: Bot, job: Job, key: str) -> None:
    """Edit the job's status message and show a chat action; cosmetic, so never fatal."""
    try:
        if job.status_message_id:
            text = translate(STATUS_TEXTS[key], str(job.language))
            if job.prompt:
                text += "\n<i>" + html.quote(job.prompt[:300]) + "</i>"
            await bot.edit_message_text(
                text=text, chat_id=int(job.chat_id), message_id=int(job.status_message_id)
            )
        if job.mode in ACTIONS:
            await bot.send_chat_action(int(job.chat_id), ACTIONS[job.mode])
    except TelegramForbiddenError:
        set_blocked(int(job.user_id), True)
    except TelegramBadRequest as exc:
        logger.info("status edit skipped", extra={"job_id": job.job_id, "reason": exc.message})


async def send_result(bot: Bot, job: Job, data: bytes, mime: str, text: str | None) -> Message:
    """The photo/video (or the described prompt) with its buttons."""
    chat = int(job.chat_id)
    if job.mode == "describe":
        return await _send_prompt(bot, job, text or "")
    file = BufferedInputFile(data, filename=f"{job.job_id}.{EXTENSIONS.get(mime, 'bin')}")
    if mime.startswith("video/"):
        return await bot.send_video(chat, file, caption=caption_for(job), reply_markup=result_keyboard(job))
    return await bot.send_photo(chat, file, caption=caption_for(job), reply_markup=result_keyboard(job))


async def _send_prompt(bot: Bot, job: Job, prompt: str) -> Message:
    from aiogram.types import CopyTextButton, InlineKeyboardButton

    from genbot.bot.generate import ResultCb

    lang = str(job.language)
    body = translate(
        "🔎 Here is a prompt for your photo — tap to copy, edit it and send it back, or generate right away:",
        lang,
    )
    builder = InlineKeyboardBuilder()
    builder.button(
        text=translate("🖼 Generate from it", lang), callback_data=ResultCb(action="use", job=job.job_id)
    )
    builder.row(
        InlineKeyboardButton(text=translate("📋 Copy", lang), copy_text=CopyTextButton(text=prompt[:256]))
    )
    return await bot.send_message(
        int(job.chat_id),
        f"{body}\n\n<code>{html.quote(prompt[:3500])}</code>",
        reply_markup=builder.as_markup(),
    )


async def finish_status(bot: Bot, job: Job) -> None:
    """The status message has done its job: remove it (the result is the answer)."""
    if not job.status_message_id:
        return
    with contextlib.suppress(TelegramBadRequest, TelegramForbiddenError):
        await bot.delete_message(int(job.chat_id), int(job.status_message_id))


async def send_failure(bot: Bot, job: Job, reason: str) -> None:
    """Tell the user why, in their language, and that the credits are back."""
    key = reason.split(":")[0]
    text = translate(
        FAILURE_TEXTS.get(key, FAILURE_TEXTS["unavailable"]), str(job.language), price=int(job.price)
    )
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
    mime = str(job.result_mime or "application/octet-stream")
    file = BufferedInputFile(data, filename=f"{job.job_id}.{EXTENSIONS.get(mime, 'bin')}")
    await bot.send_document(int(job.chat_id), file, caption=caption_for(job))
