"""The Bot API calls the cabinet makes (through the process's Bot, ``genbot.runtime``), with
Telegram's failures turned into the cabinet's errors."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramRetryAfter
from aiogram.types import LabeledPrice

from genbot import runtime
from genbot.cabinet.errors import RateLimitedError, UnavailableError
from genbot.observability import logger

T = TypeVar("T")


def _call(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return runtime.run(coro)
    except TelegramRetryAfter as exc:
        raise RateLimitedError(retry_after=exc.retry_after) from exc
    except TelegramNetworkError as exc:
        logger.warning("Telegram didn't answer", extra={"error": str(exc)})
        raise UnavailableError() from exc
    except TelegramAPIError as exc:
        logger.error("Telegram refused a call", extra={"error": str(exc)})
        raise UnavailableError() from exc


def username() -> str:
    """The bot's @username (``getMe`` once per process: aiogram keeps the answer)."""
    me = _call(runtime.bot().me())
    return me.username or ""


def invoice_link(
    *, title: str, description: str, payload: str, currency: str, label: str, amount: int
) -> str:
    """``createInvoiceLink`` for one price (Stars: ``XTR``, no provider token)."""
    return _call(
        runtime.bot().create_invoice_link(
            title=title,
            description=description,
            payload=payload,
            currency=currency,
            prices=[LabeledPrice(label=label, amount=amount)],
            provider_token="",
        )
    )
