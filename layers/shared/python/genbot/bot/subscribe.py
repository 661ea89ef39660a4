"""/subscribe: the plans, the user's subscription (until when, renews or not), cancel and resume.

The monthly plan is a recurring invoice link (a URL button), the annual plan a one-time
invoice. Pre-checkout and ``successful_payment`` of subscription payloads (``sub_...``) are
handled here, before the packs' handlers in ``genbot.bot.buy``.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.methods import AnswerPreCheckoutQuery, EditMessageText, SendInvoice, SendMessage
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, LabeledPrice, Message, PreCheckoutQuery
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from genbot.bot.referrals import tell_referrer
from genbot.bot.texts import credits
from genbot.config import Settings
from genbot.observability import logger
from genbot.payments import subscriptions
from genbot.payments.stars import CURRENCY
from genbot.store.models import User
from genbot.telegram.callbacks import SubCb
from genbot.telegram.sending import SendFailure

router = Router(name="subscribe")


def _date(epoch: int, settings: Settings) -> str:
    return datetime.fromtimestamp(epoch, UTC).astimezone(ZoneInfo(settings.timezone)).strftime("%d.%m.%Y")


def _active(user: User) -> bool:
    return user.subscription_until is not None and int(user.subscription_until) > int(
        datetime.now(UTC).timestamp()
    )


def state_text(user: User, settings: Settings) -> str:
    current = subscriptions.terms(settings)
    lines = [
        _("⭐ Subscription: {credits} every 30 days and up to {chat} assistant messages a day.").format(
            credits=credits(current.credits_per_period), chat=current.chat_per_day
        ),
        _("Monthly: {stars} ⭐, renews every 30 days until you cancel.").format(stars=current.month_stars),
        _("Yearly: {stars} ⭐ once: 365 days and {credits} at once.").format(
            stars=current.year_stars, credits=credits(current.year_credits)
        ),
        "",
    ]
    if not _active(user):
        lines.append(_("You have no active subscription."))
    else:
        until = _date(int(user.subscription_until), settings)
        if user.subscription_charge_id and user.subscription_renews:
            lines.append(_("✅ Active until {date}; renews automatically.").format(date=until))
        elif user.subscription_charge_id:
            lines.append(_("✅ Active until {date}; renewal is cancelled.").format(date=until))
        else:
            lines.append(_("✅ Active until {date}.").format(date=until))
    return "\n".join(lines)


async def keyboard(bot: Bot, user: User, settings: Settings) -> InlineKeyboardMarkup:
    current = subscriptions.terms(settings)
    builder = InlineKeyboardBuilder()
    monthly = _active(user) and bool(user.subscription_charge_id)  # cancel or resume it, not a second one
    if not monthly:
        try:
            link = await subscriptions.plan_link(
                bot, settings, int(user.user_id), _("Monthly subscription"), _plan_description(settings)
            )
        except SendFailure:
            logger.warning("no subscription link", extra={"user_id": int(user.user_id)})
        else:
            builder.button(text=_("Monthly — {stars} ⭐").format(stars=current.month_stars), url=link)
    builder.button(
        text=_("Yearly — {stars} ⭐").format(stars=current.year_stars), callback_data=SubCb(action="year")
    )
    if monthly:
        if user.subscription_renews:
            builder.button(text=_("Cancel renewal"), callback_data=SubCb(action="cancel"))
        else:
            builder.button(text=_("Resume renewal"), callback_data=SubCb(action="resume"))
    builder.adjust(1)
    return builder.as_markup()


def _plan_description(settings: Settings) -> str:
    current = subscriptions.terms(settings)
    return _("{credits} every 30 days and the chat assistant. Renews until you cancel.").format(
        credits=credits(current.credits_per_period)
    )


@router.message(Command("subscribe"))
async def subscribe(message: Message, db_user: User | None, settings: Settings, bot: Bot) -> SendMessage:
    """The plans and the user's subscription, with the buttons that apply."""
    if db_user is None:
        return message.answer(_("Send /start first: it sets up your account."))
    return message.answer(state_text(db_user, settings), reply_markup=await keyboard(bot, db_user, settings))


@router.callback_query(SubCb.filter(F.action == "show"))
async def show(
    query: CallbackQuery, db_user: User | None, settings: Settings, bot: Bot
) -> SendMessage | None:
    """The Subscription button of the Buy menu: the same view as /subscribe."""
    await query.answer()
    if db_user is None or query.message is None:
        return None
    return SendMessage(
        chat_id=query.message.chat.id,
        text=state_text(db_user, settings),
        reply_markup=await keyboard(bot, db_user, settings),
    )


