"""The aiogram Dispatcher: one Router per feature, included here in priority order."""

from __future__ import annotations

from aiogram import Dispatcher

from genbot.bot import (
    admin,
    assistant,
    balance,
    banned,
    bonus,
    broadcast,
    buy,
    chat_member,
    errors,
    fallback,
    generate,
    help,
    language,
    notices,
    promo,
    start,
    subscribe,
)
from genbot.bot.middlewares import UserLocaleMiddleware, UserMiddleware
from genbot.i18n import get_i18n


def build_dispatcher() -> Dispatcher:
    """A Dispatcher with every feature router; built once per process (before SnapStart)."""
    dp = Dispatcher(name="genbot")
    dp.update.outer_middleware(UserMiddleware())
    UserLocaleMiddleware(get_i18n()).setup(dp)
    dp.include_routers(
        errors.router,
        banned.router,  # first: a banned user's update reaches no feature
        start.router,
        language.router,
        notices.router,
        balance.router,
        bonus.router,
        promo.router,
        subscribe.router,  # before buy: its filtered payment handlers take sub_ payloads
        buy.router,
        admin.router,  # operators only; anyone else's /admin falls through
        broadcast.router,  # admins only; anyone else's /broadcast falls through
        help.router,
        assistant.router,  # before generate: assistant mode takes text, voice and photos
        generate.router,  # after the menu buttons: a button press beats a pending prompt
        chat_member.router,
        fallback.router,  # last: catches what nothing else did
    )
    return dp
