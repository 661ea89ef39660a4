"""Helpers to build real event shapes from ``tests/events`` and deliver them."""

from __future__ import annotations

import copy
import itertools
import json
import os
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).parent / "events"
BOT_TOKEN = "7000000001:TEST-token-for-genbot_0123456789"
WEBHOOK_SECRET = "test-webhook-secret_0123456789"
_update_ids = itertools.count(100_000)


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def telegram_update(name: str, *, user_id: int | None = None, **changes: Any) -> dict[str, Any]:
    """A Telegram update from ``events/telegram/<name>.json`` with a fresh update_id.

    ``user_id`` rewrites the sender and chat; other keyword arguments replace fields of the
    update's payload object (``text="/balance"`` on a message, ``data=...`` on a callback).
    """
    update = load_event(f"telegram/{name}.json")
    update["update_id"] = next(_update_ids)
    payload_key = next(k for k in update if k != "update_id")
    payload = update[payload_key]
    if user_id is not None:
        _rewrite_user(payload, user_id)
    payload.update(changes)
    if payload_key in ("callback_query", "pre_checkout_query") and "id" not in changes:
        payload["id"] = str(
            7_000_000_000_000_000_000 + update["update_id"]
        )  # unique per press, as Telegram's
    if payload_key == "message" and "text" in changes:
        text = changes["text"]
        payload.pop("entities", None)
        if text.startswith("/"):
            payload["entities"] = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
    return update


def _rewrite_user(node: Any, user_id: int) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("from", "chat") and isinstance(value, dict) and not value.get("is_bot"):
                value["id"] = user_id
            else:
                _rewrite_user(value, user_id)
    elif isinstance(node, list):
        for item in node:
            _rewrite_user(item, user_id)


def api_event(update: dict[str, Any] | str, *, secret: str | None = WEBHOOK_SECRET) -> dict[str, Any]:
    """API Gateway HTTP API (payload 2.0) event carrying ``update`` as Telegram sends it."""
    event = copy.deepcopy(load_event("apigw_http_telegram.json"))
    body = update if isinstance(update, str) else json.dumps(update, ensure_ascii=False)
    event["body"] = body
    event["headers"]["content-length"] = str(len(body.encode()))
    if secret is None:
        del event["headers"]["x-telegram-bot-api-secret-token"]
    else:
        event["headers"]["x-telegram-bot-api-secret-token"] = secret
    return event


def deliver(update: dict[str, Any] | str, *, secret: str | None = WEBHOOK_SECRET) -> dict[str, Any]:
    """Telegram's side of a delivery: invoke the webhook, then execute its reply method."""
    from genbot_local.invoke import invoke
    from genbot_local.telegram_bridge import perform_webhook_reply

    response: dict[str, Any] = invoke("webhook", api_event(update, secret=secret))
    api = os.environ.get("TELEGRAM_API_URL")
    if api:
        response["telegram_result"] = perform_webhook_reply(api, BOT_TOKEN, response)
    return response


def reply_body(response: dict[str, Any]) -> dict[str, Any]:
    return json.loads(response["body"]) if response.get("body") else {}


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """A Lambda SQS event for messages received from SQS (the local event source's own records)."""
    from genbot_local.sqs_driver import to_record

    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    return {"Records": [to_record(message, queue_arn, region) for message in messages]}
