"""Refunds: the provider refunds once, the credits are taken back once, never below zero."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from genbot import cli
from genbot.config import get_settings
from genbot.ledger import Posting, apply
from genbot.ledger.audit import audit
from genbot.payments import refunds
from genbot.payments.settle import settle
from genbot.store.models import LedgerEntry, Payment, User
from genbot.vocab import EntryKind, PaymentMethod

BUYER = 919700


@pytest.fixture
def paid(chat_user, deliver, telegram_update, telegram, aws):  # type: ignore[no-untyped-def]
    """A user (3 welcome credits) who bought the 20-credit pack with Stars; its payment id.

    Each test's charge id is new: the stand-in remembers refunded charges for the session.
    """
    charge = f"stxREFUND{uuid.uuid4().hex[:12]}"
    person = chat_user(BUYER, language="en")
    person.start()
    update = telegram_update("message_successful_payment", user_id=BUYER)
    update["message"]["successful_payment"].update(
        {
            "invoice_payload": f"pack_s:20:100:{BUYER}",
            "total_amount": 100,
            "telegram_payment_charge_id": charge,
        }
    )
    deliver(update)
    assert User.get(BUYER).balance == 23
    telegram.clear_calls()
    return f"stars#{charge}"


def refund_entries() -> list[Any]:
    return [e for e in LedgerEntry.query(BUYER) if e.op_id.startswith("refund#")]


def test_a_stars_refund_calls_refund_star_payment_and_debits_the_credits_once(paid, telegram) -> None:
    first = refunds.refund(get_settings(), paid)
    second = refunds.refund(get_settings(), paid)

    assert (first.applied, first.credits, first.shortfall, first.balance) == (True, 20, 0, 3)
    assert (second.applied, second.credits, second.balance) == (False, 20, 3)
    (call,) = telegram.calls_for("refundStarPayment")
    assert call.params == {"user_id": BUYER, "telegram_payment_charge_id": paid.split("#", 1)[1]}
    assert User.get(BUYER).balance == 3
    assert [(e.op_id, int(e.delta), e.kind) for e in refund_entries()] == [(f"refund#{paid}", -20, "refund")]
    payment = Payment.get(paid)
    assert (payment.status, int(payment.refund_credits), int(payment.refund_shortfall)) == ("refunded", 20, 0)
    assert payment.refunded_at
    assert audit() == []


def test_a_partly_spent_purchase_takes_what_is_left_and_records_the_shortfall(paid) -> None:
    apply(Posting(BUYER, "job#spent", -20, EntryKind.DEBIT))  # 20 of 23 spent

    result = refunds.refund(get_settings(), paid)
    again = refunds.refund(get_settings(), paid)

    assert (result.credits, result.shortfall, result.balance) == (3, 17, 0)
    assert not again.applied
    assert User.get(BUYER).balance == 0  # never negative
    payment = Payment.get(paid)
    assert (payment.status, int(payment.refund_credits), int(payment.refund_shortfall)) == ("refunded", 3, 17)
    assert [int(e.delta) for e in refund_entries()] == [-3]
    assert audit() == []


def test_a_fully_spent_purchase_is_refunded_with_a_zero_entry(paid) -> None:
    apply(Posting(BUYER, "job#all", -23, EntryKind.DEBIT))

    result = refunds.refund(get_settings(), paid)

    assert (result.credits, result.shortfall, result.balance) == (0, 20, 0)
    assert [int(e.delta) for e in refund_entries()] == [0]
    assert audit() == []


def test_a_charge_refunded_at_telegram_before_is_still_debited_once(paid, telegram) -> None:
    """An earlier run refunded the Stars and died before the ledger: the rerun finishes it."""
    from aiogram.methods import RefundStarPayment

    from genbot import runtime

    charge = paid.split("#", 1)[1]
    runtime.run(runtime.bot()(RefundStarPayment(user_id=BUYER, telegram_payment_charge_id=charge)))

    result = refunds.refund(get_settings(), paid)

    assert result.applied and result.balance == 3
    assert audit() == []


def test_genbot_refund_command(paid, capsys, telegram) -> None:
    assert cli.main(["refund", paid, "--reason", "asked in /paysupport"]) == 0
    assert cli.main(["refund", paid]) == 0
    out = capsys.readouterr().out
    assert "20 credits taken back" in out and "refunded before" in out
    assert len(telegram.calls_for("refundStarPayment")) == 1
    assert User.get(BUYER).balance == 3

    assert cli.main(["refund", "stars#nope"]) == 1
    assert "no payment" in capsys.readouterr().err
    assert audit() == []


def test_a_yookassa_refund_goes_through_its_refunds_api(chat_user, aws, monkeypatch) -> None:
    from genbot.payments import yookassa

    person = chat_user(BUYER, language="en")
    person.start()
    settle(
        get_settings(),
        user_id=BUYER,
        method=PaymentMethod.YOOKASSA,
        provider_payment_id="yk-123",
        product="pack_s",
        amount=19900,
        currency="RUB",
        credits=20,
    )
    calls: list[tuple[str, int, str]] = []

    def create_refund(
        settings: Any, provider_payment_id: str, amount_kopecks: int, idempotence_key: str
    ) -> str:
        calls.append((provider_payment_id, amount_kopecks, idempotence_key))
        return "succeeded"

    monkeypatch.setattr(yookassa, "create_refund", create_refund)

    assert refunds.refund(get_settings(), "yk#yk-123").credits == 20
    assert not refunds.refund(get_settings(), "yk#yk-123").applied
    assert calls == [("yk-123", 19900, "refund#yk#yk-123")]
    assert User.get(BUYER).balance == 3
    assert audit() == []


def test_refunding_the_subscription_charge_it_ends_on_ends_it_and_stops_renewal(
    chat_user, deliver, telegram_update, telegram, aws
) -> None:
    person = chat_user(BUYER, language="en")
    person.start()
    charge = f"stxSUBREFUND{uuid.uuid4().hex[:12]}"
    update = telegram_update("message_successful_payment", user_id=BUYER)
    update["message"]["successful_payment"].update(
        {
            "invoice_payload": f"sub_month:150:450:{BUYER}",
            "total_amount": 450,
            "telegram_payment_charge_id": charge,
            "subscription_expiration_date": int(time.time()) + 30 * 24 * 3600,
            "is_recurring": True,
            "is_first_recurring": True,
        }
    )
    deliver(update)
    assert User.get(BUYER).balance == 3 + 150

    result = refunds.refund(get_settings(), f"stars#{charge}")

    assert (result.credits, result.balance) == (150, 3)
    user = User.get(BUYER)
    assert int(user.subscription_until) <= time.time() and user.subscription_renews is False
    (cancel,) = telegram.calls_for("editUserStarSubscription")
    assert cancel.params["telegram_payment_charge_id"] == charge and cancel.params["is_canceled"] is True
    assert audit() == []
