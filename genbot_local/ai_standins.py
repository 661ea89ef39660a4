"""HTTP stand-ins for the Gemini and OpenAI APIs: the real adapters talk to these offline.

Each runs an aiohttp server on 127.0.0.1 (random port) in a background thread, checks the API
key the way the real service does (Gemini: ``x-goog-api-key`` header or ``key`` query;
OpenAI: ``Authorization: Bearer``), answers with the real response and error shapes, and
records every request (thread-safe) so tests can assert what went over the wire.

Scripting, per test: ``fail_next(...)`` queues canned failures (optionally only for one key
or one endpoint), ``over_quota(key)`` makes a key answer 429 until ``clear()``, Gemini's
``block_next("prompt" | "image" | "no_image")`` simulates safety answers and
``filter_next_video()`` a Veo RAI filter; OpenAI's ``flag(word)`` makes moderation flag
prompts containing the word, and ``refuse_next()`` a ``moderation_blocked`` image refusal.

    gemini = GeminiStandIn(keys=["key-a", "key-b"]).start()
    os.environ["GEMINI_BASE_URL"] = gemini.base_url
    ...
    gemini.stop()
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import threading
import time
from collections.abc import Iterable
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

    kind: str  # error | prompt_blocked | image_safety | no_image | rai_filtered | op_error | refuse
    status: int = 0
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    key: str | None = None  # only requests made with this key
    path: str | None = None  # only requests whose path contains this


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
    "moderation_blocked": (
        400,
        "image_generation_user_error",
        "moderation_blocked",
        "Your request was rejected by the safety system. If you believe this is an error, contact us.",
    ),
    "bad_request": (400, "invalid_request_error", "invalid_value", "Invalid image file or mode for image 1."),
}


class OpenAIStandIn(_StandIn):
    """images/generations, images/edits (multipart), chat/completions, moderations."""

    def __init__(self, keys: Iterable[str] = ("sk-test-openai",)) -> None:
        super().__init__(keys)
        self._flagged: set[str] = set()
        self._ids = itertools.count(1)

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

    def flag(self, word: str) -> None:
        """Moderation flags any input containing ``word`` (case-insensitive)."""
        with self._lock:
            self._flagged.add(word.casefold())

    def fail_next(
        self,
        failure: str = "server_error",
        *,
        count: int = 1,
        key: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Queue a canned failure by name: see ``OPENAI_FAILURES``."""
        status, kind, code, message = OPENAI_FAILURES[failure]
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        body = openai_error(message, kind, code)
        self.script(*[Behaviour("error", status, body, headers, key=key, path=path) for _ in range(count)])

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
        scripted = self._take(request.path, key)
        if scripted is not None:
            return web.json_response(scripted.body, status=scripted.status, headers=scripted.headers)
        path = request.path
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
            return self._chat(record)
        if path == "/v1/moderations":
            return self._moderation(record)
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

    def _chat(self, record: Recorded) -> web.Response:
        body = record.json or {}
        text = json.dumps(body.get("messages", []), ensure_ascii=False)
        content = (
            "Уютная фотография, мягкий свет, тёплые тона, высокая детализация"
            if "Russian" in text
            else "A cosy photo, soft light, warm tones, highly detailed"
        )
        return web.json_response(
            {
                "id": f"chatcmpl-{next(self._ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "gpt-4.1-mini"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 300, "completion_tokens": 40, "total_tokens": 340},
            }
        )

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
