"""Bot construction honouring ``TELEGRAM_API_URL``, and the webhook-reply serializer."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.methods import TelegramMethod

from genbot.config import Settings


def make_bot(settings: Settings, timeout: float = 20.0) -> Bot:
    """A Bot whose session talks to ``settings.telegram_api_url`` (real or stand-in).

    The aiohttp session is created lazily on the first request, inside the running event
    loop, so building a Bot at import (before a SnapStart snapshot) opens no connection.
    """
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url), timeout=timeout)
    return Bot(
        settings.bot_token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


def webhook_reply(bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any] | None:
    """The method as a webhook response body (``{"method": ..., ...}``), or None.

    Telegram executes one method given in the webhook response, saving a round trip.
    aiogram has no public serializer for it: ``model_dump`` leaves ``Default`` placeholders
    (parse_mode and friends), which the session's ``prepare_value`` resolves against the
    bot's defaults. Methods that upload a file can't go in a JSON body: None (call them).
    """
    files: dict[str, Any] = {}
    body: dict[str, Any] = {"method": method.__api_method__}
    for key, value in method.model_dump(warnings=False).items():
        prepared = bot.session.prepare_value(value, bot=bot, files=files, _dumps_json=False)
        if prepared is not None:
            body[key] = prepared
    if files:
        return None
    return body
