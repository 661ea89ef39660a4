"""Who is calling: the Mini App's ``initData`` in ``Authorization: tma <initData>``.

Telegram signs ``initData`` with the bot's token (aiogram's ``safe_parse_webapp_init_data``
checks it: another bot's, or a changed one, fails); the signature never expires, so an
``auth_date`` older than ``CABINET_AUTH_MAX_AGE`` is refused too. The caller must be a user
the bot registered (``/start``): else 404 ``not_registered``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

from aiogram.utils.web_app import WebAppInitData, safe_parse_webapp_init_data
from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.request import Request

from genbot.cabinet.errors import BannedError, ForbiddenError, NotRegisteredError, UnauthorizedError
from genbot.config import Settings, get_settings
from genbot.i18n import normalize_language
from genbot.observability import logger
from genbot.store.models import User
from genbot.users import get_user

SCHEME = "tma"
LANGUAGE = "language"  # the caller's language in the resolver's context (errors are told in it)
FUTURE_SKEW_SECONDS = 300  # an auth_date this far ahead of our clock is not believed either


@dataclass(frozen=True)
class Caller:
    """The signed-in user: their stored item and the language to answer in."""

    user: User
    language: str
    settings: Settings

    @property
    def user_id(self) -> int:
        return int(self.user.user_id)

    @property
    def is_admin(self) -> bool:
        return self.settings.is_admin(self.user_id)


def init_data(authorization: str | None, settings: Settings, now: float | None = None) -> WebAppInitData:
    """The checked ``initData`` of an ``Authorization`` header; UnauthorizedError otherwise."""
    scheme, _, raw = (authorization or "").strip().partition(" ")
    if scheme.lower() != SCHEME or not raw.strip() or not settings.bot_token:
        raise UnauthorizedError()
    try:
        data = safe_parse_webapp_init_data(settings.bot_token, raw.strip())
    except ValueError:  # a bad signature, or signed fields that don't parse
        raise UnauthorizedError() from None
    age = (time.time() if now is None else now) - data.auth_date.timestamp()
    if data.user is None or age > settings.cabinet_auth_max_age or age < -FUTURE_SKEW_SECONDS:
        logger.info("initData refused", extra={"age": int(age), "has_user": data.user is not None})
        raise UnauthorizedError()
    return data


def current_caller(request: Request) -> Caller:
    """The route's caller (a Powertools dependency): one GetItem of the user."""
    settings = get_settings()
    headers = request.headers
    authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    data = init_data(authorization, settings)
    assert data.user is not None
    language = normalize_language(data.user.language_code, settings.default_language)
    request.context[LANGUAGE] = language
    user = get_user(data.user.id)
    if user is None:
        raise NotRegisteredError()
    language = normalize_language(str(user.language), settings.default_language)
    request.context[LANGUAGE] = language
    if user.banned and not settings.is_admin(data.user.id):
        raise BannedError()
    return Caller(user=user, language=language, settings=settings)


CurrentCaller = Annotated[Caller, Depends(current_caller)]


def current_admin(caller: CurrentCaller) -> Caller:
    """The caller, who must be an operator (``ADMIN_IDS``): the admin Router's dependency."""
    if not caller.is_admin:
        raise ForbiddenError()
    return caller


CurrentAdmin = Annotated[Caller, Depends(current_admin)]
