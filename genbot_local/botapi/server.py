"""A local Telegram Bot API stand-in, so the bot runs and is tested offline against Telegram's rules.

aiogram talks to it through ``TelegramAPIServer.from_base(stand_in.base_url)``: the same
``/bot<token>/<method>`` and ``/file/bot<token>/<path>`` URLs, the same parameter encodings
(JSON, urlencoded form, multipart with uploads), the same ``{"ok": ..., "result": ...}``
envelope and error descriptions. What makes a bot fail in production fails here too: text and
caption limits, malformed HTML, oversized callback_data, "message is not modified", flood
control (429 with retry_after), users who blocked the bot (403). Messages are kept per chat so
edits and deletes behave, and the same state feeds the web chat page (``webchat.py``) where a
person can talk to the bot in a browser.

Everything runs in one background thread with its own asyncio loop; the Python API
(``inject_update``, ``user_message``, ``calls`` ...) is thread-safe and meant for tests.
The pieces: ``model.py`` (data), ``state.py`` (chats, updates, user-side helpers),
``methods.py`` (the Bot API methods), ``text.py`` (HTML and limits), ``files.py`` (uploads).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from genbot_local.botapi.files import FILE_UPLOAD_LIMIT
from genbot_local.botapi.methods import METHODS, BotApiMethods
from genbot_local.botapi.model import ApiError, FloodLimits, RecordedCall, SimUser, coerce, deep_copy
from genbot_local.botapi.text import BadRequest

log = logging.getLogger("genbot-local.botapi")
DEFAULT_TIMEZONE = "Europe/Moscow"  # the bot's own default (genbot.config.Settings.timezone)
Handler = Callable[[dict[str, Any], dict[str, bytes]], Awaitable[Any]]


class BotApiStandIn(BotApiMethods):
    """The Bot API stand-in: an aiohttp server in a background thread, plus helpers for tests."""

    def __init__(
        self,
        token: str = "123456:TEST-token",  # noqa: S107 (a fake bot token)
        bot_username: str = "genbot_local_bot",
        *,
        bot_first_name: str = "genbot",
        host: str = "127.0.0.1",
        port: int = 0,
        flood: FloodLimits | None = FloodLimits(),  # noqa: B008 (frozen)
        users: list[SimUser] | None = None,
        timezone: str | None = None,
    ) -> None:
        """``port=0`` picks a free port; ``flood=None`` turns flood control off.

        ``timezone`` is the clock the web chat shows message times in: the bot's (its
        ``TIMEZONE``, default Europe/Moscow), so they read like the times the bot writes.
        """
        super().__init__(token, bot_username, bot_first_name=bot_first_name, flood=flood, users=users)
        self.host, self.port = host, port
        self.timezone = _zone(timezone or os.environ.get("TIMEZONE") or DEFAULT_TIMEZONE)
        # the cabinet the web chat's menu button opens (the local stack sets it once it serves one)
        self.webapp_url: str | None = None
        self._calls_changed = threading.Condition(self._lock)
        self._calls: list[RecordedCall] = []
        self._scripted: dict[str, list[tuple[int, str, dict[str, Any] | None]]] = {}
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._callback_thread: threading.Thread | None = None
        self._methods: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, getattr(self, f"_m_{name}")) for name in METHODS
        }

    @property
    def base_url(self) -> str:
        """Where the server listens (``TELEGRAM_API_URL``); the web chat is at ``base_url + "/"``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> BotApiStandIn:
        """Start listening in a background thread; returns once the port is bound."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._closing = False
        self._thread = threading.Thread(target=run, name="botapi-standin", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        self._callback_thread = threading.Thread(
            target=self._run_callbacks, name="botapi-on-update", daemon=True
        )
        self._callback_thread.start()
        log.info("Bot API stand-in listening on %s (bot @%s)", self.base_url, self.bot_username)
        return self

    async def _serve(self) -> None:
        from genbot_local.botapi.webchat import add_routes

        self._changed = asyncio.Event()
        app = web.Application(client_max_size=FILE_UPLOAD_LIMIT + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        add_routes(app, self)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    def stop(self) -> None:
        """Stop the server (long polls end at once); safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._closing = True

        async def shutdown() -> None:
            self._wake()
            if self._runner is not None:
                await self._runner.cleanup()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None
        self._callback_queue.put(None)
        if self._callback_thread is not None:
            self._callback_thread.join(5)
            self._callback_thread = None

    def __enter__(self) -> BotApiStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the record ---------------------------------------------------------------------------

    @property
    def calls(self) -> list[RecordedCall]:
        """Every Bot API request so far (a copy), oldest first."""
        with self._lock:
            return list(self._calls)

    def calls_for(self, method: str) -> list[RecordedCall]:
        with self._lock:
            return [c for c in self._calls if c.method.lower() == method.lower()]

    def fail_next(
        self, method: str, status: int, description: str, *, times: int = 1, retry_after: int | None = None
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with this error (429s carry retry_after).

        For tests of how the bot takes Telegram's refusals: a 400 the stand-in's own checks
        wouldn't raise, a 401 for a revoked token, a 413, a 5xx.
        """
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        with self._lock:
            self._scripted.setdefault(method.lower(), []).extend([(status, description, parameters)] * times)

    def _scripted_failure(self, method: str) -> tuple[int, str, dict[str, Any] | None] | None:
        with self._lock:
            queued = self._scripted.get(method.lower())
            return queued.pop(0) if queued else None

    def clear_calls(self) -> None:
        """A fresh record for the next test: forget the calls and scripted failures, refill the buckets."""
        with self._lock:
            self._calls.clear()
            self._scripted.clear()
            self._global_bucket = None
            for chat in self._chats.values():
                chat.bucket = chat.edit_bucket = chat.draft_bucket = None

    def wait_for(self, predicate: Callable[[RecordedCall], bool] | str, timeout: float = 10) -> RecordedCall:
        """Block until a recorded call (already made or still to come) matches; TimeoutError if none.

        ``predicate`` may be a method name ("sendPhoto") or a function of the call.
        """
        if isinstance(predicate, str):
            name = predicate.lower()
            match: Callable[[RecordedCall], bool] = lambda call: call.method.lower() == name  # noqa: E731
        else:
            match = predicate
        deadline = time.monotonic() + timeout
        with self._calls_changed:
            while True:
                found = next((call for call in self._calls if match(call)), None)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no matching Bot API call within {timeout} s")
                self._calls_changed.wait(remaining)

    def _record(
        self, method: str, params: dict[str, Any], files: dict[str, bytes], response: dict[str, Any]
    ) -> None:
        with self._calls_changed:
            self._calls.append(RecordedCall(method, params, files, deep_copy(response), time.time()))
            if len(self._calls) > 20_000:
                del self._calls[:10_000]
            self._calls_changed.notify_all()

    # -- HTTP ---------------------------------------------------------------------------------

    @staticmethod
    def _answer(payload: dict[str, Any], status: int = 200) -> web.Response:
        return web.json_response(payload, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    @staticmethod
    def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            payload["parameters"] = parameters
        return payload

    async def _read_params(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, tuple[bytes, str, str]]]:
        params: dict[str, Any] = dict(request.query)
        uploads: dict[str, tuple[bytes, str, str]] = {}
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = json.loads(await request.read() or b"{}")
                except ValueError:
                    raise ApiError(400, "Bad Request: can't parse JSON object") from None
                if isinstance(body, dict):
                    params.update(body)
            elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        uploads[key] = (value.file.read(), value.filename, value.content_type)
                    else:
                        params[key] = value
        return {k: coerce(k, v) for k, v in params.items()}, uploads

    async def _handle_api(self, request: web.Request) -> web.Response:
        method_name = request.match_info["method"]
        params: dict[str, Any] = {}
        uploads: dict[str, tuple[bytes, str, str]] = {}
        files: dict[str, bytes] = {}
        canonical = method_name
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            params, uploads = await self._read_params(request)
            entry = self._methods.get(method_name.lower())
            if entry is None:
                raise ApiError(404, "Not Found")
            canonical, handler = entry
            scripted = self._scripted_failure(canonical)
            if scripted is not None:
                raise ApiError(*scripted)
            params["__uploads__"] = uploads
            try:
                result = await handler(params, files)
            finally:
                params.pop("__uploads__", None)
            payload: dict[str, Any] = {"ok": True, "result": result}
            if isinstance(result, tuple):  # (result, description) for setWebhook/deleteWebhook
                payload = {"ok": True, "result": result[0], "description": result[1]}
            status = 200
        except BadRequest as exc:
            payload, status = self._error(400, f"Bad Request: {exc}"), 400
        except ApiError as exc:
            payload, status = self._error(exc.code, exc.description, exc.parameters), exc.code
        except Exception:
            log.exception("stand-in failed on %s", method_name)
            payload, status = self._error(500, "Internal Server Error"), 500
        if status != 200:
            log.info("Bot API %s -> %s %s", canonical, status, payload.get("description"))
        attached = {
            v[len("attach://") :] for v in params.values() if isinstance(v, str) and v.startswith("attach://")
        }
        for key, (data, *_rest) in uploads.items():
            if key not in attached:
                files.setdefault(key, data)
        self._record(canonical, params, files, payload)
        return self._answer(payload, status)

    async def _handle_file(self, request: web.Request) -> web.Response:
        stored = self.files.by_path(request.match_info["path"])
        if request.match_info["token"] != self.token or stored is None or stored.data is None:
            return self._answer(self._error(404, "Not Found"), 404)
        return web.Response(body=stored.data, content_type=stored.mime_type)


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("TIMEZONE %r is not a time zone; the web chat shows %s", name, DEFAULT_TIMEZONE)
        return DEFAULT_TIMEZONE
    return name
