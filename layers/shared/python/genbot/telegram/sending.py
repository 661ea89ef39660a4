"""The one sending path: every Bot API error is classified here, once, into what to do about it.

- ``RETRY``: flood control (429 with ``retry_after``), Telegram's 5xx, the network: try later;
- ``CHAT_GONE``: the user blocked the bot (403) or the chat no longer exists: mark, stop;
- ``REJECTED``: Telegram refuses this content (400, e.g. ``PHOTO_INVALID_DIMENSIONS``,
  ``IMAGE_PROCESS_FAILED``, 413 too large): another form may pass, else give up;
- ``AUTH``: a revoked or wrong token (401/404): retry later and alarm; never a silent ack.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.exceptions import (
    AiogramError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods import TelegramMethod

from genbot.observability import logger, metrics

T = TypeVar("T")

CHAT_GONE_PHRASES = ("chat not found", "user is deactivated", "bot was blocked", "peer_id_invalid")
DEFAULT_RETRY_SECONDS = 10


class Disposition(StrEnum):
    RETRY = "retry"
    CHAT_GONE = "chat_gone"
    REJECTED = "rejected"
    AUTH = "auth"


@dataclass
class SendFailure(Exception):
    """A send that failed, with what to do about it."""

    disposition: Disposition
    description: str
    retry_after: int = DEFAULT_RETRY_SECONDS

    def __str__(self) -> str:
        return f"{self.disposition}: {self.description}"

    @property
    def retryable(self) -> bool:
        return self.disposition in (Disposition.RETRY, Disposition.AUTH)


def classify(exc: BaseException) -> SendFailure:
    """What a Bot API failure means for us."""
    text = str(getattr(exc, "message", "") or exc)[:300]
    if isinstance(exc, TelegramRetryAfter):
        return SendFailure(Disposition.RETRY, text, max(1, int(exc.retry_after)))
    if isinstance(exc, TelegramEntityTooLarge):  # a subclass of the network error: check first
        return SendFailure(Disposition.REJECTED, text or "request entity too large")
    if isinstance(exc, TelegramForbiddenError):
        return SendFailure(Disposition.CHAT_GONE, text)
    if isinstance(exc, (TelegramUnauthorizedError, TelegramNotFound)):
        return SendFailure(Disposition.AUTH, text, 60)
    if isinstance(exc, TelegramBadRequest):
        lowered = text.lower()
        if any(phrase in lowered for phrase in CHAT_GONE_PHRASES):
            return SendFailure(Disposition.CHAT_GONE, text)
        return SendFailure(Disposition.REJECTED, text)
    # 5xx, network, conflicts, undecodable answers, timeouts: transient
    return SendFailure(Disposition.RETRY, text or type(exc).__name__)


async def send(bot: Bot, method: TelegramMethod[T], **log: Any) -> T:
    """Call ``method``; a failure comes out as ``SendFailure`` (logged and counted once)."""
    try:
        return await bot(method)
    except (TimeoutError, TelegramAPIError, AiogramError, OSError) as exc:
        failure = classify(exc)
        level = (
            logger.error
            if failure.disposition in (Disposition.AUTH, Disposition.REJECTED)
            else logger.warning
        )
        level(
            "telegram send failed",
            extra={"method": method.__api_method__, "disposition": str(failure), **log},
        )
        metrics.add_metric(
            name=f"TelegramSend{failure.disposition.title().replace('_', '')}", unit="Count", value=1
        )
        raise failure from exc
