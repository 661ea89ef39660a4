"""Callback data of every inline button, typed: what a press means, below both bot and jobs.

The bot's routers filter on these (one handler per action); the generate worker builds the
result buttons with them. Telegram allows 64 bytes of callback data: the fields are short.
"""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData

from genbot.vocab import Mode, Tier


class DraftAction(StrEnum):
    MODE = "m"
    TIER = "t"
    SKIP = "s"
    CONFIRM = "c"
    CANCEL = "x"


class ResultAction(StrEnum):
    AGAIN = "again"
    VARY = "vary"
    ANIMATE = "animate"
    ORIGINAL = "orig"
    USE = "use"  # generate from a prompt the bot wrote for a photo


class MenuAction(StrEnum):
    BUY = "buy"
    GENERATE = "gen"


class DraftCb(CallbackData, prefix="d"):
    """A button of one draft (``draft``: its id); on another draft it no longer works."""

    action: DraftAction
    draft: str
    mode: Mode | None = None
    tier: Tier | None = None


class ResultCb(CallbackData, prefix="r"):
    action: ResultAction
    job: str


class MenuCb(CallbackData, prefix="menu"):
    action: MenuAction


class BuyCb(CallbackData, prefix="buy"):
    """Pay for a product (a pack, or the user's discount offer) with Stars."""

    product: str


class RubCb(CallbackData, prefix="rub"):
    """Pay for a product in rubles (YooKassa)."""

    product: str


class LanguageCb(CallbackData, prefix="lang"):
    code: str


class BonusCb(CallbackData, prefix="bonus"):
    action: str = "daily"


class PromoCb(CallbackData, prefix="promo"):
    """The Bonuses menu's "Promo code": asks for the code."""

    action: str = "ask"


class BroadcastAction(StrEnum):
    SEND = "send"
    CANCEL = "cancel"


class BroadcastCb(CallbackData, prefix="bc"):
    """An admin's answer to a broadcast draft's preview (``broadcast``: its id)."""

    action: BroadcastAction
    broadcast: str


class ChatCb(CallbackData, prefix="chat"):
    """The assistant: ``trial`` (take the free trial), ``new`` (a new conversation), ``exit``."""

    action: str


class SubCb(CallbackData, prefix="sub"):
    """The subscription menu (``genbot.bot.subscribe``): ``show`` (the plans and the user's
    subscription), ``year`` (the annual invoice), ``cancel`` / ``resume`` (the renewal)."""

    action: str
