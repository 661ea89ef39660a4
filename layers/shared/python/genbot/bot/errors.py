"""The one place unexpected exceptions end: logged with the update id, apologised for."""

from __future__ import annotations

from aiogram import Router
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import ErrorEvent
from aiogram.utils.i18n import gettext as _

from genbot.observability import logger, metrics

router = Router(name="errors")


@router.errors()
async def on_error(event: ErrorEvent) -> SendMessage | AnswerCallbackQuery | None:
    """Log it; tell the user briefly in their language; never let Telegram retry into a loop."""
    update = event.update
    logger.exception(
        "unhandled error in update",
        extra={"update_id": update.update_id, "error": type(event.exception).__name__},
        exc_info=event.exception,
    )
    metrics.add_metric(name="UpdateErrors", unit="Count", value=1)
    apology = _("Sorry, something went wrong on our side. Please try again in a minute.")
    if update.callback_query is not None:
        return update.callback_query.answer(apology, show_alert=True)
    message = update.message or update.edited_message
    if message is not None:
        return message.answer(apology)
    return None
