"""The assistant's OpenAI calls: a streamed chat completion and a voice transcription.

Keys come from the provider key pool (quotas and cool-downs shared by every Lambda); a 429 or a
refused key cools that key and the next one is tried; an outage or a timeout is tried again a
bounded number of times with a short backoff (inside the job: the user is waiting). What still
fails raises for the worker to explain and refund. ``context_length_exceeded`` raises
``ContextTooLongError`` so the caller trims and asks again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import openai
from openai import AsyncOpenAI

from genbot.config import Settings
from genbot.observability import logger, metrics
from genbot.providers.base import ExhaustedError, InvalidInputError, QuotaError, TransientError
from genbot.providers.keypool import KeyPool
from genbot.providers.openai_images import map_error

PROVIDER = "openai"
TRIES = 3  # per call: the first and two retries
BACKOFF_S = (1.0, 3.0)
MAX_WAIT_S = 5.0  # a longer Retry-After ends the tries: the user is told and refunded
CHAT_TIMEOUT_S = 60.0  # between chunks, not the whole answer (a stream may run longer)
TRANSCRIBE_TIMEOUT_S = 60.0

OnDelta = Callable[[str], Awaitable[None]]


class ContextTooLongError(Exception):
    """The provider counted more tokens than the model takes: trim and ask again."""


@dataclass
class Completion:
    text: str
    tokens_in: int
    tokens_out: int
    model: str
    first_token_at: float | None  # monotonic time of the first content delta


def _client(settings: Settings, key: str, timeout: float) -> AsyncOpenAI:
    # max_retries=0: our loop decides (a 429 moves to the next key, an outage waits)
    base_url = settings.chat_base_url or settings.openai_base_url or None
    return AsyncOpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=0)


def _key(settings: Settings, pool: KeyPool, tried: list[str]) -> tuple[str, str]:
    """``CHAT_API_KEY`` when set (its own endpoint, no pool), else a key of the OpenAI pool."""
    if settings.chat_api_key:
        return "chat", settings.chat_api_key
    try:
        return pool.acquire(PROVIDER, exclude=tried)
    except ExhaustedError:
        if not tried:
            raise
        return pool.acquire(PROVIDER)  # every key tried once: any may do now


def _context_too_long(exc: Exception) -> bool:
    if not isinstance(exc, openai.BadRequestError):
        return False
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else body
    return "context_length_exceeded" in (str(exc.code), str(error.get("code") if error else ""))


async def _with_keys(
    settings: Settings, pool: KeyPool, call: Callable[[AsyncOpenAI], Awaitable[Any]], client_timeout: float
) -> Any:
    """Run ``call`` with a pool key; next key on quota trouble, bounded retries on outages."""
    tried: list[str] = []
    last: Exception | None = None
    for attempt in range(TRIES):
        key_id, key = _key(settings, pool, tried)
        client = _client(settings, key, client_timeout)
        try:
            return await call(client)
        except ContextTooLongError:
            raise
        except Exception as exc:  # an SDK error, mapped to ours
            if _context_too_long(exc):
                raise ContextTooLongError(str(exc)) from exc
            mapped = map_error(exc)
            last = mapped
            if isinstance(mapped, QuotaError) and not settings.chat_api_key:
                pool.report_quota(PROVIDER, key_id, mapped.retry_after)
                tried.append(key_id)
                metrics.add_metric(name="ChatProviderQuota", unit="Count", value=1)
            elif isinstance(mapped, TransientError):
                metrics.add_metric(name="ChatProviderRetries", unit="Count", value=1)
                if attempt < TRIES - 1:
                    wait = getattr(mapped, "retry_after", None) or BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
                    await asyncio.sleep(min(float(wait), MAX_WAIT_S))
            else:
                raise mapped from exc
            logger.warning(
                "assistant call failed", extra={"attempt": attempt + 1, "error": str(mapped)[:300]}
            )
        finally:
            await client.close()
    assert last is not None
    raise last


async def complete(
    settings: Settings, pool: KeyPool, messages: list[dict[str, Any]], model: str, on_delta: OnDelta
) -> Completion:
    """Stream a chat completion, calling ``on_delta(text_so_far)`` as it grows."""

    async def call(client: AsyncOpenAI) -> Completion:
        parts: list[str] = []
        first: float | None = None
        usage: Any = None
        stream = await client.chat.completions.create(  # type: ignore[call-overload]
            model=model,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=settings.chat_max_answer_tokens,
        )
        async for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                piece = choice.delta.content if choice.delta else None
                if piece:
                    if first is None:
                        first = time.monotonic()
                    parts.append(piece)
                    await on_delta("".join(parts))
        text = "".join(parts)
        if not text.strip():
            raise TransientError("openai: an empty answer")
        return Completion(
            text=text,
            tokens_in=int(getattr(usage, "prompt_tokens", 0) or 0),
            tokens_out=int(getattr(usage, "completion_tokens", 0) or 0),
            model=model,
            first_token_at=first,
        )

    result: Completion = await _with_keys(settings, pool, call, CHAT_TIMEOUT_S)
    return result


async def transcribe(settings: Settings, pool: KeyPool, audio: bytes, filename: str = "voice.ogg") -> str:
    """Speech to text (a Telegram voice message is OGG/Opus, which the API takes as it is)."""

    async def call(client: AsyncOpenAI) -> str:
        answer = await client.audio.transcriptions.create(
            model=settings.transcribe_model, file=(filename, audio, "audio/ogg")
        )
        return str(answer.text or "").strip()

    text: str = await _with_keys(settings, pool, call, TRANSCRIBE_TIMEOUT_S)
    if not text:
        raise InvalidInputError("no speech in the voice message")
    return text
