"""Bot construction honouring ``TELEGRAM_API_URL``, and the webhook-reply serializer."""

from __future__ import annotations

import threading
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

from genbot.config import Settings
from genbot.observability import traced

DEFAULT_TIMEOUT = 20.0
BOT_DEFAULTS = DefaultBotProperties(parse_mode=ParseMode.HTML)

_prepared: dict[tuple[str, float], AiohttpSession] = {}
_prepared_lock = threading.Lock()


class TracedRequests(BaseRequestMiddleware):
    """Each Bot API call in its own trace subsegment (``## telegram <method>``): X-Ray shows
    where an update's time went. Nothing at all when tracing is off."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        name = method.__api_method__
        async with traced(f"## telegram {name}", telegram_method=name):
            return await make_request(bot, method)


def _new_session(api_url: str, timeout: float) -> AiohttpSession:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url), timeout=timeout)
    session.middleware(TracedRequests())
    return session


def prepare_session(api_url: str, timeout: float = DEFAULT_TIMEOUT) -> AiohttpSession:
    """Build now the HTTP session the next ``make_bot`` for ``api_url`` will take.

    aiogram's session loads the CA bundle into a TLS context when it is built (more CPU than
    a warm update); SnapStart priming builds it before the snapshot. It opens nothing until
    its Bot's first request, so a restored copy starts with no connection.
    """
    with _prepared_lock:
        session = _prepared.get((api_url, timeout))
        if session is None:
            session = _prepared[(api_url, timeout)] = _new_session(api_url, timeout)
        return session


def make_bot(settings: Settings, timeout: float = DEFAULT_TIMEOUT) -> Bot:
    """A Bot whose session talks to ``settings.telegram_api_url`` (real or stand-in).

    The aiohttp session is created lazily on the first request, inside the running event
    loop, so building a Bot at import (before a SnapStart snapshot) opens no connection.
    Takes the session ``prepare_session`` built for this URL, if any (each is used once).
    """
    with _prepared_lock:
        session = _prepared.pop((settings.telegram_api_url, timeout), None)
    if session is None:
        session = _new_session(settings.telegram_api_url, timeout)
    return Bot(settings.bot_token, session=session, default=BOT_DEFAULTS)


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
