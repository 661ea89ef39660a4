"""Answering an assistant message: the ``generate`` function's ``chat`` jobs.

The question (transcribed first if it was a voice message, with the user's photo for a vision
model) goes to the model with as much of the conversation as fits the budget; the answer is
shown as it grows (``sendMessageDraft`` in private chats; elsewhere, or where drafts are
refused, one message edited), at most once a second so Telegram's flood limits are never hit,
then sent as normal messages: Markdown made Telegram-safe HTML, split at 4096 characters, a
piece Telegram still refuses sent as plain text. The exchange is kept in the conversation and
what it cost is recorded on the job for the operator.
"""

from __future__ import annotations

import base64
import html
import time
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.methods import EditMessageText, SendMessage, SendMessageDraft
from aiogram.types import InlineKeyboardMarkup

from genbot import runtime
from genbot.chat import context, llm
from genbot.chat.format import plain, preview, split
from genbot.chat.texts import controls, trial_footer
from genbot.config import Settings
from genbot.i18n import N_, translate
from genbot.jobs import service
from genbot.jobs.inputs import download
from genbot.observability import logger, metrics
from genbot.providers.base import InvalidInputError, sniff_mime
from genbot.providers.keypool import KeyPool
from genbot.store.models import Job
from genbot.telegram.sending import Disposition, SendFailure, send
from genbot.vocab import Funding

TEXT_LIMIT = 4096
DRAFT_INTERVAL_S = 1.0  # a growing answer is shown at most once a second (Telegram: ~1/s a chat)
EDIT_INTERVAL_S = 1.5  # edits count against the same limit; a little slower
LANGUAGE_NAMES = {"ru": "Russian", "en": "English"}
TRANSCRIPT = N_("🎙 {text}")


@dataclass
class Shower:
    """Shows an answer as it grows: a draft where Telegram offers them, else one edited message."""

    bot: Bot
    chat_id: int
    draft_id: int
    drafts: bool
    message_id: int | None = None
    last_text: str = ""
    last_at: float = 0.0
    blocked_until: float = 0.0
    first_shown_at: float | None = None
    shown: int = 0  # pieces Telegram took (drafts or edits)

    async def update(self, markdown: str) -> None:
        now = time.monotonic()
        interval = DRAFT_INTERVAL_S if self.drafts else EDIT_INTERVAL_S
        if now < self.blocked_until or (self.last_at and now - self.last_at < interval):
            return
        text = preview(markdown)
        if not text.strip() or text == self.last_text:
            return
        self.last_at = now
        try:
            if self.drafts:
                await send(
                    self.bot,
                    SendMessageDraft(
                        chat_id=self.chat_id, draft_id=self.draft_id, text=text, parse_mode=ParseMode.HTML
                    ),
                )
            elif self.message_id is None:
                sent = await send(
                    self.bot, SendMessage(chat_id=self.chat_id, text=text, parse_mode=ParseMode.HTML)
                )
                self.message_id = sent.message_id
            else:
                await send(
                    self.bot,
                    EditMessageText(
                        chat_id=self.chat_id, message_id=self.message_id, text=text, parse_mode=ParseMode.HTML
                    ),
                )
        except SendFailure as failure:
            if failure.disposition == Disposition.RETRY:
                self.blocked_until = now + failure.retry_after  # flood control: wait it out
                return
            if failure.disposition == Disposition.REJECTED:
                if self.drafts:
                    self.drafts = False  # drafts refused here: an edited message instead
                return  # a preview that didn't parse: the next one, or the final pieces, will
            raise
        self.last_text = text
        self.shown += 1
        if self.first_shown_at is None:
            self.first_shown_at = time.monotonic()  # Telegram has taken it: the user sees it


async def send_pieces(
    bot: Bot,
    chat_id: int,
    markdown: str,
    edit_message_id: int | None = None,
    *,
    footer: str = "",
    markup: InlineKeyboardMarkup | None = None,
) -> int:
    """The final answer as normal messages (the first replaces the edited preview, if there
    is one); ``footer`` (plain text) and ``markup`` go with the last. Returns the pieces sent."""
    pieces = split(markdown)
    if footer:
        tail = f"{pieces[-1]}\n\n{html.escape(footer)}" if pieces else html.escape(footer)
        if pieces and len(plain(tail)) <= TEXT_LIMIT:
            pieces[-1] = tail
        else:
            pieces.append(html.escape(footer))
    for n, piece in enumerate(pieces):
        reply_markup = markup if n == len(pieces) - 1 else None
        if n == 0 and edit_message_id is not None:
            await _edit_or_send(bot, chat_id, edit_message_id, piece, reply_markup)
            continue
        try:
            await send(
                bot,
                SendMessage(
                    chat_id=chat_id, text=piece, parse_mode=ParseMode.HTML, reply_markup=reply_markup
                ),
            )
        except SendFailure as failure:
            if failure.disposition != Disposition.REJECTED:
                raise
            logger.warning(
                "an answer piece refused as HTML: sent as plain text", extra={"error": str(failure)}
            )
            metrics.add_metric(name="ChatPlainFallback", unit="Count", value=1)
            await send(bot, SendMessage(chat_id=chat_id, text=plain(piece), reply_markup=reply_markup))
    return len(pieces)


async def _edit_or_send(
    bot: Bot, chat_id: int, message_id: int, piece: str, markup: InlineKeyboardMarkup | None
) -> None:
    """The edited preview becomes the answer's first piece (plain text if Telegram refuses it)."""
    try:
        await send(
            bot,
            EditMessageText(
                chat_id=chat_id,
                message_id=message_id,
                text=piece,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
            ),
        )
    except SendFailure as failure:
        if failure.disposition != Disposition.REJECTED:
            raise
        if "not modified" in failure.description:
            return  # the preview was the final text already
        await send(
            bot,
            EditMessageText(chat_id=chat_id, message_id=message_id, text=plain(piece), reply_markup=markup),
        )


