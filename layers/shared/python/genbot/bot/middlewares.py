"""Per-update context: the settings, the stored user (one GetItem) and the user's locale."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from aiogram.types import User as TgUser
from aiogram.utils.i18n import I18nMiddleware

from genbot.config import get_settings
from genbot.i18n import normalize_language
from genbot.users import get_user, touch


class UserMiddleware(BaseMiddleware):
    """Loads the sender's stored profile once per update as ``data["db_user"]`` (or None)."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        sender: TgUser | None = data.get("event_from_user")
        data["settings"] = get_settings()
        db_user = data["db_user"] = get_user(sender.id) if sender and not sender.is_bot else None
        if db_user is not None:
            touch(data["settings"], db_user, int(time.time()))
        return await handler(event, data)


class UserLocaleMiddleware(I18nMiddleware):
    """The stored language; for someone new, Telegram's ``language_code``."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        db_user = data.get("db_user")
        if db_user is not None:
            return str(db_user.language)
        sender: TgUser | None = data.get("event_from_user")
        default = data["settings"].default_language if "settings" in data else "ru"
        return normalize_language(sender.language_code if sender else None, default)
