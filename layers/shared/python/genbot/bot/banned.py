"""An operator's ban (``User.banned``, set from the admin section): the bot serves a banned
user nothing. Their messages and buttons get one short answer, a checkout is declined; a
payment Telegram already took (a subscription's renewal) still settles in the payments router.
This router comes first, so no feature router sees a banned user's update."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.methods import AnswerCallbackQuery, AnswerPreCheckoutQuery, SendMessage
from aiogram.types import CallbackQuery, Message, PreCheckoutQuery, TelegramObject
from aiogram.utils.i18n import gettext as _

from genbot.observability import logger
from genbot.store.models import User

router = Router(name="banned")


def _banned(_event: TelegramObject, db_user: User | None = None) -> bool:
    return bool(db_user is not None and db_user.banned)


router.message.filter(_banned)
router.callback_query.filter(_banned)
router.pre_checkout_query.filter(_banned)


def _suspended() -> str:
    return _("Your access to the bot has been suspended.")


@router.message(F.successful_payment.is_(None), F.refunded_payment.is_(None))
async def refuse_message(message: Message) -> SendMessage:
    logger.info("update from a banned user refused", extra={"user_id": message.chat.id})
    return message.answer(_suspended())


@router.callback_query()
async def refuse_button(query: CallbackQuery) -> AnswerCallbackQuery:
    return query.answer(_suspended(), show_alert=True)


@router.pre_checkout_query()
async def refuse_checkout(query: PreCheckoutQuery) -> AnswerPreCheckoutQuery:
    return query.answer(ok=False, error_message=_suspended())
