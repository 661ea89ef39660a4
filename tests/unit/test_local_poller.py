"""getUpdates long polling: offsets, retries, and Telegram's 401 / 409 answers made clear.

A few-line HTTP server plays Telegram here so the error bodies are exactly Telegram's.
"""

from __future__ import annotations

import threading
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

TOKEN = "123456:ABCDEFsecret"  # the fake's token (``fake_telegram.TOKEN``)


@pytest.fixture
def telegram(fake_telegram: Any) -> Any:
    return fake_telegram


def test_get_me_with_a_wrong_token_is_an_invalid_token(telegram: Any) -> None:
    poller = UpdatePoller(BotApi(telegram.url, "123456:wrong"), lambda u: None)
    with pytest.raises(InvalidTokenError) as caught:
        poller.get_me()
    assert caught.value.code == 401
    assert UpdatePoller(BotApi(telegram.url, TOKEN), lambda u: None).get_me()["username"] == "real_bot"


def test_updates_are_delivered_in_order_and_confirmed_by_the_offset(telegram: Any) -> None:
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


def test_a_failed_delivery_is_retried_like_telegram_retries_a_webhook(telegram: Any) -> None:
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


def test_a_webhook_conflict_explains_how_to_fix_it(telegram: Any) -> None:
    telegram.error = (409, telegram.WEBHOOK_CONFLICT)
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


def test_other_errors_and_the_run_loop(telegram: Any) -> None:
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
