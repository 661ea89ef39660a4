"""Telling a referrer their invited friend's first payment earned them credits."""

from __future__ import annotations

from aiogram import Bot, html
from aiogram.exceptions import TelegramAPIError

from genbot.config import Settings
from genbot.i18n import translate_plural
from genbot.observability import logger
from genbot.users import get_user


async def tell_referrer(bot: Bot, settings: Settings, referrer_id: int, friend: str) -> None:
    """The invited friend paid: the referrer got their reward; a failure here loses nothing."""
    referrer = get_user(referrer_id)
    language = referrer.language if referrer else settings.default_language
    text = translate_plural(
        "🤝 {name}, whom you invited, made a first purchase: +{n} credit!",
        "🤝 {name}, whom you invited, made a first purchase: +{n} credits!",
        settings.referral_reward,
        language,
        name=html.quote(friend),
    )
    try:
        await bot.send_message(referrer_id, text)
    except TelegramAPIError:
        logger.warning("could not tell the referrer", extra={"referrer_id": referrer_id})
