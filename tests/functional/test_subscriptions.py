"""Stars subscriptions: the monthly recurring link, charges credited once, the annual plan, renewal."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from genbot.config import get_settings
from genbot.ledger.audit import audit
from genbot.payments import subscriptions
from genbot.store import settings as settings_store
from genbot.store.models import LedgerEntry, Payment, SettingItem, User

SUBSCRIBER = 919500
DAY = 24 * 3600


@pytest.fixture
def subscriber(chat_user, aws):  # type: ignore[no-untyped-def]
    person = chat_user(SUBSCRIBER, language="en")
    person.start()
    return person


def pay_update(telegram_update, user_id: int, payload: str, amount: int, charge: str, **extra: Any) -> dict:
    update = telegram_update("message_successful_payment", user_id=user_id)
    update["message"]["successful_payment"].update(
        {"invoice_payload": payload, "total_amount": amount, "telegram_payment_charge_id": charge, **extra}
    )
    return update


def url_buttons(reply: dict) -> dict[str, str]:
    markup = reply.get("reply_markup") or {}
    return {b["text"]: b["url"] for row in markup.get("inline_keyboard", []) for b in row if b.get("url")}


def month_payload(user_id: int = SUBSCRIBER) -> str:
    return f"sub_month:150:450:{user_id}"


def test_subscribe_offers_a_30_day_recurring_link_and_an_annual_invoice(subscriber, telegram) -> None:
    reply = subscriber.send("/subscribe")

    (link,) = url_buttons(reply).values()
    invoice = telegram.invoice(SUBSCRIBER, link=link)
    assert invoice is not None
    assert (invoice["subscription_period"], invoice["currency"], invoice["total_amount"]) == (
        2592000,
        "XTR",
        450,
    )
    assert invoice["payload"] == month_payload()
    assert "450" in reply["text"] and "4500" in reply["text"]

    subscriber.press(next(d for t, d in subscriber.buttons().items() if d.startswith("sub:year")))
    (sent,) = telegram.calls_for("sendInvoice")
    assert sent.params["payload"] == f"sub_year:1800:4500:{SUBSCRIBER}"
    assert "subscription_period" not in sent.params


def test_pre_checkout_of_a_plan_is_answered_by_the_subscription_check(
    subscriber, deliver, telegram_update
) -> None:
    def answer(payload: str, amount: int) -> dict:
        update = telegram_update("pre_checkout_query", user_id=SUBSCRIBER)
        update["pre_checkout_query"].update(
            {"invoice_payload": payload, "total_amount": amount, "currency": "XTR"}
        )
        body = json.loads(deliver(update)["body"])
        assert body["method"] == "answerPreCheckoutQuery"
        return body

    assert answer(month_payload(), 450)["ok"] is True
    assert answer(f"sub_year:1800:4500:{SUBSCRIBER}", 4500)["ok"] is True
    assert answer(f"sub_month:150:1:{SUBSCRIBER}", 1)["ok"] is False  # tampered price
    assert answer("sub_month:150:450:1", 450)["ok"] is False  # someone else's
    assert answer(f"sub_week:150:450:{SUBSCRIBER}", 450)["ok"] is False  # no such plan


def test_first_charge_and_a_renewal_each_delivered_twice_credit_once_each(
    subscriber, deliver, telegram_update, telegram
) -> None:
    first_end = int(time.time()) + 30 * DAY
    first = pay_update(
        telegram_update,
        SUBSCRIBER,
        month_payload(),
        450,
        "stxSUB-1",
        subscription_expiration_date=first_end,
        is_recurring=True,
        is_first_recurring=True,
    )
    deliver(first)
    deliver(first)
    user = User.get(SUBSCRIBER)
    assert int(user.balance) == 3 + 150
    assert (int(user.subscription_until), user.subscription_charge_id, user.subscription_renews) == (
        first_end,
        "stxSUB-1",
        True,
    )

    renewal = pay_update(
        telegram_update,
        SUBSCRIBER,
        month_payload(),
        450,
        "stxSUB-2",
        subscription_expiration_date=first_end + 30 * DAY,
        is_recurring=True,
    )
    deliver(renewal)
    deliver(renewal)
    user = User.get(SUBSCRIBER)
    assert int(user.balance) == 3 + 150 + 150
    assert int(user.subscription_until) == first_end + 30 * DAY
    assert user.subscription_charge_id == "stxSUB-1"  # the subscription to cancel is still the first
    entries = sorted(e.op_id for e in LedgerEntry.query(SUBSCRIBER) if e.op_id.startswith("pay#"))
    assert entries == ["pay#stars#stxSUB-1", "pay#stars#stxSUB-2"]
    assert {e.kind for e in LedgerEntry.query(SUBSCRIBER) if e.op_id.startswith("pay#")} == {"subscription"}
    payment = Payment.get("stars#stxSUB-2")
    assert (payment.status, int(payment.credits), int(payment.subscription_until)) == (
        "succeeded",
        150,
        first_end + 30 * DAY,
    )
    receipts = [c for c in telegram.calls_for("sendMessage") if "Subscription paid" in c.params["text"]]
    assert len(receipts) == 2
    assert audit() == []


def test_the_annual_plan_grants_365_days_and_twelve_periods_of_credits(
    subscriber, deliver, telegram_update
) -> None:
    before = int(time.time())
    update = pay_update(telegram_update, SUBSCRIBER, f"sub_year:1800:4500:{SUBSCRIBER}", 4500, "stxYEAR")
    deliver(update)
    deliver(update)

    user = User.get(SUBSCRIBER)
    assert int(user.balance) == 3 + 1800
    assert before + 365 * DAY <= int(user.subscription_until) <= int(time.time()) + 365 * DAY
    assert user.subscription_charge_id is None  # nothing renews
    assert "✅" in subscriber.send("/subscribe")["text"]
    assert audit() == []


def test_cancel_and_resume_renewal_call_edit_user_star_subscription(
    subscriber, deliver, telegram_update, telegram
) -> None:
    end = int(time.time()) + 30 * DAY
    deliver(
        pay_update(
            telegram_update,
            SUBSCRIBER,
            month_payload(),
            450,
            "stxSUB-C",
            subscription_expiration_date=end,
            is_recurring=True,
            is_first_recurring=True,
        )
    )
    subscriber.send("/subscribe")
    assert not url_buttons(subscriber.last)  # renewing: no second subscription offered

    subscriber.press(subscriber.buttons()[next(t for t in subscriber.buttons() if "Cancel" in t)])
    (call,) = telegram.calls_for("editUserStarSubscription")
    assert call.params["user_id"] == SUBSCRIBER and call.params["telegram_payment_charge_id"] == "stxSUB-C"
    assert call.params["is_canceled"] is True
    assert User.get(SUBSCRIBER).subscription_renews is False
    edited = telegram.calls_for("editMessageText")[-1].params
    labels = [b["text"] for row in edited["reply_markup"]["inline_keyboard"] for b in row]
    assert any("Resume" in label for label in labels)
    assert not any(b.get("url") for row in edited["reply_markup"]["inline_keyboard"] for b in row)

    resume = next(
        b["callback_data"]
        for row in edited["reply_markup"]["inline_keyboard"]
        for b in row
        if "Resume" in b["text"]
    )
    subscriber.press(resume)
    last = telegram.calls_for("editUserStarSubscription")[-1]
    assert last.params["is_canceled"] is False
    assert User.get(SUBSCRIBER).subscription_renews is True
    assert int(User.get(SUBSCRIBER).subscription_until) == end
    assert audit() == []


def test_the_subscription_settings_item_overrides_the_defaults_and_a_bad_one_is_ignored(aws) -> None:
    settings = get_settings()
    assert subscriptions.terms(settings).credits_per_period == settings.sub_credits
    SettingItem("subscription", value={"credits_per_period": 200, "chat_per_day": 50}).save()
    settings_store.clear_cache()
    current = subscriptions.terms(settings)
    assert (current.credits_per_period, current.chat_per_day, current.month_stars) == (200, 50, 450)

    SettingItem("subscription", value={"month_stars": 20000}).save()  # over Telegram's limit
    settings_store.clear_cache()
    assert subscriptions.terms(settings) == subscriptions.default_terms(settings)
    with pytest.raises(ValueError, match="month_stars"):
        subscriptions.validate_terms(settings, {"month_stars": 20000})


def test_a_renewal_delivered_five_times_at_once_is_credited_once(
    subscriber, deliver, telegram_update
) -> None:
    end = int(time.time()) + 30 * DAY
    update = pay_update(
        telegram_update,
        SUBSCRIBER,
        month_payload(),
        450,
        "stxSUB-PAR",
        subscription_expiration_date=end,
        is_recurring=True,
    )

    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(lambda _: deliver(update), range(5)))

    assert all(a["statusCode"] == 200 for a in answers)
    user = User.get(SUBSCRIBER)
    assert (int(user.balance), int(user.subscription_until)) == (3 + 150, end)
    assert user.subscription_charge_id == "stxSUB-PAR"  # none was stored: this one is kept
    assert audit() == []
