"""The bot's commands: one list for the "/" menu (``setMyCommands`` per language) and /help.

Plain data with no imports, so the CDK app can read it at synth time and register the menu
on deploy; ``command_lists()`` translates it through the catalogs.
"""

from __future__ import annotations

from typing import Any


def N_(msgid: str) -> str:
    return msgid


COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", N_("main menu")),
    ("generate", N_("make a picture or a video")),
    ("ask", N_("the AI assistant: ask anything")),
    ("new", N_("a new conversation with the assistant")),
    ("balance", N_("credits and history")),
    ("buy", N_("buy credits")),
    ("subscribe", N_("subscription plans and renewal")),
    ("promo", N_("redeem a promo code")),
    ("email", N_("receipt email for ruble payments")),
    ("language", N_("язык / language")),
    ("settings", N_("which messages I may send you")),
    ("help", N_("what I can do and what it costs")),
    ("paysupport", N_("help with a payment")),
    ("terms", N_("terms of sale")),
)


def command_lists() -> dict[str, list[dict[str, Any]]]:
    """``{language: [{"command": ..., "description": ...}]}`` for every language the bot speaks."""
    from genbot.i18n import LANGUAGES, translate

    return {
        lang: [{"command": name, "description": translate(text, lang)} for name, text in COMMANDS]
        for lang in LANGUAGES
    }
