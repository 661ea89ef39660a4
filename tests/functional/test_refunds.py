"""Refunds: the provider refunds once, the credits are taken back once, never below zero."""

from __future__ import annotations

import json
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


def bought_pack_with_rubles(chat_user, provider_payment_id: str) -> None:
    """The buyer, registered, with a 20-credit pack paid through YooKassa (settled)."""
    person = chat_user(BUYER, language="en")
    person.start()
    settle(
        get_settings(),
        user_id=BUYER,
        method=PaymentMethod.YOOKASSA,
        provider_payment_id=provider_payment_id,
        product="pack_s",
        amount=19900,
        currency="RUB",
        credits=20,
    )


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

    bought_pack_with_rubles(chat_user, "yk-123")
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
    payment_id = _monthly_subscriber(chat_user, deliver, telegram_update)
    charge = payment_id.removeprefix("stars#")
    assert User.get(BUYER).balance == 3 + 150

    result = refunds.refund(get_settings(), payment_id)

    assert (result.credits, result.balance) == (150, 3)
    user = User.get(BUYER)
    assert int(user.subscription_until) <= time.time() and user.subscription_renews is False
    (cancel,) = telegram.calls_for("editUserStarSubscription")
    assert cancel.params["telegram_payment_charge_id"] == charge and cancel.params["is_canceled"] is True
    assert audit() == []


# --- found by mutation testing (docs/mutation.md) -------------------------------------------------


def test_a_payment_not_paid_yet_is_not_refunded(chat_user, aws, telegram) -> None:
    person = chat_user(BUYER, language="en")
    person.start()
    Payment(
        "yk#yk-pending",
        user_id=BUYER,
        method="yk",
        product="pack_s",
        amount=19900,
        currency="RUB",
        credits=20,
    ).save()  # created when the user asked for the YooKassa link; never paid

    with pytest.raises(refunds.RefundError, match="not succeeded"):
        refunds.refund(get_settings(), "yk#yk-pending")

    assert Payment.get("yk#yk-pending").status == "pending" and refund_entries() == []
    assert User.get(BUYER).balance == 3


def test_refunding_a_pack_leaves_the_subscription_running(
    chat_user, deliver, telegram_update, telegram, aws
) -> None:
    person = chat_user(BUYER, language="en")
    person.start()
    until = int(time.time()) + 30 * 24 * 3600
    sub_charge = f"stxSUB{uuid.uuid4().hex[:12]}"
    pack_charge = f"stxPACK{uuid.uuid4().hex[:12]}"
    sub = telegram_update("message_successful_payment", user_id=BUYER)
    sub["message"]["successful_payment"].update(
        {
            "invoice_payload": f"sub_month:150:450:{BUYER}",
            "total_amount": 450,
            "telegram_payment_charge_id": sub_charge,
            "subscription_expiration_date": until,
            "is_recurring": True,
            "is_first_recurring": True,
        }
    )
    deliver(sub)
    pack = telegram_update("message_successful_payment", user_id=BUYER)
    pack["message"]["successful_payment"].update(
        {
            "invoice_payload": f"pack_s:20:100:{BUYER}",
            "total_amount": 100,
            "telegram_payment_charge_id": pack_charge,
        }
    )
    deliver(pack)
    before = User.get(BUYER)

    result = refunds.refund(get_settings(), f"stars#{pack_charge}")

    assert (result.credits, result.balance) == (20, 3 + 150)
    user = User.get(BUYER)
    assert user.subscription_until == before.subscription_until and user.subscription_renews is True
    assert telegram.calls_for("editUserStarSubscription") == []


def test_a_fully_spent_purchase_refunded_again_still_says_nothing_was_taken_back(paid) -> None:
    apply(Posting(BUYER, "job#all", -23, EntryKind.DEBIT))
    refunds.refund(get_settings(), paid)

    again = refunds.refund(get_settings(), paid)

    assert (again.applied, again.credits, again.shortfall, again.balance) == (False, 0, 20, 0)
    assert "0 credits taken back" in refunds.describe(again)


def test_credits_spent_while_the_refund_runs_are_recorded_as_shortfall(
    paid,
) -> None:
    """The user's job debits 10 credits between the refund's read of the balance and its debit:
    the debit no longer fits, so the refund reads again and takes what is left."""
    from genbot.store.transaction import connection

    raced: list[bool] = []

    def job_debits_first(params: dict[str, Any], **_: Any) -> None:
        if not raced and "refund#" in str(params):  # the refund's debit is about to be sent
            raced.append(True)  # the job's debit lands first (its own transaction, through the ledger)
            apply(Posting(BUYER, "job#meanwhile#debit", -10, EntryKind.DEBIT))

    events = connection().client.meta.events
    events.register("before-call.dynamodb.TransactWriteItems", job_debits_first)
    try:
        result = refunds.refund(get_settings(), paid)
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", job_debits_first)

    assert raced and (result.applied, result.credits, result.shortfall, result.balance) == (True, 13, 7, 0)
    assert "7 already spent" in refunds.describe(result)
    payment = Payment.get(paid)
    assert (payment.status, int(payment.refund_credits), int(payment.refund_shortfall)) == ("refunded", 13, 7)
    assert audit() == []


def test_a_yookassa_refund_the_provider_cancels_takes_nothing_back(chat_user, aws, monkeypatch) -> None:
    from genbot.payments import yookassa

    bought_pack_with_rubles(chat_user, "yk-456")
    answer = '{"id": "rf-1", "status": "canceled"}'  # as parsed from YooKassa's answer

    monkeypatch.setattr(yookassa, "create_refund", lambda *args: json.loads(answer)["status"])

    with pytest.raises(refunds.RefundError, match="canceled"):
        refunds.refund(get_settings(), "yk#yk-456")

    assert Payment.get("yk#yk-456").status == "succeeded" and User.get(BUYER).balance == 23


