"""Refunds: money back through the payment's provider, then its credits taken back once.

``refund(settings, payment_id)`` (the operator's ``genbot refund PAYMENT_ID``):

1. the provider first: Stars through ``refundStarPayment`` (an answer of
   ``CHARGE_ALREADY_REFUNDED`` means an earlier run got this far), YooKassa through its refunds
   API with the idempotence key ``refund#<payment_id>``; a failure stops here, nothing debited;
2. then one ledger transaction keyed ``refund#<payment_id>``: the debit and the payment marked
   ``refunded`` (``refunded_at``, ``refund_credits``, ``refund_shortfall``).

The shortfall rule (docs/decisions.md): credits already spent can't be taken back, so the
debit is ``min(credits, balance)`` and the rest is recorded as ``refund_shortfall``; the
balance never goes below zero. A refunded subscription charge that the subscription ends on
ends it now (and a monthly one stops renewing at Telegram), and the "ended" notice is due
(``genbot.notify.subscriptions``). Running it twice refunds and debits once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from aiogram.methods import EditUserStarSubscription, RefundStarPayment
from pynamodb.expressions.update import Action

from genbot import runtime, stats
from genbot.config import Settings
from genbot.ledger import InsufficientFundsError, Posting, apply
from genbot.observability import logger, metrics
from genbot.payments.subscriptions import MONTH as SUB_MONTH
from genbot.payments.subscriptions import PREFIX as SUB_PREFIX
from genbot.store.models import Payment, User, now_ms
from genbot.store.transaction import Transaction
from genbot.telegram.sending import SendFailure, send
from genbot.users.subscription_notices import next_notice, sub_key
from genbot.vocab import EntryKind, PaymentMethod, PaymentStatus

ALREADY_REFUNDED = "CHARGE_ALREADY_REFUNDED"
_ATTEMPTS = 5  # the balance moved between the read and the debit: read again


class RefundError(Exception):
    """This payment can't be refunded (unknown, not paid, the provider refused); the message says why."""


@dataclass(frozen=True)
class RefundResult:
    payment_id: str
    user_id: int
    credits: int  # credits taken back
    shortfall: int  # credits the user had already spent
    balance: int  # the user's balance after
    applied: bool  # False: refunded before (nothing done this time)


def op_id(payment_id: str) -> str:
    return f"refund#{payment_id}"


def refund(settings: Settings, payment_id: str) -> RefundResult:
    """Refund ``payment_id`` (``stars#<charge>``, ``yk#<id>``) once. Raises RefundError."""
    try:
        payment = Payment.get(payment_id, consistent_read=True)
    except Payment.DoesNotExist:
        raise RefundError(f"no payment {payment_id}") from None
    user_id = int(payment.user_id)
    if payment.status == PaymentStatus.REFUNDED:
        return _result(payment, applied=False)
    if payment.status != PaymentStatus.SUCCEEDED:
        raise RefundError(f"payment {payment_id} is {payment.status}, not succeeded: nothing to refund")
    _refund_at_provider(settings, payment)
    if payment.product == SUB_MONTH:
        _stop_renewal(payment)
    debited = shortfall = 0
    applied = False
    for _attempt in range(_ATTEMPTS):
        user = User.get(user_id, consistent_read=True)
        owed = int(payment.credits)
        debited = max(0, min(owed, int(user.balance)))
        shortfall = owed - debited
        try:
            applied = _debit(payment, debited, shortfall, _end_subscription(settings, payment, user))
        except InsufficientFundsError:
            continue  # spent in between: take what is left now
        break
    else:
        raise RefundError(f"payment {payment_id}: the balance kept changing; run the refund again")
    stored = Payment.get(payment_id, consistent_read=True)
    if applied:
        metrics.add_metric(name="PaymentsRefunded", unit="Count", value=1)
        metrics.add_metric(name="CreditsTakenBack", unit="Count", value=debited)
        stats.bump(
            f"pay#{payment.currency}",
            refunds=1,
            refunded_amount=int(payment.amount),
            refunded_credits=debited,
        )
        logger.info(
            "payment refunded",
            extra={"payment_id": payment_id, "user_id": user_id, "credits": debited, "shortfall": shortfall},
        )
    return _result(stored, applied=applied)


def _result(payment: Payment, *, applied: bool) -> RefundResult:
    user_id = int(payment.user_id)
    return RefundResult(
        payment.payment_id,
        user_id,
        int(payment.refund_credits or 0),
        int(payment.refund_shortfall or 0),
        int(User.get(user_id, consistent_read=True).balance),
        applied,
    )


