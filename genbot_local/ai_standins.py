"""HTTP stand-ins for the Gemini and OpenAI APIs: the real adapters talk to these offline.

Each runs an aiohttp server on 127.0.0.1 (random port) in a background thread, checks the API
key the way the real service does (Gemini: ``x-goog-api-key`` header or ``key`` query;
OpenAI: ``Authorization: Bearer``), answers with the real response and error shapes, and
records every request (thread-safe) so tests can assert what went over the wire.

Scripting, per test: ``fail_next(...)`` queues canned failures (optionally only for one key
or one endpoint), ``over_quota(key)`` makes a key answer 429 until ``clear()``, Gemini's
``block_next("prompt" | "image" | "no_image")`` simulates safety answers and
``filter_next_video()`` a Veo RAI filter; OpenAI's ``flag(word)`` makes moderation flag
prompts containing the word, and ``fail_next("moderation_blocked")`` an image refusal.

The OpenAI stand-in also speaks what the chat assistant uses (see ``OpenAIStandIn``): chat
completions with and without ``stream`` (server-sent events, the ``include_usage`` chunk),
vision parts, a context window per model (400 ``context_length_exceeded``), speech to text
(``/v1/audio/transcriptions``), and failures for both: 429 with Retry-After, 500, a stall
longer than the client's timeout, a stream cut mid-way. Tokens are counted by ``count_tokens``.

    gemini = GeminiStandIn(keys=["key-a", "key-b"]).start()
    os.environ["GEMINI_BASE_URL"] = gemini.base_url
    ...
    gemini.stop()
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from genbot.observability import logger


@dataclass(frozen=True)
class Recorded:
    """One request as the stand-in received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None
    form: dict[str, Any] = field(default_factory=dict)
    key: str | None = None


@dataclass
class Behaviour:
    """A canned answer for the next matching request."""

    # error | prompt_blocked | image_safety | no_image | rai_filtered | op_error
    # OpenAI: stall (answer late) | cut (drop the connection mid-stream) | stream_error
    kind: str
    status: int = 0
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    key: str | None = None  # only requests made with this key
    path: str | None = None  # only requests whose path contains this
    seconds: float = 0.0  # stall: how long
    after: int | None = None  # stall/cut/stream_error: after this many content chunks


def _png(seed: str) -> bytes:
    from genbot_local.fake_provider import render_image

    return render_image(seed, (256, 256))


class _StandIn:
    """The server plumbing shared by both stand-ins."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = set(keys)
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._script: list[Behaviour] = []
        self._over_quota: set[str] = set()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> _StandIn:
        ready = threading.Event()
        errors: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._setup())
            except BaseException as exc:  # report to start() instead of dying silently
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, name=type(self).__name__, daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    async def _setup(self) -> None:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    def stop(self) -> None:
        if self._loop is None or self._runner is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = self._runner = self._thread = None

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- scripting and records -------------------------------------------------------------------

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, fragment: str) -> list[Recorded]:
        return [r for r in self.requests if fragment in r.path]

    def clear(self) -> None:
        """Forget recorded requests, queued behaviours and over-quota keys."""
        with self._lock:
            self._requests.clear()
            self._script.clear()
            self._over_quota.clear()
        self._reset()

    def _reset(self) -> None:
        return None

    def script(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._script.extend(behaviours)

    def over_quota(self, key: str, on: bool = True) -> None:
        with self._lock:
            (self._over_quota.add if on else self._over_quota.discard)(key)

    def _take(self, path: str, key: str | None, kinds: Iterable[str] | None = None) -> Behaviour | None:
        with self._lock:
            for i, b in enumerate(self._script):
                if (b.key is None or b.key == key) and (b.path is None or b.path in path):
                    if kinds is not None and b.kind not in kinds:
                        continue
                    return self._script.pop(i)
        return None

    def _quota_hit(self, key: str | None) -> bool:
        with self._lock:
            return key is not None and key in self._over_quota

    async def _record(self, request: web.Request, key: str | None) -> Recorded:
        body: Any = None
        form: dict[str, Any] = {}
        if request.content_type.startswith("multipart/"):
            for name, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    data = value.file.read()
                    form[name] = {
                        "filename": value.filename,
                        "content_type": value.content_type,
                        "data": data,
                    }
                else:
                    form[name] = value
        elif request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
        record = Recorded(
            request.method,
            request.path,
            dict(request.query),
            {k.lower(): v for k, v in request.headers.items()},
            body,
            form,
            key,
        )
        with self._lock:
            self._requests.append(record)
        return record

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self.handle(request)
        except Exception as exc:  # a bug here should be a visible 500, not a hung test
            logger.exception("stand-in failed")
            return web.json_response(
                {"error": {"code": 500, "message": repr(exc), "status": "INTERNAL"}}, status=500
            )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError


# -- Gemini ----------------------------------------------------------------------------------------


def gemini_error(
    status: int, grpc_status: str, message: str, retry_delay: str | None = None
) -> dict[str, Any]:
    """The Gemini API's error body (google.rpc.Status in JSON)."""
    details: list[dict[str, Any]] = []
    if status == 429:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {"quotaMetric": "generativelanguage.googleapis.com/generate_requests_per_model"}
                ],
            }
        )
    if retry_delay:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    error: dict[str, Any] = {"code": status, "message": message, "status": grpc_status}
    if details:
        error["details"] = details
    return {"error": error}


