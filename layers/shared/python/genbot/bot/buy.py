"""Buy credits: the packs as buttons, a Stars invoice for each, pre-checkout and the receipt.

Payments for real money follow Telegram's rules for bots that sell: ``/paysupport`` answers
payment questions and ``/terms`` shows the terms.
"""

from __future__ import annotations

import contextlib

from aiogram import Bot, F, Router, html
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.methods import AnswerPreCheckoutQuery, SendInvoice, SendMessage
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, LabeledPrice, Message, PreCheckoutQuery
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from genbot.bot.keyboards import BTN_BUY
from genbot.bot.texts import credits
from genbot.config import Settings
from genbot.i18n import variants
from genbot.observability import logger
from genbot.payments import stars
from genbot.payments.products import product, products
from genbot.store.models import User
from genbot.telegram.callbacks import BuyCb, MenuAction, MenuCb

router = Router(name="buy")


def packs_keyboard(settings: Settings) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for item in products(settings):
        builder.button(
            text=_("{credits} — {stars} ⭐").format(credits=credits(item.credits), stars=item.stars),
            callback_data=BuyCb(product=item.product_id),
        )
    builder.adjust(1)
    return builder.as_markup()


def packs_text(settings: Settings) -> str:
    if not products(settings):
        return _("No credit packs are on sale right now. Please look again later.")
    return _("🛒 Choose a pack: you pay with Telegram Stars ⭐ and the credits arrive at once.")


@router.message(Command("buy"))
@router.message(F.text.in_(variants(BTN_BUY)))
async def packs(message: Message, settings: Settings) -> SendMessage:
    """The packs, one button each."""
    return message.answer(packs_text(settings), reply_markup=packs_keyboard(settings))


@router.callback_query(MenuCb.filter(F.action == MenuAction.BUY))
async def packs_from_button(query: CallbackQuery, settings: Settings) -> SendMessage | None:
    """The Buy button under a price the user can't pay: the packs, as a new message."""
    with contextlib.suppress(TelegramAPIError):
        await query.answer()
    if query.message is None:
        return None
    return SendMessage(
        chat_id=query.message.chat.id, text=packs_text(settings), reply_markup=packs_keyboard(settings)
    )


@router.callback_query(BuyCb.filter())
async def invoice(
    query: CallbackQuery, callback_data: BuyCb, db_user: User | None, settings: Settings
) -> SendInvoice | None:
    """A Stars invoice for the pack: XTR, no provider token, one price."""
    item = product(settings, callback_data.product)
    if db_user is None or item is None or query.message is None:
        await query.answer(_("This offer is no longer available. Please open 🛒 Buy credits again."))
        return None
    with contextlib.suppress(TelegramAPIError):
        await query.answer()
    order = stars.order_for(item, int(db_user.user_id))
    return SendInvoice(
        chat_id=query.message.chat.id,
        title=_("{credits} for generation").format(credits=credits(item.credits)),
        description=_("Credits for pictures, photo edits and videos in this bot. They never expire."),
        payload=order.payload,
        currency=stars.CURRENCY,
        prices=[LabeledPrice(label=credits(item.credits), amount=item.stars)],
        provider_token="",
    )


@router.pre_checkout_query()
async def pre_checkout(
    query: PreCheckoutQuery, db_user: User | None, settings: Settings
) -> AnswerPreCheckoutQuery:
    """Telegram waits at most 10 s: answered from what's at hand (no AWS call)."""
    reason = stars.check(
        settings,
        user_id=query.from_user.id,
        payload=query.invoice_payload,
        currency=query.currency,
        total_amount=query.total_amount,
        blocked=db_user is None,
    )
    if reason is not None:
        logger.warning(
            "pre-checkout declined", extra={"reason": reason, "payload": query.invoice_payload[:128]}
        )
        return query.answer(ok=False, error_message=_(reason))
    return query.answer(ok=True)


@router.message(F.successful_payment)
async def paid(message: Message, settings: Settings, bot: Bot) -> SendMessage | None:
    """Credit once (keyed by the charge id) and send the receipt with the new balance."""
    payment = message.successful_payment
    assert payment is not None and message.from_user is not None
    done = stars.settle_payment(
        settings,
        user_id=message.from_user.id,
        payload=payment.invoice_payload,
        currency=payment.currency,
        total_amount=payment.total_amount,
        charge_id=payment.telegram_payment_charge_id,
    )
    if done is None:
        return message.answer(
            _("We received your payment but couldn't match it to a pack. Please write to /paysupport.")
        )
    if done.referrer_rewarded is not None:
        await _tell_referrer(bot, settings, done.referrer_rewarded, message.from_user.first_name)
    if not done.applied:
        return None  # a redelivered update: the receipt went out the first time
    balance = int(User.get(done.user_id, consistent_read=True).balance)
    return message.answer(
        _("✅ Payment received: +{credits}. Balance: {balance}. Thank you!").format(
            credits=credits(done.credits), balance=credits(balance)
        )
    )


async def _tell_referrer(bot: Bot, settings: Settings, referrer_id: int, friend: str) -> None:
    """The invited friend paid: the referrer got their reward; a failure here loses nothing."""
    from genbot.i18n import translate_plural
    from genbot.users import get_user

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


@router.message(Command("paysupport"))
async def paysupport(message: Message, settings: Settings) -> SendMessage:
    """Payment questions (Telegram requires bots that sell to answer this)."""
    return message.answer(
        _(
            "💬 Payment support: describe the problem in one message here and add the date of the "
            "payment; the team answers within a day. Credits for a failed generation come back on "
            "their own. Refunds of Stars purchases: credits you haven't spent can be refunded."
        )
    )


@router.message(Command("terms"))
async def terms(message: Message) -> SendMessage:
    """The terms of sale."""
    return message.answer(
        _(
            "📄 Terms: you buy credits for generation in this bot; prices are shown before you pay. "
            "A generation that fails is refunded in credits. Unspent credits from a purchase can be "
            "refunded on request (/paysupport). Generated content must follow the AI providers' rules."
        )
    )