def test_refunding_an_earlier_charge_of_a_renewed_subscription_keeps_the_paid_period(
    chat_user, deliver, telegram_update, telegram, aws
) -> None:
    person = chat_user(BUYER, language="en")
    person.start()
    first_end = int(time.time()) + 30 * 24 * 3600
    charges = [f"stxSUBA{uuid.uuid4().hex[:12]}", f"stxSUBB{uuid.uuid4().hex[:12]}"]
    for n, (charge, end) in enumerate(zip(charges, (first_end, first_end + 30 * 24 * 3600), strict=True)):
        update = telegram_update("message_successful_payment", user_id=BUYER)
        update["message"]["successful_payment"].update(
            {
                "invoice_payload": f"sub_month:150:450:{BUYER}",
                "total_amount": 450,
                "telegram_payment_charge_id": charge,
                "subscription_expiration_date": end,
                "is_recurring": True,
                "is_first_recurring": n == 0,
            }
        )
        deliver(update)
    assert int(User.get(BUYER).subscription_until) == first_end + 30 * 24 * 3600

    result = refunds.refund(get_settings(), f"stars#{charges[0]}")  # last month's charge

    assert (result.credits, result.balance) == (150, 3 + 150)
    user = User.get(BUYER)
    assert int(user.subscription_until) == first_end + 30 * 24 * 3600  # the renewal paid for it
    # ...and it goes on renewing: Telegram is not told to cancel what the bot still shows as renewing
    assert user.subscription_renews is True
    assert telegram.calls_for("editUserStarSubscription") == []
    assert audit() == []


def test_a_payment_stored_without_its_provider_id_is_refunded_by_the_charge_in_its_key(
    chat_user, aws, telegram
) -> None:
    """Payment items written before ``provider_payment_id`` existed: the charge id is in the key."""
    person = chat_user(BUYER, language="en")
    person.start()
    charge = f"stxOLD{uuid.uuid4().hex[:12]}"
    apply(Posting(BUYER, f"pay#stars#{charge}", 20, EntryKind.PURCHASE, note="pack_s"))
    Payment(
        f"stars#{charge}",
        user_id=BUYER,
        method="stars",
        product="pack_s",
        amount=100,
        currency="XTR",
        credits=20,
        status="succeeded",
    ).save()

    result = refunds.refund(get_settings(), f"stars#{charge}")

    (call,) = telegram.calls_for("refundStarPayment")
    assert call.params["telegram_payment_charge_id"] == charge
    assert (result.applied, result.credits, result.balance) == (True, 20, 3)
    assert audit() == []


def _monthly_subscriber(chat_user, deliver, telegram_update) -> str:  # type: ignore[no-untyped-def]
    """A user who paid the first monthly charge (renewing); its payment id."""
    chat_user(BUYER, language="en").start()
    charge = f"stxSUBN{uuid.uuid4().hex[:12]}"
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
    return f"stars#{charge}"


def test_refunding_the_subscription_charge_makes_the_ended_notice_due_now(
    chat_user, deliver, telegram_update, aws
) -> None:
    payment_id = _monthly_subscriber(chat_user, deliver, telegram_update)

    refunds.refund(get_settings(), payment_id)

    user = User.get(BUYER)
    assert user.sub_q and int(user.sub_at) <= time.time()  # no renewal grace: it won't renew
    assert int(user.subscription_until) <= time.time() and user.subscription_renews is False


def test_a_subscription_telegram_fails_to_cancel_is_still_refunded(
    chat_user, deliver, telegram_update, telegram, aws
) -> None:
    payment_id = _monthly_subscriber(chat_user, deliver, telegram_update)
    telegram.fail_next("editUserStarSubscription", 400, "Bad Request: SUBSCRIPTION_NOT_FOUND")

    result = refunds.refund(get_settings(), payment_id)

    assert (result.applied, result.credits, result.balance) == (True, 150, 3)
    assert len(telegram.calls_for("refundStarPayment")) == 1
    assert audit() == []


def test_a_yookassa_refund_the_provider_refuses_takes_nothing_back(chat_user, aws, monkeypatch) -> None:
    from genbot.payments import yookassa

    chat_user(BUYER, language="en").start()
    settle(
        get_settings(),
        user_id=BUYER,
        method=PaymentMethod.YOOKASSA,
        provider_payment_id="yk-789",
        product="pack_s",
        amount=19900,
        currency="RUB",
        credits=20,
    )

    def refused(*args: Any) -> str:
        raise yookassa.YooKassaError("the payment can't be refunded")

    monkeypatch.setattr(yookassa, "create_refund", refused)

    with pytest.raises(refunds.RefundError, match="YooKassa refused"):
        refunds.refund(get_settings(), "yk#yk-789")

    assert Payment.get("yk#yk-789").status == "succeeded" and User.get(BUYER).balance == 23
    assert refund_entries() == []


def test_a_refund_is_counted_once_in_the_daily_stats(paid) -> None:
    from genbot import stats

    refunds.refund(get_settings(), paid)
    refunds.refund(get_settings(), paid)  # nothing done: not counted again

    days = [day.counters.get("pay#XTR", {}) for day in stats.read(2)]  # today (and yesterday: midnight)
    counted = [
        sum(day.get(name, 0) for day in days) for name in ("refunds", "refunded_amount", "refunded_credits")
    ]
    assert counted == [1, 100, 20]
