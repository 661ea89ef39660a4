"""Buy credits: the packs as buttons, a Stars invoice for each, pre-checkout and the receipt.

Where YooKassa is configured each pack also sells for rubles: the first time, the bot asks
where 54-FZ receipts go (an email or a phone, validated and remembered; ``/email`` changes
it), then creates the payment and answers with a Pay button; ``payment_poll`` credits it.

Payments for real money follow Telegram's rules for bots that sell: ``/paysupport`` answers
payment questions and ``/terms`` shows the terms.
"""

from __future__ import annotations

import contextlib

from aiogram import Bot, F, Router, html
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.methods import AnswerPreCheckoutQuery, SendInvoice, SendMessage
from aiogram.types import (
    CallbackQuery,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
)
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from genbot.bot.keyboards import BTN_BUY
from genbot.bot.referrals import tell_referrer
from genbot.bot.subscribe import SubCb
from genbot.bot.texts import credits
from genbot.config import Settings
from genbot.i18n import variants
from genbot.observability import logger
from genbot.payments import stars, yookassa
from genbot.payments.products import product, products
from genbot.store.models import User
from genbot.telegram.callbacks import BuyCb, MenuAction, MenuCb, RubCb

router = Router(name="buy")

CONTACT_MARK = "📧"  # the ask for a receipt contact starts with it; a reply to it is the contact


def packs_keyboard(settings: Settings) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    rubles = yookassa.configured(settings)
    for item in products(settings):
        builder.button(
            text=_("{credits} — {stars} ⭐").format(credits=credits(item.credits), stars=item.stars),
            callback_data=BuyCb(product=item.product_id),
        )
        if rubles:
            builder.button(
                text=_("{credits} — 💳 {rubles} ₽").format(credits=credits(item.credits), rubles=item.rubles),
                callback_data=RubCb(product=item.product_id),
            )
    builder.adjust(2 if rubles else 1)
    builder.row(InlineKeyboardButton(text=_("⭐ Subscription"), callback_data=SubCb(action="show").pack()))
    return builder.as_markup()


def packs_text(settings: Settings) -> str:
    if not products(settings):
        return _("No credit packs are on sale right now. Please look again later.")
    if yookassa.configured(settings):
        return _(
            "🛒 Choose a pack: pay with Telegram Stars ⭐ (the credits arrive at once) or by card "
            "in rubles 💳 (the credits arrive a minute or two after the payment)."
        )
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
    item = product(settings, callback_data.product, db_user)
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


def _ask_contact(chat_id: int, current: str | None) -> SendMessage:
    text = _(
        "📧 A receipt (54-FZ) is sent for every payment in rubles. Reply to this message with the "
        "email or phone number to send receipts to."
    )
    if current:
        text += "\n" + _("Now they go to {contact}.").format(contact=html.quote(current))
    return SendMessage(
        chat_id=chat_id,
        text=text,
        reply_markup=ForceReply(force_reply=True, input_field_placeholder="name@example.com"),
    )


@router.callback_query(RubCb.filter())
async def pay_rubles(
    query: CallbackQuery, callback_data: RubCb, db_user: User | None, settings: Settings, bot: Bot
) -> SendMessage | None:
    """A YooKassa payment for the pack (the receipt contact asked first) and its Pay button."""
    item = product(settings, callback_data.product, db_user)
    if db_user is None or item is None or query.message is None or not yookassa.configured(settings):
        await query.answer(_("This offer is no longer available. Please open 🛒 Buy credits again."))
        return None
    with contextlib.suppress(TelegramAPIError):
        await query.answer()
    chat_id = query.message.chat.id
    if not db_user.receipt_email:
        return _ask_contact(chat_id, None)
    return_url = settings.yookassa_return_url
    if not return_url:
        me = await bot.me()
        return_url = f"https://t.me/{me.username}"
    try:
        payment = yookassa.create_payment(
            settings,
            db_user,
            item,
            return_url=return_url,
            description=_("{credits} for generation").format(credits=credits(item.credits)),
        )
    except yookassa.YooKassaUnavailableError:
        return SendMessage(
            chat_id=chat_id,
            text=_("The payment service isn't answering right now. Please try again in a minute."),
        )
    except yookassa.YooKassaRejectedError as exc:
        logger.error("YooKassa refused a payment", extra={"error": str(exc), "user_id": db_user.user_id})
        return SendMessage(
            chat_id=chat_id,
            text=_(
                "Payment by card isn't available right now. Please pay with Stars ⭐ or write to /paysupport."
            ),
        )
    builder = InlineKeyboardBuilder()
    builder.button(text=_("💳 Pay {rubles} ₽").format(rubles=item.rubles), url=str(payment.confirmation_url))
    return SendMessage(
        chat_id=chat_id,
        text=_(
            "💳 {credits} for {rubles} ₽. Tap the button to pay; the credits arrive a minute or two "
            "after the payment, and the receipt goes to {contact}."
        ).format(
            credits=credits(item.credits), rubles=item.rubles, contact=html.quote(db_user.receipt_email)
        ),
        reply_markup=builder.as_markup(),
    )


def _contact_saved(message: Message, settings: Settings, raw: str) -> SendMessage:
    assert message.from_user is not None
    saved = yookassa.save_receipt_contact(message.from_user.id, raw)
    if saved is None:
        return message.answer(
            _(
                "That doesn't look like an email or a phone number. Send it like name@example.com "
                "or +79001234567: /email"
            )
        )
    text = _("📧 Receipts will go to {contact}.").format(contact=html.quote(saved))
    if not yookassa.configured(settings) or not products(settings):
        return message.answer(text)
    return message.answer(text + "\n\n" + packs_text(settings), reply_markup=packs_keyboard(settings))


@router.message(Command("email"))
async def email(
    message: Message, command: CommandObject, db_user: User | None, settings: Settings
) -> SendMessage | None:
    """``/email``: where receipts go (asked again), ``/email name@example.com``: set it."""
    if db_user is None:
        return None
    if command.args and command.args.strip():
        return _contact_saved(message, settings, command.args)
    return _ask_contact(message.chat.id, db_user.receipt_email)


@router.message(F.text, F.reply_to_message.text.startswith(CONTACT_MARK))
async def contact_reply(message: Message, db_user: User | None, settings: Settings) -> SendMessage | None:
    """The reply to the ask: the receipt contact."""
    if db_user is None or message.text is None:
        return None
    return _contact_saved(message, settings, message.text)


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
        user=db_user,
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
        await tell_referrer(bot, settings, done.referrer_rewarded, message.from_user.first_name)
    if not done.applied:
        return None  # a redelivered update: the receipt went out the first time
    balance = int(User.get(done.user_id, consistent_read=True).balance)
    return message.answer(
        _("✅ Payment received: +{credits}. Balance: {balance}. Thank you!").format(
            credits=credits(done.credits), balance=credits(balance)
        )
    )


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
