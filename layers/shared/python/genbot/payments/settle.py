"""The one way money comes in: ``settle()`` credits a payment once, whichever path reports it.

A settled payment is one transaction: the ledger entry keyed by the payment's business id
(``pay#stars#<telegram_payment_charge_id>``, ``pay#yk#<payment id>``), the balance, the user's
first-payment time and the payment item marked succeeded. A duplicate webhook, a retried
Lambda or two settle paths racing (YooKassa's poll and its notification) find the entry there
and change nothing. The referrer's reward for a first payment follows, keyed ``ref#<user>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from genbot import stats
from genbot.config import Settings
from genbot.ledger import Posting, apply
from genbot.observability import logger, metrics
from genbot.payments.products import OFFER
from genbot.store.models import Payment, User, now_ms
from genbot.store.transaction import Transaction
from genbot.users.service import reward_referrer_on_first_payment
from genbot.vocab import EntryKind, PaymentMethod, PaymentStatus


@dataclass(frozen=True)
class Settlement:
    user_id: int
    payment_id: str
    credits: int
    applied: bool  # False: it was settled before (a replay)
    referrer_rewarded: int | None = None


def settle(
    settings: Settings,
    *,
    user_id: int,
    method: PaymentMethod,
    provider_payment_id: str,
    product: str,
    amount: int,
    currency: str,
    credits: int,
    subscription_until: int | None = None,
) -> Settlement:
    """Credit ``credits`` for this payment, once. Raises the ledger's errors (retry them)."""
    payment_id = f"{method}#{provider_payment_id}"
    logger.append_keys(payment_id=payment_id)  # every later line of this invocation names it
    now = now_ms()
    payment = Payment(
        payment_id,
        user_id=user_id,
        method=str(method),
        product=product,
        amount=amount,
        currency=currency,
        credits=credits,
        status=PaymentStatus.SUCCEEDED,
        settled_at=now,
        provider_payment_id=provider_payment_id,
        subscription_until=subscription_until,
    )

    def record(tx: Transaction) -> object:
        # a payment created earlier (YooKassa: pending) is settled; a Stars one is new
        unsettled = Payment.status.does_not_exist() | (Payment.status != PaymentStatus.SUCCEEDED)
        return tx.save("payment", payment, condition=unsettled)

    user_actions = [User.first_paid_at.set(User.first_paid_at | now)]
    if product == OFFER:  # the discount offer sells once
        user_actions.append(User.offer_until.remove())
    applied = apply(
        Posting(user_id, f"pay#{payment_id}", credits, EntryKind.PURCHASE, note=product),
        user_actions=user_actions,
        extra=[record],
    )
    if applied:
        metrics.add_metric(name="PaymentsSettled", unit="Count", value=1)
        metrics.add_metric(name=f"PaymentsSettled_{method}", unit="Count", value=1)  # by path
        metrics.add_metric(name="CreditsSold", unit="Count", value=credits)
        stats.bump(f"pay#{currency}", now / 1000, payments=1, amount=amount, credits=credits)
        logger.info(
            "payment settled", extra={"payment_id": payment_id, "user_id": user_id, "credits": credits}
        )
    user = User.get(user_id, consistent_read=True)
    referrer = reward_referrer_on_first_payment(settings, user)
    return Settlement(user_id, payment_id, credits, applied, referrer)