def _refund_at_provider(settings: Settings, payment: Payment) -> None:
    provider_id = str(payment.provider_payment_id or payment.payment_id.split("#", 1)[1])
    if payment.method == PaymentMethod.STARS:
        method = RefundStarPayment(user_id=int(payment.user_id), telegram_payment_charge_id=provider_id)
        try:
            runtime.run(send(runtime.bot(), method, payment_id=payment.payment_id))
        except SendFailure as exc:
            if ALREADY_REFUNDED in exc.description:
                logger.info("Stars charge refunded before", extra={"payment_id": payment.payment_id})
                return
            raise RefundError(f"Telegram refused the refund of {payment.payment_id}: {exc}") from exc
    elif payment.method == PaymentMethod.YOOKASSA:
        from genbot.payments.yookassa import YooKassaError, create_refund

        try:
            status = create_refund(settings, provider_id, int(payment.amount), op_id(payment.payment_id))
        except YooKassaError as exc:
            raise RefundError(f"YooKassa refused the refund of {payment.payment_id}: {exc}") from exc
        if status == "canceled":
            raise RefundError(f"YooKassa canceled the refund of {payment.payment_id}")
    else:
        raise RefundError(f"payment {payment.payment_id}: unknown method {payment.method}")


def _end_subscription(settings: Settings, payment: Payment, user: User) -> list[Action]:
    """A refunded subscription charge that the subscription ends on: it ends now, renewing no
    more, and the "ended" notice is due (``user``, just read, takes the new facts)."""
    if (
        not payment.product.startswith(SUB_PREFIX)
        or payment.subscription_until is None
        or user.subscription_until is None
        or int(user.subscription_until) != int(payment.subscription_until)
    ):
        return []
    now = int(time.time())
    user.subscription_until = now
    user.subscription_renews = False
    return [
        User.subscription_until.set(now),
        User.subscription_renews.set(False),
        *sub_key(next_notice(settings, user, now)),
    ]


def _stop_renewal(payment: Payment) -> None:
    """A refunded monthly charge that the current period rests on: Telegram stops renewing it
    (best effort; logged when it can't). An earlier charge of a subscription renewed since
    changes nothing: the renewal paid for this period and it goes on renewing, as the bot shows
    (the same rule as ``_end_subscription``)."""
    user = User.get(int(payment.user_id), consistent_read=True)
    if not user.subscription_charge_id or not user.subscription_renews:
        return
    if (
        payment.subscription_until is None
        or user.subscription_until is None
        or int(user.subscription_until) != int(payment.subscription_until)
    ):
        return
    method = EditUserStarSubscription(
        user_id=int(user.user_id),
        telegram_payment_charge_id=str(user.subscription_charge_id),
        is_canceled=True,
    )
    try:
        runtime.run(send(runtime.bot(), method, payment_id=payment.payment_id))
    except SendFailure:
        logger.warning("could not cancel the refunded subscription", extra={"payment_id": payment.payment_id})


def _debit(payment: Payment, debited: int, shortfall: int, user_actions: Sequence[Action] = ()) -> bool:
    """The ledger entry (possibly 0: all spent) and the payment marked refunded, together."""

    def mark(tx: Transaction) -> object:
        return tx.update(
            "payment",
            Payment(payment.payment_id),
            actions=[
                Payment.status.set(PaymentStatus.REFUNDED),
                Payment.refunded_at.set(now_ms()),
                Payment.refund_credits.set(debited),
                Payment.refund_shortfall.set(shortfall),
            ],
            condition=Payment.status == PaymentStatus.SUCCEEDED,
        )

    return apply(
        Posting(
            int(payment.user_id), op_id(payment.payment_id), -debited, EntryKind.REFUND, note=payment.product
        ),
        user_actions=user_actions,
        extra=[mark],
    )


def describe(result: RefundResult) -> str:
    """One line for the operator."""
    if not result.applied:
        return f"{result.payment_id}: refunded before ({result.credits} credits taken back); nothing done"
    tail = f"; {result.shortfall} already spent (shortfall recorded)" if result.shortfall else ""
    return (
        f"{result.payment_id}: refunded; {result.credits} credits taken back from user {result.user_id}"
        f"{tail}; balance now {result.balance}"
    )


__all__ = ["RefundError", "RefundResult", "describe", "op_id", "refund"]
