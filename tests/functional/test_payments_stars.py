"""Telegram Stars: packs as buttons, invoices, the pre-checkout check, crediting exactly once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from genbot.config import get_settings
from genbot.ledger.audit import audit
from genbot.store.models import LedgerEntry, Payment, User

BUYER = 919000


@pytest.fixture
def buyer(chat_user, aws):  # type: ignore[no-untyped-def]
    person = chat_user(BUYER)
    person.start()
    return person


def pay_update(telegram_update, user_id: int, payload: str, amount: int, charge: str, **extra: Any) -> dict:
    update = telegram_update("message_successful_payment", user_id=user_id)
    update["message"]["successful_payment"].update(
        {"invoice_payload": payload, "total_amount": amount, "telegram_payment_charge_id": charge, **extra}
    )
    return update


def pre_checkout(telegram_update, user_id: int, payload: str, amount: int, currency: str = "XTR") -> dict:
    update = telegram_update("pre_checkout_query", user_id=user_id)
    update["pre_checkout_query"].update(
        {"invoice_payload": payload, "total_amount": amount, "currency": currency}
    )
    return update


def test_buy_shows_each_pack_and_a_button_sends_a_stars_invoice(buyer, telegram) -> None:
    menu = buyer.send("🛒 Купить кредиты")
    labels = list(buyer.buttons())
    assert labels == ["20 кредитов — 100 ⭐", "60 кредитов — 250 ⭐", "150 кредитов — 550 ⭐", "⭐ Подписка"]
    assert "Stars" in menu["text"]

    buyer.press_button("20 кредитов")
    (invoice,) = telegram.calls_for("sendInvoice")
    params = invoice.params
    assert invoice.ok and params["currency"] == "XTR" and params.get("provider_token", "") == ""
    assert params["prices"] == [{"label": "20 кредитов", "amount": 100}]
    assert params["payload"] == f"pack_s:20:100:{BUYER}"


def test_pre_checkout_accepts_what_was_offered_and_declines_anything_else(
    buyer, deliver, telegram_update
) -> None:
    def answer(payload: str, amount: int = 100, currency: str = "XTR", user_id: int = BUYER) -> dict:
        reply = deliver(pre_checkout(telegram_update, user_id, payload, amount, currency))
        body = json.loads(reply["body"])
        assert body["method"] == "answerPreCheckoutQuery"  # in the webhook's answer: no round trip
        return body

    assert answer(f"pack_s:20:100:{BUYER}")["ok"] is True
    for payload, amount, currency, why in [
        (f"pack_s:20:1:{BUYER}", 1, "XTR", "изменилась"),  # tampered price
        (f"pack_s:999:100:{BUYER}", 100, "XTR", "изменилась"),  # tampered credits
        (f"pack_s:20:100:{BUYER}", 100, "USD", "больше не доступно"),  # not Stars
        ("pack_s:20:100:1", 100, "XTR", "для другого"),  # someone else's invoice
        (f"pack_xl:20:100:{BUYER}", 100, "XTR", "больше не доступно"),  # unknown product
        ("garbage", 100, "XTR", "больше не доступно"),
    ]:
        body = answer(payload, amount, currency)
        assert body["ok"] is False and why in body["error_message"], (payload, body)
    assert User.get(BUYER).balance == 3


def test_a_successful_payment_delivered_five_times_at_once_credits_once(
    buyer, deliver, telegram_update, telegram
) -> None:
    update = pay_update(telegram_update, BUYER, f"pack_s:20:100:{BUYER}", 100, "stxCHARGE-1")

    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(lambda _: deliver(update), range(5)))

    assert all(a["statusCode"] == 200 for a in answers)
    assert User.get(BUYER).balance == 3 + 20
    assert [e.op_id for e in LedgerEntry.query(BUYER) if e.op_id.startswith("pay#")] == [
        "pay#stars#stxCHARGE-1"
    ]
    payment = Payment.get("stars#stxCHARGE-1")
    assert (payment.status, payment.credits, payment.amount, payment.currency) == (
        "succeeded",
        20,
        100,
        "XTR",
    )
    receipts = [c for c in telegram.calls_for("sendMessage") if "Оплата получена" in c.params["text"]]
    assert len(receipts) == 1 and "23 кредита" in receipts[0].params["text"]
    assert audit() == []


def test_the_referrer_is_rewarded_once_on_the_friends_first_payment(
    chat_user, deliver, telegram_update, telegram, aws
) -> None:
    referrer = chat_user(919100)
    referrer.start()
    friend = chat_user(919101)
    friend.send("/start ref_919100")
    assert User.get(919100).balance == 3  # nothing for a registration alone

    deliver(pay_update(telegram_update, 919101, "pack_s:20:100:919101", 100, "stxFIRST"))
    deliver(pay_update(telegram_update, 919101, "pack_m:60:250:919101", 250, "stxSECOND"))

    reward = get_settings().referral_reward
    assert User.get(919100).balance == 3 + reward
    assert [e.op_id for e in LedgerEntry.query(919100)] == ["bonus#welcome", "ref#919101"]
    assert User.get(919101).balance == 3 + 20 + 60 and User.get(919101).first_paid_at
    assert sum("первую покупку" in c.params["text"] for c in telegram.calls_for("sendMessage")) == 1
    assert audit() == []


def test_a_payment_that_matches_no_order_is_not_credited_and_the_user_is_told(
    buyer, deliver, telegram_update
) -> None:
    answer = deliver(pay_update(telegram_update, BUYER, "pack_s:20:100:1", 100, "stxODD"))

    assert User.get(BUYER).balance == 3 and "/paysupport" in answer["telegram_result"]["result"]["text"]


def test_paysupport_and_terms_answer(buyer) -> None:
    assert "поддержк" in buyer.send("/paysupport")["text"].lower()
    assert "услови" in buyer.send("/terms")["text"].lower()


def test_the_buy_menu_leads_to_the_subscription(buyer) -> None:
    buyer.send("🛒 Купить кредиты")
    plans = buyer.press_button("Подписка")
    assert "Подписка" in plans["text"] and any("На год" in label for label in buyer.buttons())


# --- found by mutation testing (docs/mutation.md) -------------------------------------------------


def _emf_values(out: str, name: str) -> list[float]:
    """The values of one CloudWatch metric in the EMF documents the functions printed."""
    found: list[float] = []
    for line in out.splitlines():
        if line.startswith('{"_aws"'):
            value = json.loads(line).get(name)
            if value is not None:
                found += value if isinstance(value, list) else [value]
    return found


def test_a_settled_payment_is_counted_once_in_the_sales_metrics_and_stats(
    buyer, deliver, telegram_update, capsys: pytest.CaptureFixture[str]
) -> None:
    update = pay_update(telegram_update, BUYER, f"pack_s:20:100:{BUYER}", 100, "stxMETRICS")
    capsys.readouterr()

    deliver(update)
    out = capsys.readouterr().out
    assert _emf_values(out, "PaymentsSettled") == [1.0]
    assert _emf_values(out, "PaymentsSettled_stars") == [1.0]
    assert _emf_values(out, "CreditsSold") == [20.0]

    deliver(update)  # Telegram's copy: settled before, not sold again
    out = capsys.readouterr().out
    assert _emf_values(out, "PaymentsSettled") == _emf_values(out, "CreditsSold") == []

    from genbot import stats

    sold = [day.counters.get("pay#XTR", {}) for day in stats.read(2)]  # today (and yesterday: midnight)
    assert [sum(day.get(name, 0) for day in sold) for name in ("payments", "amount", "credits")] == [
        1,
        100,
        20,
    ]


def test_buying_the_offer_ends_it_and_buying_a_pack_leaves_it(chat_user, deliver, telegram_update) -> None:
    import time

    until = int(time.time()) + 3600
    for user_id in (919200, 919201):
        chat_user(user_id).start()
        User(user_id).update(actions=[User.offer_until.set(until)])  # each was made the offer

    deliver(pay_update(telegram_update, 919200, "offer:20:50:919200", 50, "stxOFFER"))
    deliver(pay_update(telegram_update, 919201, "pack_m:60:250:919201", 250, "stxPACK"))

    assert User.get(919200).offer_until is None  # the offer sells once
    assert User.get(919201).offer_until == until  # still theirs to buy
    assert (User.get(919200).balance, User.get(919201).balance) == (3 + 20, 3 + 60)
