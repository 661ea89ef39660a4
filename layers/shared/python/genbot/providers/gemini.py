"""Google Gemini API adapter: images and edits (generateContent), describe, Veo videos.

generateContent goes through google-genai's async client. Veo goes over REST with aiohttp,
because google-genai 3.x runs ``generate_videos`` only in Vertex mode: ``POST
{base}/v1beta/models/{model}:predictLongRunning`` returns an operation name, ``GET
{base}/v1beta/{name}`` polls it, and the finished operation's
``response.generateVideoResponse.generatedSamples[0].video.uri`` is downloaded with the key.

Error mapping (what the worker does next): prompt blocked / safety finish reasons / no image
-> ``RefusedError`` (refund); 429 RESOURCE_EXHAUSTED, and an invalid or forbidden key ->
``QuotaError`` (cool this key, try the next); other 4xx -> ``InvalidInputError``; 404 (model
gone) and 5xx, timeouts, network -> ``TransientError``.
"""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

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

NAME = "gemini"
DEFAULT_BASE = "https://generativelanguage.googleapis.com"
IMAGE_TIMEOUT_S = 70
TEXT_TIMEOUT_S = 40
VIDEO_TIMEOUT_S = 30
DOWNLOAD_TIMEOUT_S = 60
KEY_PROBLEM_COOLDOWN_S = 3600.0