VEO_RESPONSE_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"


class GeminiStandIn(_StandIn):
    """generateContent (images in/out as inlineData, text), Veo operations, file download."""

    def __init__(self, keys: Iterable[str] = ("gemini-test-key",), video_polls: int = 2) -> None:
        super().__init__(keys)
        self.video_polls = video_polls
        self._ops: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def start(self) -> GeminiStandIn:
        super().start()
        return self

    @property
    def base_url(self) -> str:
        """What ``GEMINI_BASE_URL`` should be."""
        return self.root_url

    @property
    def media_url(self) -> str:
        """Where video downloads redirect to: the same server under another host name."""
        return f"http://localhost:{self.port}"

    def _reset(self) -> None:
        with self._lock:
            self._ops.clear()

    # scripting helpers
    def fail_next(
        self,
        status: int = 500,
        *,
        count: int = 1,
        key: str | None = None,
        path: str | None = None,
        retry_delay: str | None = None,
        message: str | None = None,
    ) -> None:
        """The next ``count`` matching calls fail with ``status`` (429 -> RESOURCE_EXHAUSTED)."""
        grpc = {
            400: "INVALID_ARGUMENT",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED",
        }
        grpc_status = grpc.get(status, "UNAVAILABLE" if status == 503 else "INTERNAL")
        text = message or {
            429: "You exceeded your current quota, please check your plan and billing details.",
            400: "Request contains an invalid argument.",
        }.get(
            status,
            "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
        )
        body = gemini_error(status, grpc_status, text, retry_delay)
        self.script(*[Behaviour("error", status, body, key=key, path=path) for _ in range(count)])

    def block_next(self, how: str = "prompt", *, key: str | None = None) -> None:
        """Next generateContent: ``prompt`` (promptFeedback.blockReason SAFETY), ``image``
        (finishReason IMAGE_SAFETY) or ``no_image`` (a text-only answer)."""
        kind = {"prompt": "prompt_blocked", "image": "image_safety", "no_image": "no_image"}[how]
        self.script(Behaviour(kind, key=key, path=":generateContent"))

    def filter_next_video(self) -> None:
        """The next Veo operation finishes with its video removed by the RAI filter."""
        self.script(Behaviour("rai_filtered", path=":predictLongRunning"))

    def _key(self, request: web.Request) -> str | None:
        return request.headers.get("x-goog-api-key") or request.query.get("key")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_media/"):  # the "signed" download target: no key needed
            await self._record(request, None)
            return web.Response(body=self._video(path.rsplit("/", 1)[-1]), content_type="video/mp4")
        key = self._key(request)
        record = await self._record(request, key)
        if key is None or key not in self.keys:
            body = gemini_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")
            body["error"]["details"] = [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
            ]
            return web.json_response(body, status=400)
        if self._quota_hit(key):
            return web.json_response(
                gemini_error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", "30s"), status=429
            )
        scripted = self._take(path, key, kinds=("error",))
        if scripted is not None:
            return web.json_response(scripted.body, status=scripted.status, headers=scripted.headers)
        if not path.startswith("/v1beta/"):
            return web.json_response(gemini_error(404, "NOT_FOUND", f"no route {path}"), status=404)
        if request.method == "POST" and path.endswith(":generateContent"):
            return self._generate(path, record, key)
        if request.method == "POST" and path.endswith(":predictLongRunning"):
            return self._start_video(path, record, key)
        if request.method == "GET" and "/operations/" in path:
            return self._operation(path)
        if request.method == "GET" and path.startswith("/v1beta/files/") and path.endswith(":download"):
            file_id = path[len("/v1beta/files/") : -len(":download")]
            # like Google's, the download redirects to another host (which must not get the key)
            return web.Response(status=302, headers={"Location": f"{self.media_url}/_media/{file_id}.mp4"})
        return web.json_response(gemini_error(404, "NOT_FOUND", f"no route {path}"), status=404)

    def _generate(self, path: str, record: Recorded, key: str) -> web.Response:
        model = path.split("/models/", 1)[1].rsplit(":", 1)[0]
        parts = [p for c in (record.json or {}).get("contents", []) for p in c.get("parts", [])]
        prompt = " ".join(p["text"] for p in parts if "text" in p)
        has_image = any("inlineData" in p or "inline_data" in p for p in parts)
        usage = {"promptTokenCount": 12, "candidatesTokenCount": 1290, "totalTokenCount": 1302}
        scripted = self._take(path, key)
        if scripted is not None and scripted.kind == "prompt_blocked":
            return web.json_response(
                {
                    "promptFeedback": {
                        "blockReason": "SAFETY",
                        "safetyRatings": [
                            {
                                "category": "HARM_CATEGORY_SEXUALLY_EXPLICIT",
                                "probability": "HIGH",
                                "blocked": True,
                            }
                        ],
                    },
                    "usageMetadata": usage,
                    "modelVersion": model,
                }
            )
        if scripted is not None and scripted.kind == "image_safety":
            return web.json_response(
                {
                    "candidates": [
                        {"content": {"role": "model"}, "finishReason": "IMAGE_SAFETY", "index": 0}
                    ],
                    "usageMetadata": usage,
                    "modelVersion": model,
                }
            )
        wants_image = "image" in model
        if scripted is not None and scripted.kind == "no_image":
            parts_out: list[dict[str, Any]] = [
                {"text": "I can't create that picture, but here is a description."}
            ]
        elif wants_image:
            png = _png(f"gemini {model} {'edit ' if has_image else ''}{prompt}")
            parts_out = [
                {"text": "Here is your picture."},
                {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(png).decode()}},
            ]
        else:
            russian = "Russian" in prompt
            text = (
                "Уютная фотография, мягкий свет, тёплые тона, высокая детализация"
                if russian
                else "A cosy photo, soft light, warm tones, highly detailed"
            )
            parts_out = [{"text": text}]
        return web.json_response(
            {
                "candidates": [
                    {"content": {"role": "model", "parts": parts_out}, "finishReason": "STOP", "index": 0}
                ],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": f"resp-{next(self._ids)}",
            }
        )

    def _start_video(self, path: str, record: Recorded, key: str) -> web.Response:
        model = path.split("/models/", 1)[1].rsplit(":", 1)[0]
        instances = (record.json or {}).get("instances") or []
        if not instances or (not instances[0].get("prompt") and not instances[0].get("image")):
            return web.json_response(
                gemini_error(400, "INVALID_ARGUMENT", "instances[0] is empty"), status=400
            )
        name = f"models/{model}/operations/op{next(self._ids)}x{int(time.time())}"
        scripted = self._take(path, key, kinds=("rai_filtered", "op_error"))
        with self._lock:
            self._ops[name] = {"polls": 0, "behaviour": scripted, "key": key}
        return web.json_response({"name": name})

    def _operation(self, path: str) -> web.Response:
        name = path[len("/v1beta/") :]
        with self._lock:
            op = self._ops.get(name)
            if op is not None:
                op["polls"] += 1
                polls, behaviour = op["polls"], op["behaviour"]
        if op is None:
            return web.json_response(
                gemini_error(404, "NOT_FOUND", f"operation {name} not found"), status=404
            )
        if polls < self.video_polls:
            return web.json_response({"name": name, "done": False})
        kind = behaviour.kind if behaviour else ""
        if kind == "op_error":
            return web.json_response(
                {
                    "name": name,
                    "done": True,
                    "error": {"code": 3, "message": "The input image is not supported."},
                }
            )
        video: dict[str, Any]
        if kind == "rai_filtered":
            video = {
                "raiMediaFilteredCount": 1,
                "raiMediaFilteredReasons": [
                    "Veo could not generate videos because the input image violates policy."
                ],
            }
        else:
            file_id = name.rsplit("/", 1)[-1]
            video = {
                "generatedSamples": [
                    {"video": {"uri": f"{self.root_url}/v1beta/files/{file_id}:download?alt=media"}}
                ]
            }
        return web.json_response(
            {
                "name": name,
                "done": True,
                "response": {
                    "@type": VEO_RESPONSE_TYPE,
                    "generateVideoResponse": video,
                },
            }
        )

    @staticmethod
    def _video(file_name: str) -> bytes:
        from genbot_local.fake_provider import render_video

        return render_video()


