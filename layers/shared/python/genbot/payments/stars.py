"""Telegram Stars: invoices for packs, the pre-checkout check, and settling a successful payment.

Invoices are in ``XTR`` with an empty provider token and exactly one price. The payload says
what was offered to whom (``<product>:<credits>:<stars>:<user>``, at most 128 bytes), so the
pre-checkout answer can refuse a tampered payload, another user's invoice, a changed price or a
product no longer on sale, well within Telegram's 10 s (no AWS call: the user was loaded by
the middleware). ``successful_payment`` is credited once, keyed by its
``telegram_payment_charge_id``.
"""

from __future__ import annotations

from dataclasses import dataclass

from genbot.config import Settings
from genbot.i18n import N_
from genbot.observability import logger, metrics
from genbot.payments.products import Product, product
from genbot.payments.settle import Settlement, settle
from genbot.store.models import User
from genbot.vocab import PaymentMethod

CURRENCY = "XTR"

DECLINE_UNKNOWN = N_("This offer is no longer available. Please open 🛒 Buy credits again.")
DECLINE_CHANGED = N_("The price has changed since this invoice was made. Please open 🛒 Buy credits again.")
DECLINE_NOT_YOURS = N_("This invoice was made for someone else. Please open 🛒 Buy credits.")
DECLINE_BLOCKED = N_("Purchases are not available for this account. Please write to /paysupport.")


@dataclass(frozen=True)
class Order:
    product_id: str
    credits: int
    stars: int
    user_id: int

    @property
    def payload(self) -> str:
        return f"{self.product_id}:{self.credits}:{self.stars}:{self.user_id}"


def order_for(item: Product, user_id: int) -> Order:
    return Order(item.product_id, item.credits, item.stars, user_id)


def parse(payload: str) -> Order | None:
    parts = payload.split(":")
    if len(parts) != 4 or not all(p.isascii() and p.isdigit() for p in parts[1:]):
        return None
    return Order(parts[0], int(parts[1]), int(parts[2]), int(parts[3]))


def check(
    settings: Settings, *, user_id: int, payload: str, currency: str, total_amount: int, user: User | None
) -> str | None:
    """None when the pre-checkout may be accepted; else the reason (a msgid) to decline with.

    ``user`` is the payer's stored item (None: not registered): the discount offer sells only
    to the user it was made for, and only until it expires.
    """
    order = parse(payload)
    if order is None or currency != CURRENCY:
        return DECLINE_UNKNOWN
    if order.user_id != user_id:
        return DECLINE_NOT_YOURS
    if user is None:
        return DECLINE_BLOCKED
    item = product(settings, order.product_id, user)
    if item is None:
        return DECLINE_UNKNOWN
    if (item.stars, item.credits) != (order.stars, order.credits) or total_amount != order.stars:
        return DECLINE_CHANGED
    return None


def settle_payment(
    settings: Settings, *, user_id: int, payload: str, currency: str, total_amount: int, charge_id: str
) -> Settlement | None:
    """Credit a successful Stars payment once; None (logged, counted) when it matches no order."""
    order = parse(payload)
    if order is None or currency != CURRENCY or order.user_id != user_id or total_amount != order.stars:
        logger.error(
            "a Stars payment matches no order: not credited (refund it: genbot refund)",
            extra={"charge_id": charge_id, "user_id": user_id, "payload": payload[:128]},
        )
        metrics.add_metric(name="PaymentsUnmatched", unit="Count", value=1)
        return None
    return settle(
        settings,
        user_id=user_id,
        method=PaymentMethod.STARS,
        provider_payment_id=charge_id,
        product=order.product_id,
        amount=total_amount,
        currency=currency,
        credits=order.credits,
    )