# Finish reasons that mean "the model would not make this" (permanent, refund)
REFUSING_FINISH = {
    "SAFETY",
    "IMAGE_SAFETY",
    "PROHIBITED_CONTENT",
    "IMAGE_PROHIBITED_CONTENT",
    "BLOCKLIST",
    "SPII",
    "RECITATION",
    "IMAGE_RECITATION",
}
KEY_PROBLEM_REASONS = {"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "SERVICE_DISABLED", "CONSUMER_SUSPENDED"}


def describe_instruction(language: str) -> str:
    """What we ask a vision model for in describe mode (shared with the OpenAI adapter)."""
    lang = "Russian" if language.startswith("ru") else "English"
    return (
        "Write one prompt for an image-generation model that would recreate this picture: "
        "subject, setting, composition, lighting, colours, style and camera details. "
        f"Answer with the prompt only, in {lang}, at most 80 words, no preamble."
    )


def number(options: dict[str, object], name: str, default: int) -> int:
    """A whole-number option from a catalog entry (operators type JSON by hand: be lenient)."""
    value = options.get(name, default)
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return default


def _enum_name(value: Any) -> str:
    if value is None:
        return ""
    return str(getattr(value, "name", value)).rsplit(".", 1)[-1]


def _duration(text: Any) -> float | None:
    match = re.fullmatch(r"\s*([0-9.]+)s\s*", str(text or ""))
    return float(match.group(1)) if match else None


def _error_details(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict):
        inner = body.get("error", body)
        details = inner.get("details") if isinstance(inner, dict) else None
        if isinstance(details, list):
            return [d for d in details if isinstance(d, dict)]
    return []


def map_error(code: int, status: str, message: str, body: Any) -> ProviderError:
    """A Gemini API error (HTTP code, google.rpc status, JSON body) as one of our errors."""
    details = _error_details(body)
    reasons = {str(d.get("reason", "")) for d in details}
    retry = next(
        (_duration(d.get("retryDelay")) for d in details if "RetryInfo" in str(d.get("@type"))), None
    )
    text = f"gemini {code} {status}: {message}"[:500]
    if code == 429 or status == "RESOURCE_EXHAUSTED":
        return QuotaError(text, retry_after=retry)
    if (
        code in (401, 403)
        or reasons & KEY_PROBLEM_REASONS
        or status in ("UNAUTHENTICATED", "PERMISSION_DENIED")
    ):
        logger.error("gemini rejected a key", extra={"status": status, "reasons": sorted(reasons)})
        return QuotaError(text, retry_after=KEY_PROBLEM_COOLDOWN_S)
    if code == 404 or status == "NOT_FOUND":
        return TransientError(text)  # model unavailable here: let the router try the next provider
    if code == 408 or code >= 500 or status in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL"):
        return TransientError(text, retry_after=retry)
    return InvalidInputError(text)


def _refusal(response: types.GenerateContentResponse, want_image: bool) -> tuple[bytes, str, str]:
    """(image bytes, mime, text) from a response, or RefusedError when there is nothing usable."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason:
        raise RefusedError(
            "prompt_blocked", f"gemini blocked the prompt: {_enum_name(feedback.block_reason)}"
        )
    candidates = response.candidates or []
    if not candidates:
        raise RefusedError("safety", "gemini returned no candidates")
    candidate = candidates[0]
    finish = _enum_name(candidate.finish_reason)
    if finish in REFUSING_FINISH:
        raise RefusedError("safety", f"gemini stopped: {finish}")
    image, mime, texts = b"", "", []
    for part in (candidate.content.parts if candidate.content else None) or []:
        if part.inline_data is not None and part.inline_data.data and not image:
            image = part.inline_data.data
            mime = part.inline_data.mime_type or sniff_mime(image) or "image/png"
        elif part.text and not part.thought:
            texts.append(part.text)
    text = "".join(texts).strip()
    if want_image and not image:
        raise RefusedError(
            "no_image", f"gemini answered without an image ({finish or 'no reason'}): {text[:200]}"
        )
    if not want_image and not text:
        raise RefusedError("no_text", f"gemini answered without text ({finish or 'no reason'})")
    return image, mime, text


class GeminiProvider:
    """Gemini Developer API; one google-genai client per key, kept while the router lives."""

    name = NAME

    def __init__(self, settings: Settings) -> None:
        self.base_url = (settings.gemini_base_url or DEFAULT_BASE).rstrip("/")
        self._custom_base = bool(settings.gemini_base_url)
        # key -> (client, loop): a dropped genai.Client closes its transport, and an aiohttp
        # session belongs to the loop it was made on, so both are kept together.
        self._clients: dict[str, tuple[genai.Client, asyncio.AbstractEventLoop]] = {}
        self._session: tuple[aiohttp.ClientSession, asyncio.AbstractEventLoop] | None = None

    # -- clients ---------------------------------------------------------------------------------

    def _client(self, key: str) -> genai.Client:
        loop = asyncio.get_running_loop()
        held = self._clients.get(key)
        if held is not None and held[1] is loop:
            return held[0]
        client = genai.Client(
            api_key=key,
            http_options=types.HttpOptions(
                base_url=self.base_url if self._custom_base else None,
                api_version="v1beta",  # with a custom base_url the SDK would otherwise pick v1
                retry_options=types.HttpRetryOptions(attempts=1),  # retries are the queue's job
            ),
        )
        self._clients[key] = (client, loop)
        return client

    def _http(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session[0].closed or self._session[1] is not loop:
            self._session = (aiohttp.ClientSession(), loop)
        return self._session[0]

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        loop = asyncio.get_running_loop()
        for client, owner in clients.values():
            if owner is loop:
                try:
                    await client.aio.aclose()
                except Exception as exc:  # closing must not mask the job's outcome
                    logger.debug("closing a gemini client failed", extra={"error": str(exc)})
        if self._session is not None and self._session[1] is loop and not self._session[0].closed:
            await self._session[0].close()
        self._session = None

    # -- generateContent -------------------------------------------------------------------------

    async def generate(
        self, req: GenerationRequest, model: str, key: str, options: dict[str, object] | None = None
    ) -> MediaResult | Pending:
        options = dict(options or {})
        if req.mode == "video":
            return await self._start_video(req, model, key, options)
        if req.mode in ("edit", "describe") and not req.image:
            raise InvalidInputError(f"{req.mode} needs an input image")
        contents: list[Any] = []
        if req.image:
            contents.append(types.Part.from_bytes(data=req.image, mime_type=req.image_mime or "image/jpeg"))
        want_image = req.mode in ("image", "edit")
        if want_image:
            contents.append(req.prompt)
            config = types.GenerateContentConfig(
                response_modalities=["TEXT", "IMAGE"],
                http_options=types.HttpOptions(timeout=number(options, "timeout", IMAGE_TIMEOUT_S) * 1000),
            )
        else:
            instruction = describe_instruction(req.language)
            contents.append(f"{instruction}\n{req.prompt}".strip() if req.prompt else instruction)
            config = types.GenerateContentConfig(
                http_options=types.HttpOptions(timeout=number(options, "timeout", TEXT_TIMEOUT_S) * 1000),
            )
        client = self._client(key)
        try:
            response = await client.aio.models.generate_content(model=model, contents=contents, config=config)
        except genai_errors.APIError as exc:
            raise map_error(
                int(exc.code or 0), str(exc.status or ""), str(exc.message or ""), exc.details
            ) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise TransientError(f"gemini unreachable: {exc!r}") from exc
        except Exception as exc:  # httpx transport errors when aiohttp isn't used
            if type(exc).__module__.startswith("httpx"):
                raise TransientError(f"gemini unreachable: {exc!r}") from exc
            raise
        image, mime, text = _refusal(response, want_image)
        if want_image:
            return MediaResult(image, mime, provider=NAME, model=model)
        return MediaResult(b"", "text/plain", text=text, provider=NAME, model=model)

    # -- Veo over REST ---------------------------------------------------------------------------

    async def _call(
        self, method: str, url: str, key: str, seconds: float, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        try:
            async with self._http().request(
                method,
                url,
                json=body,
                headers={"x-goog-api-key": key},
                timeout=aiohttp.ClientTimeout(total=seconds),
            ) as response:
                try:
                    payload = await response.json(content_type=None)
                except ValueError:
                    payload = {"error": {"message": (await response.text())[:300]}}
                if response.status != 200:
                    error = payload.get("error", {}) if isinstance(payload, dict) else {}
                    raise map_error(
                        response.status, str(error.get("status", "")), str(error.get("message", "")), payload
                    )
                return payload if isinstance(payload, dict) else {}
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TransientError(f"gemini unreachable: {exc!r}") from exc

    async def _start_video(
        self, req: GenerationRequest, model: str, key: str, options: dict[str, object]
    ) -> Pending:
        instance: dict[str, Any] = {"prompt": req.prompt}
        if req.image:
            instance["image"] = {
                "bytesBase64Encoded": base64.b64encode(req.image).decode(),
                "mimeType": req.image_mime or "image/jpeg",
            }
        timeout = number(options, "timeout", VIDEO_TIMEOUT_S)
        options.pop("timeout", None)
        body = {"instances": [instance], "parameters": dict(options)}
        answer = await self._call(
            "POST", f"{self.base_url}/v1beta/models/{model}:predictLongRunning", key, timeout, body
        )
        name = answer.get("name")
        if not isinstance(name, str) or not name or "|" in name:
            raise TransientError(f"gemini returned no operation name: {str(answer)[:200]}")
        logger.info("veo operation started", extra={"operation": name, "model": model})
        return Pending(name, NAME, "", model)

    async def poll(self, pending: Pending, key: str) -> MediaResult | Pending:
        op = await self._call("GET", f"{self.base_url}/v1beta/{pending.operation}", key, VIDEO_TIMEOUT_S)
        if not op.get("done"):
            return pending
        error = op.get("error")
        if isinstance(error, dict):
            code = int(error.get("code") or 0)
            # google.rpc codes in a finished operation: 3 INVALID_ARGUMENT, 8 RESOURCE_EXHAUSTED, ...
            http = {3: 400, 7: 403, 8: 429, 9: 400, 13: 500, 14: 503, 4: 504}.get(
                code, code if code >= 100 else 500
            )
            raise map_error(
                http, str(error.get("status", "")), str(error.get("message", "")), {"error": error}
            )
        video = (op.get("response") or {}).get("generateVideoResponse") or {}
        samples = video.get("generatedSamples") or []
        uri = ((samples[0] or {}).get("video") or {}).get("uri") if samples else None
        if not uri:
            reasons = video.get("raiMediaFilteredReasons") or []
            raise RefusedError("safety", f"veo filtered the video: {'; '.join(map(str, reasons))[:300]}")
        data = await self._download(str(uri), key)
        return MediaResult(data, sniff_mime(data) or "video/mp4", provider=NAME, model=pending.model)

    async def _download(self, uri: str, key: str) -> bytes:
        """Fetch the video, following redirects by hand: the key goes only to the API's own host."""
        api_host = urlsplit(self.base_url).netloc
        url = uri
        for _hop in range(6):
            headers = {"x-goog-api-key": key} if urlsplit(url).netloc == api_host else {}
            try:
                async with self._http().get(
                    url,
                    headers=headers,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT_S),
                ) as response:
                    if response.status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                        url = urljoin(url, response.headers["Location"])
                        continue
                    if response.status != 200:
                        text = (await response.text())[:300]
                        raise map_error(response.status, "", f"video download: {text}", None)
                    return await response.read()
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise TransientError(f"video download failed: {exc!r}") from exc
        raise TransientError("video download: too many redirects")
