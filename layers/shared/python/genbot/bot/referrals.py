"""Telling a referrer they earned credits: the friend joined (registration trigger) or first paid."""

from __future__ import annotations

from aiogram import Bot, html
from aiogram.exceptions import TelegramAPIError

from genbot.config import Settings
from genbot.i18n import translate_plural
from genbot.observability import logger
from genbot.users import get_user


async def tell_referrer(
    bot: Bot, settings: Settings, referrer_id: int, friend: str, *, joined: bool = False
) -> None:
    """The referrer got their reward: the friend ``joined`` (registration trigger) or first paid.

    A failure here loses nothing (the credits are already on the referrer's balance).
    """
    referrer = get_user(referrer_id)
    language = referrer.language if referrer else settings.default_language
    n, name = settings.referral_reward, html.quote(friend)
    if joined:
        text = translate_plural(
            "🤝 {name} joined by your link: +{n} credit!",
            "🤝 {name} joined by your link: +{n} credits!",
            n,
            language,
            name=name,
        )
    else:
        text = translate_plural(
            "🤝 {name}, whom you invited, made a first purchase: +{n} credit!",
            "🤝 {name}, whom you invited, made a first purchase: +{n} credits!",
            n,
            language,
            name=name,
        )
    try:
        await bot.send_message(referrer_id, text)
    except TelegramAPIError:
        logger.warning("could not tell the referrer", extra={"referrer_id": referrer_id})
