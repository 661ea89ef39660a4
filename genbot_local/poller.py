"""Telegram long polling in front of the webhook function.

In AWS, Telegram POSTs each update to API Gateway, which invokes ``webhook`` with an HTTP API
event carrying the secret header; Telegram then executes the method in the response. Locally
(no public URL) ``UpdatePoller`` gets the same updates with ``getUpdates`` from the real
Telegram or the Bot API stand-in, and ``deliver`` plays the rest of Telegram's part: the
same event, the same secret, the same reply handling. A failed delivery is retried a couple
of times, as Telegram retries a webhook that fails; the offset then moves on regardless.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from genbot.resources import FUNCTIONS
from genbot_local.apigw import build_event

log = logging.getLogger("genbot-local.poller")
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "pre_checkout_query", "my_chat_member"]
SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 (a header name)
UPDATE_KINDS = (
    "message",
    "edited_message",
    "callback_query",
    "pre_checkout_query",
    "my_chat_member",
    "chat_member",
    "inline_query",
    "shipping_query",
    "channel_post",
)


class TelegramError(RuntimeError):
    def __init__(self, method: str, code: int, description: str) -> None:
        super().__init__(f"{method}: {code} {description}")
        self.method, self.code, self.description = method, code, description


class InvalidTokenError(TelegramError):
    """getMe said 401/404: the token is wrong or revoked."""


class WebhookConflictError(TelegramError):
    """409 from getUpdates: a webhook is set, or another process polls with this token."""

    def advice(self, token: str) -> str:
        masked = mask_token(token)
        if "webhook" in self.description.lower():
            return (
                "Telegram refuses getUpdates while a webhook is set for this bot "
                f"({self.description}).\n"
                "genbot dev does not delete webhooks on its own: the deployed bot would stop "
                "receiving updates. If you want this machine to get them, delete it:\n"
                f"  curl -s 'https://api.telegram.org/bot{masked}/deleteWebhook'   "
                "(put in your full token)\n"
                "and set it again later by deploying (the set_webhook custom resource), "
                "or use a separate test bot token for local runs."
            )
        return (
            f"Telegram says another process is polling with this token ({self.description}).\n"
            "Stop the other `genbot dev` (or bot) using it, or use a separate test bot token."
        )


def mask_token(token: str) -> str:
    head, _, secret = token.partition(":")
    return f"{head}:{secret[:3]}…" if secret else "…"


def update_kind(update: dict[str, Any]) -> str:
    return next((k for k in update if k != "update_id"), "unknown")


class BotApi:
    """The few Bot API calls the poller makes, over plain HTTP (no aiogram session)."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> Any:
        request = urllib.request.Request(  # noqa: S310 (the configured Bot API)
            f"{self.base_url}/bot{self.token}/{method}",
            data=json.dumps(params or {}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
                payload = json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                payload = json.loads(exc.read() or b"{}")
            except ValueError:
                payload = {}
            code = int(payload.get("error_code") or exc.code)
            description = str(payload.get("description") or exc.reason)
            if method == "getMe" and code in (401, 404):
                raise InvalidTokenError(method, code, description) from None
            if code == 409:
                raise WebhookConflictError(method, code, description) from None
            raise TelegramError(method, code, description) from None
        if not payload.get("ok"):
            raise TelegramError(method, int(payload.get("error_code") or 0), str(payload.get("description")))
        return payload.get("result")


class UpdatePoller:
    """getUpdates long polling; each update goes to ``deliver(update)`` in order."""

    def __init__(
        self,
        api: BotApi,
        deliver: Callable[[dict[str, Any]], Any],
        *,
        timeout: int = 25,
        allowed_updates: list[str] | None = None,
        retries: int = 2,
    ) -> None:
        self.api = api
        self.deliver = deliver
        self.timeout = timeout
        self.allowed_updates = allowed_updates or ALLOWED_UPDATES
        self.retries = retries
        self.offset: int | None = None
        self.delivered = 0
        self.last_error: TelegramError | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def get_me(self) -> dict[str, Any]:
        me: dict[str, Any] = self.api.call("getMe", timeout=15)
        return me

    def poll_once(self, timeout: int | None = None) -> int:
        """One getUpdates call; delivers what it returns; returns how many."""
        wait = self.timeout if timeout is None else timeout
        params: dict[str, Any] = {"timeout": wait, "allowed_updates": self.allowed_updates}
        if self.offset is not None:
            params["offset"] = self.offset
        updates = self.api.call("getUpdates", params, timeout=wait + 15) or []
        for update in updates:
            if self._stop.is_set():
                break
            self._deliver(update)
            self.offset = int(update["update_id"]) + 1
        return len(updates)

    def _deliver(self, update: dict[str, Any]) -> None:
        for attempt in range(self.retries + 1):
            try:
                response = self.deliver(update)
            except Exception as exc:
                log.warning("update %s: delivery raised %s", update.get("update_id"), exc)
                response = None
            status = response.get("statusCode") if isinstance(response, dict) else None
            if isinstance(status, int) and status < 500:
                self.delivered += 1
                return
            if attempt < self.retries:
                self._stop.wait(0.5 * (attempt + 1))
        log.warning("update %s given up after %d attempts", update.get("update_id"), self.retries + 1)

    def run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self.poll_once()
                failures, self.last_error = 0, None
            except TelegramError as exc:
                failures += 1
                if not isinstance(self.last_error, type(exc)) or exc.code != getattr(
                    self.last_error, "code", 0
                ):
                    advice = exc.advice(self.api.token) if isinstance(exc, WebhookConflictError) else str(exc)
                    log.error("getUpdates failed: %s", advice)
                self.last_error = exc
                self._stop.wait(min(30.0, 2.0 * failures))
            except OSError as exc:  # network trouble, the stand-in restarting, ...
                if self._stop.is_set():
                    break
                failures += 1
                log.warning("getUpdates: %s; retrying", exc)
                self._stop.wait(min(30.0, 0.5 * 2**failures))

    def start(self) -> UpdatePoller:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="telegram-poller", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the current long poll returns (at most ``self.timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout if timeout is not None else self.timeout + 5)
            self._thread = None


def webhook_event(update: dict[str, Any], secret: str, host: str = "127.0.0.1") -> dict[str, Any]:
    """The API Gateway event Telegram's POST of ``update`` to ``/telegram`` becomes."""
    body = json.dumps(update, ensure_ascii=False)
    method, path = FUNCTIONS["webhook"].http_routes[0]
    return build_event(
        f"{method} {path}",
        headers={
            "content-type": "application/json",
            "accept-encoding": "gzip, deflate",
            SECRET_HEADER: secret,
        },
        body=body,
        source_ip="91.108.6.64",  # Telegram's delivery range
    )