# -- OpenAI ----------------------------------------------------------------------------------------


def openai_error(message: str, kind: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error body."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


OPENAI_FAILURES: dict[str, tuple[int, str, str | None, str]] = {
    "rate_limit": (
        429,
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests. Please try again in 7s.",
    ),
    "insufficient_quota": (
        429,
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    "server_error": (
        500,
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    "overloaded": (
        503,
        "server_error",
        None,
        "The engine is currently overloaded, please try again later.",
    ),
    "moderation_blocked": (
        400,
        "image_generation_user_error",
        "moderation_blocked",
        "Your request was rejected by the safety system. If you believe this is an error, contact us.",
    ),
    "bad_request": (400, "invalid_request_error", "invalid_value", "Invalid image file or mode for image 1."),
    "context_length_exceeded": (
        400,
        "invalid_request_error",
        "context_length_exceeded",
        "This model's maximum context length is 8192 tokens. However, your messages resulted in "
        "9000 tokens. Please reduce the length of the messages.",
    ),
}

# The stand-in's tokenizer: deterministic, no data files. A word is one token per 4 characters
# (rounded up), every other visible character (punctuation, emoji) is one token, whitespace is
# part of the token after it. That is close to a real BPE for English (about 4 characters a
# token) and on the generous side for Russian; what matters is that the counts in ``usage``,
# the context window and the chunks of a stream all come from the same rule.
_TOKEN = re.compile(r"\s*(?:\w{1,4}|[^\w\s])|\s+")
PER_MESSAGE_TOKENS = 3  # the chat format's overhead per message
REPLY_PRIMING_TOKENS = 3  # every reply is primed with <|start|>assistant<|message|>
IMAGE_TOKENS = 85  # an image part costs what OpenAI charges for a low-detail image
TRANSCRIBE_MODELS = frozenset({"whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"})
AUDIO_FORMATS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
AUDIO_LIMIT = 25 * 1024 * 1024
OPUS_BYTES_PER_SECOND = 2000  # a voice message's duration, guessed from its size (16 kbit/s Opus)


def token_pieces(text: str) -> list[str]:
    """``text`` cut into the stand-in's tokens (joined, they give ``text`` back)."""
    return _TOKEN.findall(text)


def count_tokens(text: str) -> int:
    """How many tokens ``text`` is for the stand-in (see ``token_pieces``)."""
    return sum(1 for piece in token_pieces(text) if not piece.isspace())


def message_text(message: dict[str, Any]) -> str:
    """The text of a chat message, whether ``content`` is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def image_parts(body: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The ``image_url`` parts of a chat request, in order: ``{"url", "detail", "mime", "data"}``.

    ``mime`` and ``data`` (the decoded bytes) are filled in for data URLs, None otherwise.
    """
    found = []
    for message in (body or {}).get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            if not isinstance(part, dict) or part.get("type") != "image_url":
                continue
            image = part.get("image_url") or {}
            url = str(image.get("url") or "") if isinstance(image, dict) else ""
            mime: str | None = None
            data: bytes | None = None
            match = re.match(r"data:([\w/+.-]+);base64,(.*)$", url, re.S)
            if match:
                mime = match.group(1)
                try:
                    data = base64.b64decode(match.group(2), validate=True)
                except (binascii.Error, ValueError):
                    data = None
            found.append({"url": url, "detail": image.get("detail", "auto"), "mime": mime, "data": data})
    return found


def prompt_tokens(body: dict[str, Any]) -> int:
    """The request's messages in the stand-in's tokens: text, per-message overhead, images."""
    messages = body.get("messages") or []
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        if isinstance(message, dict):
            total += PER_MESSAGE_TOKENS + count_tokens(message_text(message))
    return total + IMAGE_TOKENS * len(image_parts(body))


@dataclass
class ScriptedReply:
    """The next chat answer: its text (``{question}`` and ``{images}`` are filled in), its pace."""

    text: str
    model: str | None = None  # only requests for this model
    chunk_tokens: int | None = None
    delay: float | None = None
    finish_reason: str = "stop"


@dataclass
class ChatSeen:
    """What a chat request asked, as a replier function gets it."""

    model: str
    messages: list[dict[str, Any]]
    question: str  # the last user message's text
    images: list[dict[str, Any]]  # image_parts(...)
    prompt_tokens: int
    stream: bool


class OpenAIStandIn(_StandIn):
    """images/generations, images/edits (multipart), chat/completions, moderations, audio/transcriptions.

    Chat completions, for the assistant:

    - the answer is the next ``reply_next(...)`` text, else ``replier(seen)`` if set, else a
      default (a photo description when the request has an image, as the describe feature
      expects; otherwise "You asked: <question>", in Russian for a Cyrillic question);
    - ``stream: true`` answers server-sent events as OpenAI does: a first chunk with the role,
      content chunks of ``chunk_tokens`` tokens each ``stream_delay`` seconds apart, a chunk with
      ``finish_reason``, with ``stream_options.include_usage`` a last chunk with empty
      ``choices`` and ``usage``, then ``data: [DONE]``;
    - ``max_tokens`` / ``max_completion_tokens`` cut the answer (``finish_reason: "length"``);
    - messages over the model's window (``context_window``, or ``context_windows[model]``) plus
      the completion budget answer 400 ``context_length_exceeded``;
    - ``image_url`` parts must be http(s) or base64 data URLs of png/jpeg/gif/webp
      (else 400 ``invalid_image_format``); ``image_parts(record.json)`` decodes them.

    Failures, per test (``path`` narrows any of them to one endpoint, e.g. "/chat/completions"
    or "/audio/transcriptions"; ``key`` to one API key): ``fail_next("rate_limit",
    retry_after=2)`` (429 + Retry-After), ``fail_next("server_error")`` (500),
    ``fail_next("context_length_exceeded")``; ``stall_next(seconds)`` answers that much later
    (beyond the client's timeout: a timeout), ``stall_next(seconds, after=3)`` pauses a stream
    after 3 content chunks; ``cut_next(after=3)`` drops the connection after 3 content chunks
    (no finish chunk, no [DONE]); ``stream_error_next(after=3)`` sends an error event instead.
    """

    def __init__(
        self,
        keys: Iterable[str] = ("sk-test-openai",),
        *,
        context_window: int = 8192,
        stream_delay: float = 0.0,
        chunk_tokens: int = 3,
    ) -> None:
        super().__init__(keys)
        self._flagged: set[str] = set()
        self._ids = itertools.count(1)
        self.context_window = context_window
        self.context_windows: dict[str, int] = {}
        self.stream_delay = stream_delay
        self.chunk_tokens = chunk_tokens
        self.replier: Callable[[ChatSeen], str] | None = None
        self._replies: list[ScriptedReply] = []
        self._transcripts: list[str] = []
        self.default_transcript = "What is the weather like on Mars?"

    def start(self) -> OpenAIStandIn:
        super().start()
        return self

    @property
    def base_url(self) -> str:
        """What ``OPENAI_BASE_URL`` should be (the SDK expects the ``/v1`` prefix in it)."""
        return f"{self.root_url}/v1"

    def _reset(self) -> None:
        with self._lock:
            self._flagged.clear()
            self._replies.clear()
            self._transcripts.clear()
            self.context_windows.clear()
        self.replier = None

    def flag(self, word: str) -> None:
        """Moderation flags any input containing ``word`` (case-insensitive)."""
        with self._lock:
            self._flagged.add(word.casefold())

    # -- scripting -----------------------------------------------------------------------------

    def reply_next(
        self,
        *texts: str,
        model: str | None = None,
        chunk_tokens: int | None = None,
        delay: float | None = None,
        finish_reason: str = "stop",
    ) -> None:
        """The next chat answers, one per text, in order (``{question}``, ``{images}`` filled in).

        ``chunk_tokens`` / ``delay`` override the stream's pace for these answers;
        ``finish_reason="content_filter"`` ends them as a filtered answer does.
        """
        with self._lock:
            self._replies.extend(ScriptedReply(t, model, chunk_tokens, delay, finish_reason) for t in texts)

    def transcript_next(self, *texts: str) -> None:
        """The next transcriptions' texts, in order (afterwards ``default_transcript``)."""
        with self._lock:
            self._transcripts.extend(texts)

    def set_context_window(self, model: str, tokens: int) -> None:
        with self._lock:
            self.context_windows[model] = tokens

    def window(self, model: str) -> int:
        with self._lock:
            return self.context_windows.get(model, self.context_window)

    def fail_next(
        self,
        failure: str = "server_error",
        *,
        count: int = 1,
        key: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Queue a canned failure by name: see ``OPENAI_FAILURES`` (429s: ``retry_after`` seconds)."""
        status, kind, code, message = OPENAI_FAILURES[failure]
        headers = {"retry-after": _seconds(retry_after)} if retry_after is not None else {}
        body = openai_error(message, kind, code, "messages" if code == "context_length_exceeded" else None)
        self.script(*[Behaviour("error", status, body, headers, key=key, path=path) for _ in range(count)])

    def stall_next(
        self, seconds: float, *, after: int | None = None, count: int = 1, path: str | None = None
    ) -> None:
        """The next answer comes ``seconds`` late (set it beyond the client's timeout for a timeout).

        ``after=n``: a stream sends n content chunks, then pauses. A stalled answer whose client
        has gone is dropped (the stand-in never writes to a closed connection).
        """
        self.script(*[Behaviour("stall", seconds=seconds, after=after, path=path) for _ in range(count)])

    def cut_next(self, *, after: int = 2, count: int = 1) -> None:
        """The next streamed answer drops the connection after ``after`` content chunks."""
        self.script(*[Behaviour("cut", after=after, path="/chat/completions") for _ in range(count)])

    def stream_error_next(self, *, after: int = 2, failure: str = "server_error") -> None:
        """The next streamed answer sends an ``error`` event after ``after`` chunks and ends."""
        status, kind, code, message = OPENAI_FAILURES[failure]
        body = openai_error(message, kind, code)
        self.script(Behaviour("stream_error", status, body, after=after, path="/chat/completions"))

    def chat_requests(self) -> list[Recorded]:
        return self.requests_to("/chat/completions")

    # -- HTTP ----------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        key = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        record = await self._record(request, key)
        if key is None or key not in self.keys:
            body = openai_error(
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
            return web.json_response(body, status=401)
        if self._quota_hit(key):
            status, kind, code, message = OPENAI_FAILURES["insufficient_quota"]
            return web.json_response(openai_error(message, kind, code), status=status)
        path = request.path
        stall = self._take(path, key, kinds=("stall",))
        if stall is not None and stall.after is not None and not _streaming(record):
            stall.after = None  # nothing to pause in the middle of: answer late instead
        if stall is not None and stall.after is None:
            if not await _sleep_while_connected(request, stall.seconds):
                return web.Response(status=499)  # the client gave up: nobody reads this
            stall = None
        scripted = self._take(path, key, kinds=("error",))
        if scripted is not None:
            return web.json_response(scripted.body, status=scripted.status, headers=scripted.headers)
        if path == "/v1/images/generations":
            prompt = str((record.json or {}).get("prompt", ""))
            return self._image_answer(_png(f"openai {prompt}"))
        if path == "/v1/images/edits":
            if "image" not in record.form and "image[]" not in record.form:
                body = openai_error(
                    "image is required", "invalid_request_error", "missing_required_parameter", "image"
                )
                return web.json_response(body, status=400)
            return self._image_answer(_png(f"openai edit {record.form.get('prompt', '')}"))
        if path == "/v1/chat/completions":
            return await self._chat(request, record, key, stall)
        if path == "/v1/moderations":
            return self._moderation(record)
        if path == "/v1/audio/transcriptions":
            return self._transcription(record)
        return web.json_response(
            openai_error(f"Invalid URL (POST {path})", "invalid_request_error", None), status=404
        )

    def _image_answer(self, png: bytes) -> web.Response:
        return web.json_response(
            {
                "created": int(time.time()),
                "background": "opaque",
                "data": [{"b64_json": base64.b64encode(png).decode()}],
                "output_format": "png",
                "quality": "medium",
                "size": "1024x1024",
                "usage": {"input_tokens": 50, "output_tokens": 1056, "total_tokens": 1106},
            }
        )

    # -- chat completions ------------------------------------------------------------------------

    def _chat_error(self, body: dict[str, Any]) -> web.Response | None:
        """Telegram-free checks OpenAI makes before answering: shape, images, the context window."""
        model = body.get("model")
        messages = body.get("messages")
        if not isinstance(model, str) or not model:
            return _bad("you must provide a model parameter", None, None)
        if not isinstance(messages, list) or not messages:
            return _bad(
                "[] is too short - 'messages'" if messages == [] else "'messages' is a required property",
                "messages",
                "invalid_value" if messages == [] else "missing_required_parameter",
            )
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in (
                "system",
                "developer",
                "user",
                "assistant",
                "tool",
            ):
                return _bad(
                    f"Invalid value for 'role' in messages[{index}].",
                    f"messages[{index}].role",
                    "invalid_value",
                )
        for image in image_parts(body):
            url = image["url"]
            if url.startswith(("http://", "https://")):
                continue
            if image["data"] is None or image["mime"] not in (
                "image/png",
                "image/jpeg",
                "image/gif",
                "image/webp",
            ):
                return _bad(
                    "You uploaded an unsupported image. Please make sure your image is below 20 MB in size "
                    "and is of one the following formats: ['png', 'jpeg', 'gif', 'webp'].",
                    None,
                    "invalid_image_format",
                )
        used = prompt_tokens(body)
        wanted = body.get("max_completion_tokens") or body.get("max_tokens") or 0
        window = self.window(model)
        if used + int(wanted) > window:
            if wanted:
                message = (
                    f"This model's maximum context length is {window} tokens. However, you requested "
                    f"{used + int(wanted)} tokens ({used} in the messages, {int(wanted)} in the completion). "
                    "Please reduce the length of the messages or completion."
                )
            else:
                message = (
                    f"This model's maximum context length is {window} tokens. However, your messages "
                    f"resulted in {used} tokens. Please reduce the length of the messages."
                )
            return _bad(message, "messages", "context_length_exceeded")
        return None

    def _answer_for(self, seen: ChatSeen) -> ScriptedReply:
        with self._lock:
            for i, reply in enumerate(self._replies):
                if reply.model is None or reply.model == seen.model:
                    chosen: ScriptedReply | None = self._replies.pop(i)
                    break
            else:
                chosen = None
        if chosen is None:
            replier = self.replier
            if replier is not None:
                chosen = ScriptedReply(replier(seen))
            elif seen.images:  # the describe feature: a photo description
                russian = any("Russian" in message_text(m) for m in seen.messages)
                chosen = ScriptedReply(
                    "Уютная фотография, мягкий свет, тёплые тона, высокая детализация"
                    if russian
                    else "A cosy photo, soft light, warm tones, highly detailed"
                )
            elif re.search("[А-Яа-яЁё]", seen.question):
                chosen = ScriptedReply("Вы спросили: {question}")
            else:
                chosen = ScriptedReply("You asked: {question}")
        text = chosen.text.replace("{question}", seen.question).replace("{images}", str(len(seen.images)))
        return ScriptedReply(text, chosen.model, chosen.chunk_tokens, chosen.delay, chosen.finish_reason)

    async def _chat(
        self, request: web.Request, record: Recorded, key: str | None, stall: Behaviour | None
    ) -> web.StreamResponse:
        body = record.json if isinstance(record.json, dict) else {}
        refused = self._chat_error(body)
        if refused is not None:
            return refused
        messages = [m for m in body["messages"] if isinstance(m, dict)]
        users = [m for m in messages if m.get("role") == "user"]
        seen = ChatSeen(
            model=body["model"],
            messages=messages,
            question=message_text(users[-1]) if users else "",
            images=image_parts(body),
            prompt_tokens=prompt_tokens(body),
            stream=bool(body.get("stream")),
        )
        reply = self._answer_for(seen)
        pieces = token_pieces(reply.text)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish = reply.finish_reason
        if isinstance(limit, int) and limit > 0 and count_tokens(reply.text) > limit:
            kept, used = [], 0
            for piece in pieces:
                used += 0 if piece.isspace() else 1
                if used > limit:
                    break
                kept.append(piece)
            pieces, finish = kept, "length"
        text = "".join(pieces)
        usage = {
            "prompt_tokens": seen.prompt_tokens,
            "completion_tokens": count_tokens(text),
            "total_tokens": seen.prompt_tokens + count_tokens(text),
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        ident, created = f"chatcmpl-{next(self._ids)}", int(time.time())
        if not seen.stream:
            return web.json_response(
                {
                    "id": ident,
                    "object": "chat.completion",
                    "created": created,
                    "model": seen.model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {
                                "role": "assistant",
                                "content": text,
                                "refusal": None,
                                "annotations": [],
                            },
                            "logprobs": None,
                            "finish_reason": finish,
                        }
                    ],
                    "usage": usage,
                    "service_tier": "default",
                    "system_fingerprint": "fp_standin",
                }
            )
        trouble = self._take(request.path, key, kinds=("cut", "stream_error"))
        options = body.get("stream_options") or {}
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        size = max(1, reply.chunk_tokens or self.chunk_tokens)
        delay = self.stream_delay if reply.delay is None else reply.delay
        chunks = ["".join(pieces[i : i + size]) for i in range(0, len(pieces), size)]
        return await self._stream(
            request,
            ident,
            created,
            seen.model,
            chunks,
            finish,
            usage if include_usage else None,
            delay=delay,
            stall=stall,
            trouble=trouble,
        )

    async def _stream(
        self,
        request: web.Request,
        ident: str,
        created: int,
        model: str,
        chunks: list[str],
        finish: str,
        usage: dict[str, Any] | None,
        *,
        delay: float,
        stall: Behaviour | None,
        trouble: Behaviour | None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200,
            headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"},
        )
        await response.prepare(request)

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            payload: dict[str, Any] = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "service_tier": "default",
                "system_fingerprint": "fp_standin",
                "choices": choices,
            }
            if usage is not None:
                payload["usage"] = None
            payload.update(extra)
            return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()

        def delta(content: dict[str, Any], reason: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": content, "logprobs": None, "finish_reason": reason}]

        try:
            await response.write(chunk(delta({"role": "assistant", "content": "", "refusal": None})))
            for sent, piece in enumerate(chunks):
                paused = stall is not None and stall.after == sent
                if paused and stall is not None and not await _sleep_while_connected(request, stall.seconds):
                    return response
                if trouble is not None and trouble.after == sent:
                    return await self._break_stream(request, response, trouble)
                if delay > 0 and sent > 0:
                    await asyncio.sleep(delay)
                await response.write(chunk(delta({"content": piece})))
            if trouble is not None:  # asked to break after more chunks than there are: at the end
                return await self._break_stream(request, response, trouble)
            await response.write(chunk(delta({}, finish)))
            if usage is not None:
                await response.write(chunk([], usage=usage))
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except (ConnectionError, RuntimeError):  # the client went away mid-stream
            logger.info("openai stand-in: the client left a stream")
        return response

    async def _break_stream(
        self, request: web.Request, response: web.StreamResponse, trouble: Behaviour
    ) -> web.StreamResponse:
        if trouble.kind == "stream_error":
            await response.write(f"data: {json.dumps(trouble.body)}\n\n".encode())
            await response.write_eof()
            return response
        transport = request.transport
        if transport is not None:
            transport.close()  # what was written is flushed, then the connection ends mid-body
        return response

    # -- moderation, transcription ---------------------------------------------------------------

    def _moderation(self, record: Recorded) -> web.Response:
        body = record.json or {}
        raw = body.get("input", "")
        inputs = raw if isinstance(raw, list) else [raw]
        names = ("sexual", "hate", "harassment", "self-harm", "sexual/minors", "violence", "illicit")
        with self._lock:
            flagged_words = set(self._flagged)
        results = []
        for item in inputs:
            text = (item if isinstance(item, str) else json.dumps(item)).casefold()
            hit = any(word in text for word in flagged_words)
            categories = {n: (hit and n == "violence") for n in names}
            scores = {n: (0.93 if categories[n] else 0.0004) for n in names}
            results.append(
                {
                    "flagged": hit,
                    "categories": categories,
                    "category_scores": scores,
                    "category_applied_input_types": {n: ["text"] for n in names},
                }
            )
        return web.json_response(
            {
                "id": f"modr-{next(self._ids)}",
                "model": body.get("model", "omni-moderation-latest"),
                "results": results,
            }
        )

    def _transcription(self, record: Recorded) -> web.Response:
        """``POST /v1/audio/transcriptions`` (multipart: file, model, language, prompt, response_format)."""
        form = record.form
        upload = form.get("file")
        if not isinstance(upload, dict):
            return _bad("'file' is a required property", "file", "missing_required_parameter")
        model = str(form.get("model") or "")
        if not model:
            return _bad("'model' is a required property", "model", "missing_required_parameter")
        if model not in TRANSCRIBE_MODELS:
            body = openai_error(
                f"The model `{model}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            )
            return web.json_response(body, status=404)
        data: bytes = upload["data"]
        if len(data) > AUDIO_LIMIT:
            return web.json_response(
                openai_error(
                    f"Maximum content size limit ({AUDIO_LIMIT}) exceeded ({len(data)} bytes read)",
                    "invalid_request_error",
                    None,
                ),
                status=413,
            )
        name = str(upload.get("filename") or "")
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if extension not in AUDIO_FORMATS:
            return _bad(
                f"Invalid file format. Supported formats: {list(AUDIO_FORMATS)}", "file", "invalid_value"
            )
        if not data or (extension in ("ogg", "oga") and not data.startswith(b"OggS")):
            return _bad("Audio file might be corrupted or unsupported", "file", "invalid_value")
        response_format = str(form.get("response_format") or "json")
        if response_format not in ("json", "text", "verbose_json", "srt", "vtt") or (
            model != "whisper-1" and response_format not in ("json", "text")
        ):
            return _bad(
                f"response_format '{response_format}' is not compatible with model '{model}'.",
                "response_format",
                "unsupported_value",
            )
        with self._lock:
            text = self._transcripts.pop(0) if self._transcripts else self.default_transcript
        seconds = max(1, math.ceil(len(data) / OPUS_BYTES_PER_SECOND))
        if response_format == "text":
            return web.Response(text=text + "\n", content_type="text/plain")
        if model == "whisper-1":
            usage: dict[str, Any] = {"type": "duration", "seconds": seconds}
        else:
            audio_tokens = seconds * 10
            usage = {
                "type": "tokens",
                "input_tokens": audio_tokens,
                "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
                "output_tokens": count_tokens(text),
                "total_tokens": audio_tokens + count_tokens(text),
            }
        answer: dict[str, Any] = {"text": text, "usage": usage}
        if response_format == "verbose_json":
            answer = {
                "task": "transcribe",
                "language": str(form.get("language") or "english"),
                "duration": float(seconds),
                "text": text,
                "segments": [],
                "usage": usage,
            }
        return web.json_response(answer)


def _bad(message: str, param: str | None, code: str | None) -> web.Response:
    return web.json_response(openai_error(message, "invalid_request_error", code, param), status=400)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _streaming(record: Recorded) -> bool:
    return isinstance(record.json, dict) and bool(record.json.get("stream"))


async def _sleep_while_connected(request: web.Request, seconds: float) -> bool:
    """Sleep ``seconds`` unless the client hangs up first; True if it is still there."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        transport = request.transport
        if transport is None or transport.is_closing():
            return False
        await asyncio.sleep(min(left, 0.05))
    transport = request.transport
    return transport is not None and not transport.is_closing()
