"""The webhook's domain side: an API Gateway HTTP API event in, an HTTP response out.

Secret check (constant time) -> parse -> dedupe -> aiogram -> the handler's reply goes back
in the response body when it can (Telegram executes it; one round trip saved).

aiogram on Lambda: see ``genbot.runtime`` (one loop and Bot per thread, kept warm).
"""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any

from aiogram import Bot
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from aiogram.types.update import UpdateTypeLookupError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from pydantic import ValidationError

from genbot import runtime
from genbot.bot.dedupe import first_delivery
from genbot.bot.dispatcher import build_dispatcher
from genbot.config import ConfigError, get_settings
from genbot.observability import logger, metrics
from genbot.telegram import webhook_reply

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)


def _event_type(update: Update) -> str:
    """The update's kind (message, callback_query, ...); "unknown" for kinds aiogram doesn't know."""
    try:
        return str(update.event_type)
    except UpdateTypeLookupError:
        return "unknown"


def _response(status: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body or {}, ensure_ascii=False),
    }


class WebhookApp:
    """Built once per process: the Dispatcher (and all of aiogram) before any snapshot."""

    def __init__(self) -> None:
        self.dispatcher = build_dispatcher()

    def handle(self, event: APIGatewayProxyEventV2, time_left_ms: int = 25_000) -> dict[str, Any]:
        """One delivery from Telegram. Only a forged or malformed request gets a non-2xx."""
        try:
            settings = get_settings()
        except ConfigError:
            logger.exception("configuration error")
            return _response(500, {"error": "configuration"})
        if not settings.webhook_secret or not settings.bot_token:
            logger.error("BOT_TOKEN and WEBHOOK_SECRET must be set")
            return _response(500, {"error": "configuration"})
        given = event.headers.get(SECRET_HEADER) or ""  # payload 2.0 lower-cases; lookup ignores case
        if not hmac.compare_digest(given.encode(), settings.webhook_secret.encode()):
            logger.warning(
                "webhook secret mismatch", extra={"source_ip": event.request_context.http.source_ip}
            )
            metrics.add_metric(name="ForgedWebhooks", unit="Count", value=1)
            return _response(401, {"error": "unauthorized"})

        try:
            raw = json.loads(event.decoded_body or "")
            update_id = raw.get("update_id") if isinstance(raw, dict) else None
            if not isinstance(update_id, int) or isinstance(update_id, bool):  # JSON true is no id
                raise ValueError("not a Telegram update")
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
            logger.warning("malformed webhook body", extra={"reason": str(exc)[:200]})
            return _response(400, {"error": "malformed update"})

        update_id = raw["update_id"]
        logger.append_keys(update_id=update_id)
        bot = runtime.bot()
        if not first_delivery(bot.id, update_id, settings.update_dedupe_ttl_seconds, time_left_ms):
            logger.info("duplicate update ignored")
            metrics.add_metric(name="DuplicateUpdates", unit="Count", value=1)
            return _response(200)

        try:
            update = Update.model_validate(raw, context={"bot": bot})
        except ValidationError as exc:
            logger.warning("update does not validate", extra={"errors": exc.errors()[:3]})
            return _response(200)  # Telegram would only resend the same thing
        metrics.add_metric(name="Updates", unit="Count", value=1)
        metrics.add_metric(name=f"Updates_{_event_type(update)}", unit="Count", value=1)  # by type
        budget = max(1.0, time_left_ms / 1000 - 2)
        try:
            result = runtime.run(self._feed(bot, update, budget))
        except Exception:
            # The errors router handles handler failures; this is the last line of defence.
            logger.exception("update processing failed")
            return _response(200)
        if isinstance(result, TelegramMethod):
            body = webhook_reply(bot, result)
            if body is not None:
                return _response(200, body)
            runtime.run(bot(result))
        return _response(200)

    async def _feed(self, bot: Bot, update: Update, budget: float) -> Any:
        return await asyncio.wait_for(self.dispatcher.feed_update(bot, update), timeout=budget)
