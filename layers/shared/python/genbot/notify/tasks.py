"""The ``notify`` Lambda's events: a schedule's ``{"task": name}`` or a batch from the broadcast
queue (SQS, partial batch responses)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from genbot.config import get_settings
from genbot.observability import logger


def _offers(context: Any) -> dict[str, Any]:
    from genbot.notify import offers

    return offers.run(get_settings())


def _bonus_reminders(context: Any) -> dict[str, Any]:
    from genbot.notify import bonus

    return bonus.run(get_settings())


def _subscription_notices(context: Any) -> dict[str, Any]:
    from genbot.notify import subscriptions

    return subscriptions.run(get_settings())


TASKS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "offers": _offers,
    "bonus_reminders": _bonus_reminders,
    "subscription_notices": _subscription_notices,
}


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "Records" in event:
        from genbot.notify import broadcast

        return broadcast.handle_batch(event, context)
    task = event.get("task")
    run = TASKS.get(task) if isinstance(task, str) else None
    if run is None:
        logger.error("unknown notify event", extra={"task": str(task)[:64]})
        return {"error": "unknown task", "task": str(task)[:64]}
    return run(context)
