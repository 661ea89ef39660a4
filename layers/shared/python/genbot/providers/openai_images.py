"""OpenAI adapter: gpt-image generate and edit (base64 results), describe via chat with an image.

No video: the catalog never routes video here. Error mapping (what the worker does next):
``RateLimitError`` (429, including ``insufficient_quota``), and a rejected key (401/403) ->
``QuotaError`` (cool this key, try the next); 400 with ``moderation_blocked`` /
``content_policy_violation`` -> ``RefusedError``; other 4xx -> ``InvalidInputError``; 404
(model unavailable), 5xx, connection errors and timeouts -> ``TransientError``.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import openai
from openai import AsyncOpenAI

from genbot.config import Settings
from genbot.observability import logger
from genbot.providers.base import (
    GenerationRequest,
    InvalidInputError,
    MediaResult,
    Pending,
    ProviderError,
    QuotaError,
    RefusedError,
    TransientError,
    sniff_mime,
)
from genbot.providers.gemini import describe_instruction, number

NAME = "openai"
IMAGE_TIMEOUT_S = 90
TEXT_TIMEOUT_S = 40
REFUSAL_CODES = {"moderation_blocked", "content_policy_violation", "content_filter"}
KEY_PROBLEM_COOLDOWN_S = 3600.0
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def _retry_after(exc: openai.APIStatusError) -> float | None:
    headers = exc.response.headers if exc.response is not None else {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return float(value) * scale
            except ValueError:
                continue
    return None


def _error_fields(exc: openai.APIStatusError) -> tuple[str, str]:
    code, kind = exc.code or "", exc.type or ""
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = code or str(body["error"].get("code") or "")
        kind = kind or str(body["error"].get("type") or "")
    return code, kind


def map_error(exc: Exception) -> ProviderError:
    """An OpenAI SDK exception as one of our errors."""
    if isinstance(exc, openai.APITimeoutError | openai.APIConnectionError):
        return TransientError(f"openai unreachable: {exc!r}")
    if not isinstance(exc, openai.APIStatusError):
        return TransientError(f"openai: {exc!r}")
    code, kind = _error_fields(exc)
    text = f"openai {exc.status_code} {code or kind}: {exc.message}"[:500]
    if isinstance(exc, openai.RateLimitError) or exc.status_code == 429:
        if "insufficient_quota" in (code, kind):  # billing: this key is done for a while
            return QuotaError(text, retry_after=KEY_PROBLEM_COOLDOWN_S)
        return QuotaError(text, retry_after=_retry_after(exc))
    if exc.status_code in (401, 403):
        logger.error("openai rejected a key", extra={"status": exc.status_code, "code": code})
        return QuotaError(text, retry_after=KEY_PROBLEM_COOLDOWN_S)
    if code in REFUSAL_CODES or kind in REFUSAL_CODES:
        return RefusedError("safety", text)
    if exc.status_code == 404:
        return TransientError(text)
    if exc.status_code >= 500 or exc.status_code == 408:
        return TransientError(text, retry_after=_retry_after(exc))
    return InvalidInputError(text)


class OpenAIProvider:
    """OpenAI Images and Chat Completions; one AsyncOpenAI client per key."""

    name = NAME

    def __init__(self, settings: Settings) -> None:
        self.base_url = settings.openai_base_url or None
        self._clients: dict[str, tuple[AsyncOpenAI, asyncio.AbstractEventLoop]] = {}

    def _client(self, key: str) -> AsyncOpenAI:
        loop = asyncio.get_running_loop()
        held = self._clients.get(key)
        if held is not None and held[1] is loop:
            return held[0]
        # max_retries=0: retries are the queue's job, and a 429 should move us to the next key
        client = AsyncOpenAI(api_key=key, base_url=self.base_url, timeout=IMAGE_TIMEOUT_S, max_retries=0)
        self._clients[key] = (client, loop)
        return client

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        loop = asyncio.get_running_loop()
        for client, owner in clients.values():
            if owner is loop:
                try:
                    await client.close()
                except Exception as exc:  # closing must not mask the job's outcome
                    logger.debug("closing an openai client failed", extra={"error": str(exc)})

    async def generate(
        self, req: GenerationRequest, model: str, key: str, options: dict[str, object] | None = None
    ) -> MediaResult | Pending:
        options = dict(options or {})
        client = self._client(key)
        try:
            if req.mode == "image":
                answer = await client.images.generate(
                    model=model,
                    prompt=req.prompt,
                    n=1,
                    timeout=number(options, "timeout", IMAGE_TIMEOUT_S),
                    **self._image_options(options),
                )
                return self._image(answer, model)
            if req.mode == "edit":
                if not req.image:
                    raise InvalidInputError("edit needs an input image")
                mime = req.image_mime or sniff_mime(req.image) or "image/png"
                answer = await client.images.edit(
                    model=model,
                    image=(f"input.{EXTENSIONS.get(mime, 'png')}", req.image, mime),
                    prompt=req.prompt,
                    n=1,
                    timeout=number(options, "timeout", IMAGE_TIMEOUT_S),
                    **self._image_options(options),
                )
                return self._image(answer, model)
            if req.mode == "describe":
                return await self._describe(client, req, model, options)
        except openai.OpenAIError as exc:
            raise map_error(exc) from exc
        raise InvalidInputError(f"openai does not serve {req.mode}")

    @staticmethod
    def _image_options(options: dict[str, object]) -> dict[str, Any]:
        return {k: v for k, v in options.items() if k in ("size", "quality", "background", "output_format")}

    @staticmethod
    def _image(answer: Any, model: str) -> MediaResult:
        data = answer.data or []
        b64 = data[0].b64_json if data else None
        if not b64:
            raise RefusedError("no_image", "openai answered without an image")
        image = base64.b64decode(b64)
        mime = sniff_mime(image) or f"image/{answer.output_format or 'png'}"
        return MediaResult(image, mime, provider=NAME, model=model)

    async def _describe(
        self, client: AsyncOpenAI, req: GenerationRequest, model: str, options: dict[str, object]
    ) -> MediaResult:
        if not req.image:
            raise InvalidInputError("describe needs an input image")
        mime = req.image_mime or sniff_mime(req.image) or "image/jpeg"
        url = f"data:{mime};base64,{base64.b64encode(req.image).decode()}"
        instruction = describe_instruction(req.language)
        if req.prompt:
            instruction = f"{instruction}\n{req.prompt}"
        answer = await client.chat.completions.create(
            model=model,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": instruction},
                        {"type": "image_url", "image_url": {"url": url}},
                    ],
                }
            ],
            max_tokens=number(options, "max_tokens", 400),
            timeout=number(options, "timeout", TEXT_TIMEOUT_S),
        )
        choice = answer.choices[0] if answer.choices else None
        text = (choice.message.content or "").strip() if choice else ""
        if choice is not None and (choice.finish_reason == "content_filter" or choice.message.refusal):
            raise RefusedError("safety", "openai refused to describe this image")
        if not text:
            raise RefusedError("no_text", "openai answered without text")
        return MediaResult(b"", "text/plain", text=text, provider=NAME, model=model)

    async def poll(self, pending: Pending, key: str) -> MediaResult | Pending:
        raise InvalidInputError("openai has no long-running operations here")