def _system(settings: Settings, language: str | None) -> str:
    prompt = settings.chat_system_prompt
    if language in LANGUAGE_NAMES:
        return f"{prompt}\nAlways answer in {LANGUAGE_NAMES[language]}."
    return f"{prompt}\nAnswer in the language of the user's last message."


def build_messages(
    settings: Settings, system: str, history: list[context.Turn], question: Any
) -> tuple[list[dict[str, Any]], int]:
    """System prompt, the history that fits the budget, the question; and how many history
    turns went in."""
    question_text = question if isinstance(question, str) else ""
    used = context.estimate_tokens(system) + context.estimate_tokens(question_text)
    kept = context.trim(history, max(0, settings.chat_context_tokens - used))
    messages = [
        {"role": "system", "content": system},
        *({"role": t.role, "content": t.text} for t in kept),
        {"role": "user", "content": question},
    ]
    return messages, len(kept)


async def answer(
    settings: Settings,
    job: Job,
    owner: str,
    user_language: str | None,
    pool: KeyPool,
    trial_left: int | None = None,
) -> None:
    """Answer one chat job (leased by ``owner``); raises the provider's errors for the worker."""
    started = time.monotonic()
    bot = runtime.bot()
    user_id, chat_id, conv = int(job.user_id), int(job.chat_id), str(job.conv_id)
    asked_ms = int(job.created_at)
    question = context.question(user_id, conv, asked_ms, job.job_id)
    if question is None:
        raise InvalidInputError("the question expired before it was answered")
    content: Any = question.text
    if job.input_kind == "voice" and not question.text:
        if not job.input_file_id:
            raise InvalidInputError("a voice question without its file")
        audio = await download(settings, str(job.input_file_id))
        transcript = await llm.transcribe(settings, pool, audio)
        context.set_question_text(question, transcript)
        content = transcript
        await send(
            bot, SendMessage(chat_id=chat_id, text=translate(TRANSCRIPT, str(job.language), text=transcript))
        )
    model = settings.chat_model
    if job.input_kind == "photo" and job.input_file_id:
        image = await download(settings, str(job.input_file_id))
        mime = sniff_mime(image)
        if mime is None or not mime.startswith("image/"):
            raise InvalidInputError("the photo is not an image")
        url = f"data:{mime};base64,{base64.b64encode(image).decode()}"
        content = [
            {"type": "text", "text": question.text or "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": url}},
        ]
        model = settings.chat_vision_model
    turns = [
        context.Turn(m.role, m.text, int(m.tokens or 0))
        for m in context.history(user_id, conv, context.key(conv, asked_ms, job.job_id, context.QUESTION))
    ]
    system = _system(settings, user_language)
    shower = Shower(
        bot,
        chat_id,
        draft_id=_draft_id(job.job_id),
        drafts=_private(chat_id),
    )
    completion: llm.Completion | None = None
    for attempt in range(3):  # the provider counted more than we did: half the history, then none
        messages, kept = build_messages(settings, system, turns, content)
        try:
            completion = await llm.complete(settings, pool, messages, model, shower.update)
            break
        except llm.ContextTooLongError:
            logger.warning("context too long for the model: trimming", extra={"turns": kept})
            metrics.add_metric(name="ChatContextTrimmed", unit="Count", value=1)
            turns = turns[len(turns) - kept // 2 :] if attempt == 0 and kept > 1 else []
    if completion is None:
        raise InvalidInputError("the question alone is longer than the model takes")
    footer = (
        trial_footer(trial_left, str(job.language))
        if job.funding == Funding.TRIAL and trial_left is not None
        else ""
    )
    pieces = await send_pieces(
        bot, chat_id, completion.text, shower.message_id, footer=footer, markup=controls(str(job.language))
    )
    context.save_reply(
        user_id,
        conv,
        asked_ms,
        job.job_id,
        completion.text,
        completion.tokens_out,
        settings.chat_context_hours,
    )
    first_piece_ms = None
    if completion.first_token_at is not None and shower.first_shown_at is not None:
        first_piece_ms = int((shower.first_shown_at - completion.first_token_at) * 1000)
    usage = service.ChatUsage(
        tokens_in=completion.tokens_in,
        tokens_out=completion.tokens_out,
        cost_micro_usd=round(
            completion.tokens_in * settings.chat_price_in + completion.tokens_out * settings.chat_price_out
        ),
        latency_ms=int((time.monotonic() - started) * 1000),
        first_piece_ms=first_piece_ms,
        model=completion.model,
    )
    service.answered(job, owner, usage)
    metrics.add_metric(name="ChatTokensIn", unit="Count", value=usage.tokens_in)
    metrics.add_metric(name="ChatTokensOut", unit="Count", value=usage.tokens_out)
    logger.info(
        "chat answered",
        extra={
            "user_id": user_id,
            "tokens_in": usage.tokens_in,
            "tokens_out": usage.tokens_out,
            "cost_micro_usd": usage.cost_micro_usd,
            "latency_ms": usage.latency_ms,
            "first_piece_ms": first_piece_ms,
            "model": usage.model,
            "pieces": pieces,
            "previews": shower.shown,
        },
    )


def _draft_id(job_id: str) -> int:
    """A stable non-zero draft id for the job (a retried job continues the same draft)."""
    return (int.from_bytes(job_id.encode()[-8:].rjust(8, b"\0"), "big") % (2**31 - 1)) + 1


def _private(chat_id: int) -> bool:
    """Private chats have the user's (positive) id; groups and channels are negative."""
    return chat_id > 0
