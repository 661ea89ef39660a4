"""One event loop and one Bot per thread, for the life of the Lambda process.

``asyncio.run`` per invocation with a module-level Bot breaks on the second call (the
aiohttp session is bound to the first, closed loop). Lambda runs one invocation at a time
per instance; tests and the local stack may drive a handler from several threads, so the
loop and Bot are per thread. Nothing is opened until first use (SnapStart-safe).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiogram import Bot

from genbot.config import get_settings
from genbot.telegram import make_bot

T = TypeVar("T")
_local = threading.local()


def loop() -> asyncio.AbstractEventLoop:
    current = getattr(_local, "loop", None)
    if current is None:
        current = _local.loop = asyncio.new_event_loop()
    return current


def bot() -> Bot:
    """This thread's Bot; rebuilt if the settings were reloaded (token or API URL may differ)."""
    settings = get_settings()
    current: Bot | None = getattr(_local, "bot", None)
    if current is None or getattr(_local, "settings", None) is not settings:
        if current is not None:
            _close_later(current)
        current = _local.bot = make_bot(settings)
        _local.settings = settings
    return current


def forget_bot() -> None:
    """Drop this thread's Bot (SnapStart restore): the next update builds one, and its session.

    Priming opens no HTTP session; if one was opened before the snapshot, its connections
    are not valid in a restored copy, so it is closed, not reused.
    """
    current: Bot | None = getattr(_local, "bot", None)
    _local.bot = _local.settings = None
    if current is not None and getattr(current.session, "_session", None) is not None:
        _close_later(current)


def _close_later(old: Bot) -> None:
    """Close a replaced Bot's session on this thread's loop, from inside it or not."""
    try:
        asyncio.get_running_loop().create_task(old.session.close())
    except RuntimeError:
        loop().run_until_complete(old.session.close())


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on this thread's loop (the same loop every invocation)."""
    return loop().run_until_complete(coro)
