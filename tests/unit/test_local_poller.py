"""getUpdates long polling: offsets, retries, and Telegram's 401 / 409 answers made clear.

A few-line HTTP server plays Telegram here so the error bodies are exactly Telegram's.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from genbot_local.poller import (
    BotApi,
    InvalidTokenError,
    TelegramError,
    UpdatePoller,
    WebhookConflictError,
    mask_token,
    update_kind,
)

TOKEN = "123456:ABCDEFsecret"
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


class FakeTelegram:
    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.error: tuple[int, str] | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                method = self.path.rsplit("/", 1)[-1]
                params = json.loads(self.rfile.read(int(self.headers["Content-Length"] or 0)) or b"{}")
                fake.requests.append((method, params))
                status, payload = fake.answer(self.path, method, params)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if f"/bot{TOKEN}/" not in path:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        if self.error:
            code, text = self.error
            return code, {"ok": False, "error_code": code, "description": text}
        if method == "getMe":
            return 200, {"ok": True, "result": {"id": 123456, "is_bot": True, "username": "real_bot"}}
        offset = params.get("offset", 0)
        found = [u for u in self.updates if u["update_id"] >= offset]
        if not found and params.get("timeout"):
            threading.Event().wait(min(0.3, params["timeout"]))  # a (short) long poll
        return 200, {"ok": True, "result": found}


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram()
    yield fake
    fake.server.shutdown()


def test_get_me_with_a_wrong_token_is_an_invalid_token(telegram: FakeTelegram) -> None:
    poller = UpdatePoller(BotApi(telegram.url, "123456:wrong"), lambda u: None)
    with pytest.raises(InvalidTokenError) as caught:
        poller.get_me()
    assert caught.value.code == 401
    assert UpdatePoller(BotApi(telegram.url, TOKEN), lambda u: None).get_me()["username"] == "real_bot"


def test_updates_are_delivered_in_order_and_confirmed_by_the_offset(telegram: FakeTelegram) -> None:
    telegram.updates = [{"update_id": 10, "message": {}}, {"update_id": 11, "callback_query": {}}]
    delivered: list[int] = []
    poller = UpdatePoller(
        BotApi(telegram.url, TOKEN), lambda u: delivered.append(u["update_id"]) or {"statusCode": 200}
    )

    assert poller.poll_once(timeout=0) == 2
    assert poller.poll_once(timeout=0) == 0
    assert delivered == [10, 11]
    method, params = telegram.requests[-1]
    assert method == "getUpdates" and params["offset"] == 12
    assert "callback_query" in params["allowed_updates"]


def test_a_failed_delivery_is_retried_like_telegram_retries_a_webhook(telegram: FakeTelegram) -> None:
    telegram.updates = [{"update_id": 5, "message": {}}]
    answers = iter([RuntimeError("cold start crash"), {"statusCode": 500}, {"statusCode": 200}])

    def deliver(update: dict[str, Any]) -> Any:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    poller = UpdatePoller(BotApi(telegram.url, TOKEN), deliver, retries=2)
    poller.poll_once(timeout=0)
    assert poller.delivered == 1 and poller.offset == 6


def test_a_webhook_conflict_explains_how_to_fix_it(telegram: FakeTelegram) -> None:
    telegram.error = (409, WEBHOOK_CONFLICT)
    poller = UpdatePoller(BotApi(telegram.url, TOKEN), lambda u: None)
    with pytest.raises(WebhookConflictError) as caught:
        poller.poll_once(timeout=0)
    advice = caught.value.advice(TOKEN)
    assert "deleteWebhook" in advice and "webhook is set" in advice
    assert "ABCDEFsecret" not in advice  # the token is not printed in full

    telegram.error = (409, "Conflict: terminated by other getUpdates request")
    with pytest.raises(WebhookConflictError) as caught:
        poller.poll_once(timeout=0)
    assert "another process" in caught.value.advice(TOKEN)


def test_other_errors_and_the_run_loop(telegram: FakeTelegram) -> None:
    telegram.error = (502, "Bad Gateway")
    poller = UpdatePoller(BotApi(telegram.url, TOKEN), lambda u: None, timeout=0)
    with pytest.raises(TelegramError):
        poller.poll_once()
    poller.start()
    try:
        for _ in range(100):
            if poller.last_error is not None:
                break
            threading.Event().wait(0.05)
        assert poller.last_error is not None and poller.last_error.code == 502
    finally:
        poller.stop(timeout=10)


def test_helpers() -> None:
    assert mask_token(TOKEN) == "123456:ABC…"
    assert update_kind({"update_id": 1, "my_chat_member": {}}) == "my_chat_member"
