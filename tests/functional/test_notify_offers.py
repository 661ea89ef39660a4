"""The discount offer: once, to a user whose only generation emptied the balance over a day ago;
its pack sells to that user alone, until it expires, once.

Users generate through the bot (webhook -> SQS -> generate with the fake provider); the offer
run gets a chosen ``now``; purchases go through the Stars invoice, pre-checkout and payment.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from genbot.config import get_settings
from genbot.ledger import Posting, apply
from genbot.ledger.audit import audit
from genbot.notify import offers
from genbot.store.models import User
from genbot_local.invoke import invoke

ANNA, BORIS = 771001, 771002
DAY = 24 * 3600


@pytest.fixture
def one_credit(aws, monkeypatch):  # type: ignore[no-untyped-def]
    """Welcome credits that pay for exactly one standard picture."""
    monkeypatch.setenv("FREE_CREDITS", "1")
    get_settings.cache_clear()
    return get_settings()


def generate_once(chat_user, jobs, order_image, user_id: int = ANNA):  # type: ignore[no-untyped-def]
    person = chat_user(user_id)
    person.start()
    order_image(person, "a lighthouse at dusk")
    jobs.drain()
    user = User.get(user_id)
    assert (user.generations, user.balance) == (1, 0)
    return person, int(user.first_generation_at)


def offers_sent(telegram, user_id: int = ANNA) -> list[dict]:
    return [
        c.params
        for c in telegram.calls_for("sendMessage")
        if c.ok
        and c.params["chat_id"] == user_id
        and "⭐" in c.params["text"]
        and "/settings" in c.params["text"]
    ]


def test_the_offer_waits_a_day_after_the_first_generation_then_goes_once(
    one_credit, chat_user, jobs, order_image, telegram
) -> None:
    _, first = generate_once(chat_user, jobs, order_image)

    offers.run(one_credit, now=first + DAY - 60)  # 23h59m: not yet
    assert offers_sent(telegram) == [] and User.get(ANNA).offer_at is not None
    offers.run(one_credit, now=first + DAY + 60)  # 24h01m

    (offer,) = offers_sent(telegram)
    # 32% below the best regular price per credit (150 for 550 ⭐): honest, not against the dearest pack
    assert "20 кредитов за 50 ⭐" in offer["text"] and "на 32% дешевле" in offer["text"]
    (button,) = offer["reply_markup"]["inline_keyboard"][0]
    assert button["callback_data"] == "buy:offer"
    user = User.get(ANNA)
    assert user.offer_sent_at == first + DAY + 60 and user.offer_until == first + 4 * DAY + 60
    assert user.offer_at is None and user.offer_q is None  # out of the index
    assert offers.run(one_credit, now=first + 2 * DAY)["read"] == 0


def test_a_balance_left_after_the_first_generation_means_no_offer(
    aws, monkeypatch, chat_user, jobs, order_image, telegram
) -> None:
    monkeypatch.setenv("FREE_CREDITS", "2")  # 1 left after the picture
    get_settings.cache_clear()
    person = chat_user(ANNA)
    person.start()
    order_image(person, "a lighthouse")
    jobs.drain()

    assert User.get(ANNA).offer_at is None  # never in the index
    assert offers.run(get_settings(), now=int(User.get(ANNA).first_generation_at) + 2 * DAY)["read"] == 0


def test_a_second_generation_or_a_payment_before_the_day_is_up_cancels_the_offer(
    one_credit, chat_user, jobs, order_image, telegram
) -> None:
    person, first = generate_once(chat_user, jobs, order_image)
    apply(Posting(ANNA, "grant#one-more", 1, "grant"))
    order_image(person, "another lighthouse")
    jobs.drain()
    assert (User.get(ANNA).generations, User.get(ANNA).balance) == (2, 0)

    generate_once(chat_user, jobs, order_image, BORIS)
    apply(Posting(BORIS, "grant#paid", 20, "grant"))  # balance 20: not eligible either

    report = offers.run(one_credit, now=first + 2 * DAY)
    assert report["read"] == 2 and report["skipped"] == 2 and offers_sent(telegram) == []
    assert offers.run(one_credit, now=first + 3 * DAY)["read"] == 0  # both left the index


def test_two_overlapping_runs_and_a_retry_send_the_offer_once(
    one_credit, chat_user, jobs, order_image, telegram
) -> None:
    _, first = generate_once(chat_user, jobs, order_image)

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda _: offers.run(one_credit, now=first + DAY + 60), range(3)))
    offers.run(one_credit, now=first + DAY + 60)

    assert len(offers_sent(telegram)) == 1


def test_a_user_who_turned_offers_off_or_blocked_the_bot_gets_none(
    one_credit, chat_user, jobs, order_image, telegram, deliver, telegram_update
) -> None:
    person, first = generate_once(chat_user, jobs, order_image)
    person.send("/settings")
    person.press_button("Предложения и новости")
    generate_once(chat_user, jobs, order_image, BORIS)
    deliver(telegram_update("my_chat_member", user_id=BORIS))  # blocked

    report = offers.run(one_credit, now=first + 2 * DAY)

    assert report["skipped"] == 2 and offers_sent(telegram, ANNA) == offers_sent(telegram, BORIS) == []
    assert User.get(ANNA).offer_sent_at is None and User.get(ANNA).offer_at is None


def test_a_403_marks_the_user_blocked_and_a_429_leaves_the_offer_due(
    one_credit, chat_user, jobs, order_image, telegram
) -> None:
    _, first = generate_once(chat_user, jobs, order_image)
    generate_once(chat_user, jobs, order_image, BORIS)
    telegram.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)

    assert offers.run(one_credit, now=first + DAY + 60)["retry"] == 1  # the run stops there
    assert User.get(ANNA).offer_sent_at is None and User.get(ANNA).offer_at is not None
    telegram.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    report = offers.run(one_credit, now=first + DAY + 120)

    assert report["blocked"] == 1 and report["sent"] == 1
    blocked = [u for u in (ANNA, BORIS) if User.get(u).blocked]
    assert len(blocked) == 1 and len(offers_sent(telegram)) + len(offers_sent(telegram, BORIS)) == 1


def pre_checkout(telegram_update, user_id: int, payload: str, amount: int) -> dict:
    update = telegram_update("pre_checkout_query", user_id=user_id)
    update["pre_checkout_query"].update(
        {"invoice_payload": payload, "total_amount": amount, "currency": "XTR"}
    )
    return update


def paid(telegram_update, user_id: int, payload: str, amount: int, charge: str) -> dict:
    update = telegram_update("message_successful_payment", user_id=user_id)
    update["message"]["successful_payment"].update(
        {"invoice_payload": payload, "total_amount": amount, "telegram_payment_charge_id": charge}
    )
    return update


def test_the_offer_sells_its_pack_to_that_user_alone_until_it_expires_once(
    one_credit, chat_user, jobs, order_image, telegram, deliver, telegram_update
) -> None:
    person, first = generate_once(chat_user, jobs, order_image)
    other = chat_user(BORIS)
    other.start()
    offers.run(one_credit, now=first + DAY + 60)

    person.press("buy:offer")
    (invoice,) = telegram.calls_for("sendInvoice")
    payload = invoice.params["payload"]
    assert payload == f"offer:20:50:{ANNA}" and invoice.params["prices"][0]["amount"] == 50

    def answer(user_id: int) -> dict:
        return json.loads(deliver(pre_checkout(telegram_update, user_id, payload, 50))["body"])

    assert answer(ANNA)["ok"] is True
    assert answer(BORIS)["ok"] is False  # someone else's invoice
    other.press("buy:offer")  # the button forwarded to someone else
    assert len(telegram.calls_for("sendInvoice")) == 1

    deliver(paid(telegram_update, ANNA, payload, 50, "charge-offer-1"))
    deliver(paid(telegram_update, ANNA, payload, 50, "charge-offer-1"))  # redelivered
    assert User.get(ANNA).balance == 20 and User.get(ANNA).offer_until is None
    assert answer(ANNA)["ok"] is False  # sold once
    assert audit() == []


def test_an_expired_offer_can_no_longer_be_bought(
    one_credit, chat_user, jobs, order_image, telegram, deliver, telegram_update
) -> None:
    person, first = generate_once(chat_user, jobs, order_image)
    offers.run(one_credit, now=first + DAY + 60)
    User(ANNA).update(actions=[User.offer_until.set(int(time.time()) - 1)])  # its 72 hours are over

    reply = person.press("buy:offer")
    body = json.loads(deliver(pre_checkout(telegram_update, ANNA, f"offer:20:50:{ANNA}", 50))["body"])

    assert "no longer available" in reply.get("text", "") or "больше не доступно" in reply.get("text", "")
    assert body["ok"] is False and telegram.calls_for("sendInvoice") == []


def test_the_scheduled_event_sends_the_offer_through_the_lambda_handler(
    one_credit, chat_user, jobs, order_image, telegram
) -> None:
    _, first = generate_once(chat_user, jobs, order_image)
    User(ANNA).update(actions=[User.first_generation_at.set(first - DAY - 60), User.offer_at.set(first - 60)])

    result = invoke("notify", {"task": "offers"})

    assert result["read"] == 1 and result["sent"] == 1 and len(offers_sent(telegram)) == 1