@router.callback_query(SubCb.filter(F.action == "year"))
async def year_invoice(query: CallbackQuery, db_user: User | None, settings: Settings) -> SendInvoice | None:
    """The annual plan: a one-time Stars invoice."""
    if db_user is None or query.message is None:
        await query.answer(_("This plan is no longer available. Please open /subscribe again."))
        return None
    with contextlib.suppress(TelegramAPIError):
        await query.answer()
    order = subscriptions.order_for(settings, subscriptions.YEAR, int(db_user.user_id))
    title = _("Yearly subscription")
    return SendInvoice(
        chat_id=query.message.chat.id,
        title=title,
        description=_("365 days of the subscription and {credits} at once.").format(
            credits=credits(order.credits)
        ),
        payload=order.payload,
        currency=CURRENCY,
        prices=[LabeledPrice(label=title, amount=order.stars)],
        provider_token="",
    )


@router.callback_query(SubCb.filter(F.action.in_({"cancel", "resume"})))
async def renewal(
    query: CallbackQuery, callback_data: SubCb, db_user: User | None, settings: Settings, bot: Bot
) -> EditMessageText | None:
    """Cancel or resume the monthly renewal (editUserStarSubscription), then show the new state."""
    if db_user is None or query.message is None:
        with contextlib.suppress(TelegramAPIError):
            await query.answer()
        return None
    try:
        changed = await subscriptions.set_renewal(bot, db_user, renews=callback_data.action == "resume")
    except SendFailure:
        await query.answer(
            _("Couldn't change the renewal right now. Please try again later."), show_alert=True
        )
        return None
    with contextlib.suppress(TelegramAPIError):
        if callback_data.action == "cancel" and changed:
            await query.answer(_("Renewal cancelled: the subscription stays active until its end date."))
        elif changed:
            await query.answer(_("Renewal resumed."))
        else:
            await query.answer()
    return EditMessageText(
        chat_id=query.message.chat.id,
        message_id=query.message.message_id,
        text=state_text(db_user, settings),
        reply_markup=await keyboard(bot, db_user, settings),
    )


@router.pre_checkout_query(F.invoice_payload.startswith(subscriptions.PREFIX))
async def pre_checkout(
    query: PreCheckoutQuery, db_user: User | None, settings: Settings
) -> AnswerPreCheckoutQuery:
    """Answered from what's at hand (Telegram waits at most 10 s)."""
    reason = subscriptions.check(
        settings,
        user_id=query.from_user.id,
        payload=query.invoice_payload,
        currency=query.currency,
        total_amount=query.total_amount,
        blocked=db_user is None,
    )
    if reason is not None:
        logger.warning(
            "subscription pre-checkout declined",
            extra={"reason": reason, "payload": query.invoice_payload[:128]},
        )
        return query.answer(ok=False, error_message=_(reason))
    return query.answer(ok=True)


@router.message(F.successful_payment.invoice_payload.startswith(subscriptions.PREFIX))
async def paid(message: Message, settings: Settings, bot: Bot) -> SendMessage | None:
    """Credit the charge once, extend the subscription, send the receipt."""
    payment = message.successful_payment
    assert payment is not None and message.from_user is not None
    done = subscriptions.settle_charge(
        settings,
        user_id=message.from_user.id,
        payload=payment.invoice_payload,
        currency=payment.currency,
        total_amount=payment.total_amount,
        charge_id=payment.telegram_payment_charge_id,
        expiration_date=payment.subscription_expiration_date,
        is_recurring=bool(payment.is_recurring),
        is_first_recurring=bool(payment.is_first_recurring),
    )
    if done is None:
        return message.answer(
            _("We received your payment but couldn't match it to a plan. Please write to /paysupport.")
        )
    if done.referrer_rewarded is not None:
        await tell_referrer(bot, settings, done.referrer_rewarded, message.from_user.first_name)
    if not done.applied:
        return None  # a redelivered update: the receipt went out the first time
    balance = int(User.get(done.user_id, consistent_read=True).balance)
    return message.answer(
        _("✅ Subscription paid: +{credits}. Balance: {balance}. Active until {date}.").format(
            credits=credits(done.credits), balance=credits(balance), date=_date(done.until, settings)
        )
    )
