"""Subscriptions paid in Telegram Stars: a monthly plan that renews itself and a one-time annual plan.

What a subscription includes is one settings item, ``subscription`` (``credits_per_period``,
``chat_per_day``, ``month_stars``, ``year_stars``), validated here, with defaults from the
environment (``SUB_CREDITS``, ``SUB_CHAT_DAILY``, ``SUB_STARS``, ``SUB_YEAR_STARS``); the chat
assistant reads ``chat_per_day`` from ``terms()``.

- Month: an invoice link (``createInvoiceLink`` with ``subscription_period`` = 30 days, the only
  period Telegram allows). Telegram charges again every 30 days by itself; each charge (the
  first and every ``is_recurring`` renewal) arrives as a ``successful_payment`` with its own
  ``telegram_payment_charge_id`` and ``subscription_expiration_date``.
- Year: a one-time invoice (Stars subscriptions only renew every 30 days) granting 365 days
  and twelve periods' credits at once.

Each charge is credited once (ledger ``pay#stars#<charge>``, kind ``subscription``), in the
same transaction as its payment item and the user's ``subscription_until`` (never moved back),
``subscription_charge_id`` (the subscription to cancel or resume) and ``subscription_renews``.
The payload is ``sub_month|sub_year:<credits>:<stars>:<user>`` (``genbot.payments.stars``'s
order format): a renewal credits what the user signed up for. The same transaction puts the
user in the subscription notices' index at the new period's first notice (``sub_at``:
``genbot.users.subscription_notices.next_notice``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.methods import EditUserStarSubscription
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, TypeAdapter, ValidationError

from genbot.config import Settings, validation_problems
from genbot.i18n import N_
from genbot.ledger import ConditionFailedError, Posting, apply
from genbot.observability import logger, metrics
from genbot.payments.products import STARS_MAX
from genbot.payments.stars import CURRENCY, Order, parse
from genbot.store.models import Payment, User, now_ms
from genbot.store.settings import cached_setting
from genbot.store.transaction import Transaction
from genbot.telegram.sending import send
from genbot.users.service import reward_referrer_on_first_payment
from genbot.users.subscription_notices import next_notice, sub_key
from genbot.vocab import EntryKind, PaymentMethod, PaymentStatus

SETTING_KEY = "subscription"
PERIOD_SECONDS = 30 * 24 * 3600  # 2592000: Telegram's one subscription period
YEAR_SECONDS = 365 * 24 * 3600
MONTH, YEAR = "sub_month", "sub_year"
PLANS = (MONTH, YEAR)
PREFIX = "sub_"  # every subscription payload starts with it (the bot's handlers filter on it)
_ATTEMPTS = 4  # the user's subscription changed between the read and the write: read again

DECLINE_UNKNOWN = N_("This plan is no longer available. Please open /subscribe again.")
DECLINE_CHANGED = N_("The subscription price has changed. Please open /subscribe again.")
DECLINE_NOT_YOURS = N_("This invoice was made for someone else. Please open /subscribe.")
DECLINE_BLOCKED = N_("Purchases are not available for this account. Please write to /paysupport.")


class SubscriptionTerms(BaseModel):
    """What a subscription costs and includes (the settings item ``subscription``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    credits_per_period: NonNegativeInt
    chat_per_day: NonNegativeInt
    month_stars: int = Field(ge=1, le=STARS_MAX)
    year_stars: int = Field(ge=1, le=STARS_MAX)

    @property
    def year_credits(self) -> int:
        return 12 * self.credits_per_period


TERMS_ADAPTER: TypeAdapter[SubscriptionTerms] = TypeAdapter(SubscriptionTerms)


def default_terms(settings: Settings) -> SubscriptionTerms:
    return SubscriptionTerms(
        credits_per_period=settings.sub_credits,
        chat_per_day=settings.sub_chat_daily,
        month_stars=settings.sub_stars,
        year_stars=settings.sub_year_stars,
    )


def validate_terms(settings: Settings, raw: object) -> SubscriptionTerms:
    """The item as the operator wrote it (fields left out keep their defaults); ValueError if invalid."""
    if not isinstance(raw, dict):
        raise ValueError("invalid subscription: expected an object")
    merged: dict[str, Any] = {**default_terms(settings).model_dump(), **raw}
    try:
        return TERMS_ADAPTER.validate_python(merged)
    except ValidationError as exc:
        problems = validation_problems(exc, "subscription")
        raise ValueError(f"invalid subscription: {problems}") from None


def terms(settings: Settings) -> SubscriptionTerms:
    """The subscription's terms now: the settings item if valid (else logged), else the defaults."""
    override = cached_setting(SETTING_KEY)
    if override:
        try:
            return validate_terms(settings, override)
        except ValueError as exc:
            logger.warning("subscription override ignored", extra={"error": str(exc)})
    return default_terms(settings)


def order_for(settings: Settings, plan: str, user_id: int) -> Order:
    current = terms(settings)
    if plan == MONTH:
        return Order(MONTH, current.credits_per_period, current.month_stars, user_id)
    if plan == YEAR:
        return Order(YEAR, current.year_credits, current.year_stars, user_id)
    raise ValueError(f"unknown plan {plan!r}")


def is_subscription(payload: str) -> bool:
    return payload.startswith(PREFIX)


async def plan_link(bot: Bot, settings: Settings, user_id: int, title: str, description: str) -> str:
    """A link to the monthly plan's recurring invoice (Telegram renews it every 30 days)."""
    from aiogram.methods import CreateInvoiceLink
    from aiogram.types import LabeledPrice

    order = order_for(settings, MONTH, user_id)
    method = CreateInvoiceLink(
        title=title,
        description=description,
        payload=order.payload,
        currency=CURRENCY,
        prices=[LabeledPrice(label=title, amount=order.stars)],
        provider_token="",
        subscription_period=PERIOD_SECONDS,
    )
    return await send(bot, method, user_id=user_id)


def check(
    settings: Settings, *, user_id: int, payload: str, currency: str, total_amount: int, blocked: bool
) -> str | None:
    """Pre-checkout of a subscription invoice: None to accept, else the reason (a msgid)."""
    order = parse(payload)
    if order is None or order.product_id not in PLANS or currency != CURRENCY:
        return DECLINE_UNKNOWN
    if order.user_id != user_id:
        return DECLINE_NOT_YOURS
    if blocked:
        return DECLINE_BLOCKED
    expected = order_for(settings, order.product_id, user_id)
    if (expected.credits, expected.stars) != (order.credits, order.stars) or total_amount != order.stars:
        return DECLINE_CHANGED
    return None


@dataclass(frozen=True)
class Charge:
    """One settled subscription charge."""

    user_id: int
    payment_id: str
    plan: str
    credits: int
    until: int  # epoch s: the subscription's end after this charge
    applied: bool  # False: credited before (a redelivery)
    referrer_rewarded: int | None = None


def settle_charge(
    settings: Settings,
    *,
    user_id: int,
    payload: str,
    currency: str,
    total_amount: int,
    charge_id: str,
    expiration_date: int | None = None,
    is_recurring: bool = False,
    is_first_recurring: bool = False,
) -> Charge | None:
    """Credit one subscription charge once and extend the subscription; None when it matches no plan."""
    order = parse(payload)
    if (
        order is None
        or order.product_id not in PLANS
        or currency != CURRENCY
        or order.user_id != user_id
        or total_amount != order.stars
    ):
        logger.error(
            "a subscription payment matches no plan: not credited (refund it: genbot refund)",
            extra={"charge_id": charge_id, "user_id": user_id, "payload": payload[:128]},
        )
        metrics.add_metric(name="PaymentsUnmatched", unit="Count", value=1)
        return None
    payment_id = f"{PaymentMethod.STARS}#{charge_id}"
    monthly = order.product_id == MONTH
    applied = False
    until = 0
    for attempt in range(_ATTEMPTS):
        user = User.get(user_id, consistent_read=True)
        current = int(user.subscription_until) if user.subscription_until is not None else None
        now = int(time.time())
        if monthly:
            until = int(expiration_date or now + PERIOD_SECONDS)
        else:
            until = max(current or 0, now) + YEAR_SECONDS
        until = max(until, current or 0)  # a subscription is never shortened
        notice_at = _next_notice(settings, user, order, charge_id, until, is_first_recurring, now)
        applied_now = _record(
            settings, user_id, order, payment_id, charge_id, until, current, is_first_recurring, notice_at
        )
        if applied_now is None:
            if attempt == _ATTEMPTS - 1:
                raise ConditionFailedError("user", "subscription changed concurrently")
            continue
        applied = applied_now
        break
    if not applied:  # a redelivery: what the first delivery recorded
        stored = Payment.get(payment_id, consistent_read=True)
        until = int(stored.subscription_until or until)
    else:
        metrics.add_metric(name="SubscriptionCharges", unit="Count", value=1)
        logger.info(
            "subscription charge settled",
            extra={
                "payment_id": payment_id,
                "user_id": user_id,
                "plan": order.product_id,
                "renewal": is_recurring and not is_first_recurring,
            },
        )
    referrer = reward_referrer_on_first_payment(settings, User.get(user_id, consistent_read=True))
    return Charge(user_id, payment_id, order.product_id, order.credits, until, applied, referrer)


def _next_notice(
    settings: Settings,
    user: User,
    order: Order,
    charge_id: str,
    until: int,
    is_first_recurring: bool,
    now: int,
) -> int | None:
    """The subscription notices' key once this charge is recorded: ``next_notice`` of the user
    as ``_record`` leaves them (``user``, just read, takes the new facts)."""
    user.subscription_until = until
    if order.product_id == MONTH:
        user.subscription_charge_id = (
            charge_id if is_first_recurring else (user.subscription_charge_id or charge_id)
        )
        user.subscription_renews = (
            True if is_first_recurring or user.subscription_renews is None else user.subscription_renews
        )
    return next_notice(settings, user, now)


def _record(
    settings: Settings,
    user_id: int,
    order: Order,
    payment_id: str,
    charge_id: str,
    until: int,
    current: int | None,
    is_first_recurring: bool,
    notice_at: int | None,
) -> bool | None:
    """One transaction: entry + balance + subscription fields + notice key + payment. None: the
    user changed."""
    now = now_ms()
    payment = Payment(
        payment_id,
        user_id=user_id,
        method=str(PaymentMethod.STARS),
        product=order.product_id,
        amount=order.stars,
        currency=CURRENCY,
        credits=order.credits,
        status=PaymentStatus.SUCCEEDED,
        settled_at=now,
        provider_payment_id=charge_id,
        subscription_until=until,
    )
    actions = [
        User.first_paid_at.set(User.first_paid_at | now),
        User.subscription_until.set(until),
        *sub_key(notice_at),
    ]
    if order.product_id == MONTH:
        # the subscription to cancel or resume: a new one replaces it, a renewal keeps it
        charge = charge_id if is_first_recurring else (User.subscription_charge_id | charge_id)
        actions += [
            User.subscription_charge_id.set(charge),
            User.subscription_renews.set(True if is_first_recurring else (User.subscription_renews | True)),
        ]
    unchanged = (
        User.subscription_until.does_not_exist() if current is None else User.subscription_until == current
    )

    def record(tx: Transaction) -> object:
        return tx.save("payment", payment, condition=Payment.payment_id.does_not_exist())

    try:
        return apply(
            Posting(
                user_id, f"pay#{payment_id}", order.credits, EntryKind.SUBSCRIPTION, note=order.product_id
            ),
            user_actions=actions,
            user_condition=unchanged,
            extra=[record],
        )
    except ConditionFailedError as exc:
        if exc.item == "user":
            return None
        raise


async def set_renewal(bot: Bot, user: User, *, renews: bool) -> bool:
    """Cancel (``renews=False``) or re-enable the monthly renewal; False when there is none."""
    if not user.subscription_charge_id:
        return False
    await send(
        bot,
        EditUserStarSubscription(
            user_id=int(user.user_id),
            telegram_payment_charge_id=str(user.subscription_charge_id),
            is_canceled=not renews,
        ),
        user_id=int(user.user_id),
    )
    User(int(user.user_id)).update(
        actions=[User.subscription_renews.set(renews)], condition=User.user_id.exists()
    )
    user.subscription_renews = renews
    logger.info("subscription renewal changed", extra={"user_id": int(user.user_id), "renews": renews})
    return True


async def cancel_renewal(bot: Bot, user: User) -> bool:
    return await set_renewal(bot, user, renews=False)


async def resume_renewal(bot: Bot, user: User) -> bool:
    return await set_renewal(bot, user, renews=True)
