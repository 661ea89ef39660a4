"""An SDK resend of a single-item conditional write that already landed, for every write whose
caller would otherwise take its own result for someone else's.

botocore resends a request whose answer was lost (a read timeout, a reset connection, a 5xx),
although the first one may have been applied; a conditional write then fails its condition
against its own result. ``tests.functional.sdk_faults.fail_once(..., landed=True)`` reproduces
that below botocore's retry loop, against moto: the first matching request is applied, its
answer replaced by a ``ReadTimeoutError``, and botocore sends it again. Each test drives the
real flow (the webhook, the generate and notify functions, the payment poll) and checks what the
user (or the operator) sees: the same as with no fault. Every one of them failed before its fix.

Transactions need no fix: botocore gives ``TransactWriteItems`` one ``ClientRequestToken`` per
call and DynamoDB answers its resend without applying it again (moto ignores the token; the
local stack's moto honours it, tested last). Writes whose resend is harmless as it is are listed in
``docs/decisions.md`` ("A write's own SDK resend is not someone else's write").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from datetime import time as clock
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest

from genbot.config import get_settings
from genbot.i18n import translate
from genbot.jobs import delivery
from genbot.ledger import Posting, apply
from genbot.notify import bonus, broadcast, offers
from genbot.payments import poll, promo, yookassa
from genbot.payments.products import product
from genbot.resources import QUEUES
from genbot.store.models import BroadcastItem, Job, Payment, PromoCode, User, now_ms
from genbot.users import register
from genbot.vocab import BroadcastStatus
from genbot_local.botapi import BotApiStandIn
from genbot_local.invoke import LocalContext, invoke, load_handler
from genbot_local.simulate import ChatUser
from genbot_local.sqs_driver import SqsDriver, queue_depth
from genbot_local.yookassa_standin import YooKassaStandIn
from tests.functional.sdk_faults import fail_once

ANNA = 3_910_001
MSK = ZoneInfo("Europe/Moscow")
DAY = 24 * 3600


# --- jobs: start, a provider operation, the original file ---------------------------------------------


@pytest.fixture
def anna(chat_user: Callable[..., ChatUser], aws: dict[str, str]) -> ChatUser:
    person = chat_user(ANNA)
    person.start()
    return person


def test_a_job_whose_start_was_retried_says_it_is_working_and_runs_once(
    anna, telegram, jobs, order_image, only_job, monkeypatch
) -> None:
    order_image(anna, "a red fox in the snow")
    lost = fail_once(monkeypatch, "UpdateItem", '"attempts"', landed=True)  # queued -> running

    jobs.drain()

    job = only_job(ANNA)
    assert lost and job.status == "succeeded" and job.delivered and int(job.attempts) == 1
    working = translate(delivery.RUNNING, "ru")
    assert any(working in c.params["text"] for c in telegram.calls_for("editMessageText"))
    assert len(telegram.calls_for("sendPhoto")) == 1 and jobs.failures == []


def test_a_recorded_provider_operation_whose_answer_was_lost_is_polled_on_time(
    anna, telegram, jobs, jpeg, only_job, monkeypatch
) -> None:
    apply(Posting(ANNA, "grant#test", 27, "grant"))  # a video costs more than the welcome credits
    anna.send_photo(jpeg("orange"), caption="waves roll in")
    anna.press_button("Оживить фото")
    anna.press_button("Стандарт")
    lost = fail_once(monkeypatch, "UpdateItem", '"polls"', landed=True)  # record_operation
    anna.press_button("Запустить")

    jobs.drain()

    job = only_job(ANNA)
    # not a failed record left to come back after the queue's visibility timeout (15 minutes)
    assert lost and jobs.failures == []
    assert job.status == "succeeded" and int(job.polls) == 2  # each poll counted once
    assert len(telegram.calls_for("sendVideo")) == 1


def test_the_original_file_is_sent_when_its_claim_was_retried(
    anna, telegram, jobs, order_image, result_button, monkeypatch
) -> None:
    order_image(anna, "a harbour at night")
    jobs.drain()
    lost = fail_once(monkeypatch, "UpdateItem", '"original_requested_at"', landed=True)

    anna.press(result_button(telegram, "Исходный файл"))
    jobs.drain()

    assert lost
    (document,) = telegram.calls_for("sendDocument")
    assert document.files["document"].startswith(b"\x89PNG")


# --- the assistant's trial -------------------------------------------------------------------------------


def test_the_trial_taken_on_a_retried_write_is_on_and_asks_the_waiting_question(
    chat_user, aws, telegram, monkeypatch
) -> None:
    monkeypatch.setenv("FREE_CREDITS", "0")
    get_settings.cache_clear()
    person = chat_user(ANNA, language="en")
    person.start()
    person.send("💬 Assistant")
    person.send("What is the capital of Peru?")  # waits for the trial
    lost = fail_once(monkeypatch, "UpdateItem", '"chat_trial_left"', landed=True)

    person.press_button("Start the free trial")

    toast = telegram.calls_for("answerCallbackQuery")[-1].params["text"]
    assert lost and "The trial is on" in toast
    (job,) = [j for j in Job.scan() if j.user_id == ANNA]
    assert job.funding == "trial" and User.get(ANNA).chat_trial_left == 9


# --- scheduled notices ------------------------------------------------------------------------------------


def test_an_offer_whose_turn_was_taken_on_a_retried_write_is_sent_once(
    chat_user, aws, telegram, jobs, order_image, monkeypatch
) -> None:
    monkeypatch.setenv("FREE_CREDITS", "1")
    get_settings.cache_clear()
    person = chat_user(ANNA)
    person.start()
    order_image(person, "a lighthouse at dusk")
    jobs.drain()
    first = int(User.get(ANNA).first_generation_at)
    lost = fail_once(monkeypatch, "UpdateItem", '"offer_sent_at"', landed=True)

    offers.run(get_settings(), now=first + DAY + 60)

    sent = [
        c
        for c in telegram.calls_for("sendMessage")
        if c.params["chat_id"] == ANNA and "⭐" in c.params["text"]
    ]
    assert lost and len(sent) == 1
    assert offers.run(get_settings(), now=first + 2 * DAY)["read"] == 0  # and never again


def _today_at(hour: int, minute: int = 0) -> int:
    return int(datetime.combine(datetime.now(MSK).date(), clock(hour, minute), MSK).timestamp())


def test_a_bonus_reminder_whose_turn_was_taken_on_a_retried_write_is_sent_once(
    aws, telegram, monkeypatch
) -> None:
    settings = get_settings()
    register(settings, ANNA, language="en", first_name="Anna", now=_today_at(0, 1))
    lost = fail_once(monkeypatch, "UpdateItem", '"bonus_reminded"', landed=True)

    bonus.run(settings, now=_today_at(11, 1))

    reminders = [
        c for c in telegram.calls_for("sendMessage") if c.ok and "daily bonus is waiting" in c.params["text"]
    ]
    assert lost and len(reminders) == 1
    assert bonus.run(settings, now=_today_at(11, 16))["read"] == 0


# --- YooKassa: a payment closed by the poll ---------------------------------------------------------------

SHOP, SECRET, BUYER = "100500", "test_yookassa_secret", 3_910_002


@pytest.fixture
def yk(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[YooKassaStandIn]:
    server = YooKassaStandIn(shop_id=SHOP, secret_key=SECRET, receipt_required=True).start()
    monkeypatch.setenv("YOOKASSA_SHOP_ID", SHOP)
    monkeypatch.setenv("YOOKASSA_SECRET_KEY", SECRET)
    monkeypatch.setenv("YOOKASSA_API_URL", server.base_url)
    monkeypatch.setattr(yookassa, "REQUEST_TIMEOUT", (1.0, 1.0))
    get_settings.cache_clear()
    yield server
    server.stop()
    get_settings.cache_clear()


@pytest.fixture
def pending(yk: YooKassaStandIn, chat_user: Callable[..., ChatUser]) -> Payment:
    """A YooKassa payment of the buyer, stored pending and due for a look."""
    chat_user(BUYER).start()
    settings = get_settings()
    yookassa.save_receipt_contact(BUYER, "buyer@example.com")
    item = product(settings, "pack_s")
    assert item is not None
    payment = yookassa.create_payment(
        settings, User.get(BUYER), item, return_url="https://t.me/genbot_local_bot", description="Credits"
    )
    payment.update(actions=[Payment.next_poll_at.set(0)])
    return payment


def _told(telegram: BotApiStandIn) -> list[str]:
    return [c.params["text"] for c in telegram.calls_for("sendMessage") if c.params.get("chat_id") == BUYER]


def test_a_canceled_payment_marked_on_a_retried_write_is_told_once(
    yk, pending, telegram, monkeypatch
) -> None:
    yk.cancel(pending.provider_payment_id, party="payment_network", reason="insufficient_funds")
    lost = fail_once(monkeypatch, "UpdateItem", '"insufficient_funds"', landed=True)

    result = invoke("payment_poll", {"task": "poll_payments"})

    reason = translate(poll.REASONS["insufficient_funds"], "ru")
    assert lost and result["canceled"] == 1
    assert sum(reason in t for t in _told(telegram)) == 1
    assert Payment.get(pending.payment_id).status == "canceled"


def test_an_expired_payment_marked_on_a_retried_write_is_told_once(
    yk, pending, telegram, monkeypatch
) -> None:
    pending.update(actions=[Payment.expires_at.set(now_ms() - 1)])
    lost = fail_once(monkeypatch, "UpdateItem", '"expired"', landed=True)

    result = invoke("payment_poll", {"task": "poll_payments"})

    assert lost and result["expired"] == 1
    assert sum(t.startswith("⌛") for t in _told(telegram)) == 1
    assert Payment.get(pending.payment_id).cancel_reason == "expired"


# --- the operator: promo codes, broadcasts ------------------------------------------------------------------


def test_a_promo_code_created_on_a_retried_write_is_created_not_taken(aws, monkeypatch) -> None:
    lost = fail_once(monkeypatch, "PutItem", '"SPRING26"', landed=True)

    created = promo.create("spring26", credits=5, max_uses=10, created_by="test")

    assert lost and created.code == "SPRING26"
    stored = PromoCode.get("SPRING26")
    assert (stored.credits, stored.max_uses, stored.used) == (5, 10, 0)
    with pytest.raises(promo.CodeExistsError):  # a real second creation is still refused
        promo.create("spring26", credits=5, max_uses=10, created_by="test")


def notify(event: dict[str, Any]) -> Any:
    return load_handler("notify")(event, LocalContext(function_name="notify", timeout_seconds=60))


class Broadcasts:
    """The broadcasts queue fed to the notify function, one message at a time."""

    def __init__(self, env: dict[str, str]) -> None:
        spec = QUEUES["broadcasts"]
        self.sqs = boto3.client("sqs")
        self.url = env[spec.env_var]
        load_handler("notify")
        self.driver = SqsDriver.for_queue(spec, self.url, notify, client=self.sqs, wait_seconds=0)

    def step(self) -> int:
        messages = self.driver.receive()
        if messages:
            outcome = self.driver.process(messages)
            if outcome.error is not None:
                raise outcome.error
            assert not outcome.failed, outcome.result
        return len(messages)

    def drain(self) -> None:
        while self.step():
            pass

    def depth(self) -> int:
        return queue_depth(self.sqs, self.url)


@pytest.fixture
def broadcasts(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Broadcasts:
    monkeypatch.setenv("BROADCAST_RATE", "30")
    get_settings.cache_clear()
    return Broadcasts(aws)


def _users(first: int, count: int) -> list[int]:
    ids = list(range(first, first + count))
    with User.batch_write() as batch:
        for user_id in ids:
            batch.save(User(user_id))
    return ids


def _delivered(telegram: BotApiStandIn) -> Counter[int]:
    return Counter(int(c.params["chat_id"]) for c in telegram.calls_for("sendMessage") if c.ok)


def _done(broadcast_id: str, sent: int) -> bool:
    meta = broadcast.get(broadcast_id)
    assert meta is not None
    return meta.status == BroadcastStatus.DONE and (meta.selected, meta.sent) == (sent, sent)


def test_a_broadcast_created_on_a_retried_write_is_created(aws, monkeypatch) -> None:
    lost = fail_once(monkeypatch, "PutItem", '"meta"', landed=True)

    item = broadcast.create(get_settings(), "Hello", created_by="test")

    assert lost and item.status == BroadcastStatus.DRAFT
    assert [b.broadcast_id for b in broadcast.recent()] == [item.broadcast_id]


def test_a_broadcast_started_on_a_retried_write_goes_out(aws, telegram, broadcasts, monkeypatch) -> None:
    ids = _users(3_920_000, 3)
    item = broadcast.create(get_settings(), "Hello", created_by="test")
    lost = fail_once(monkeypatch, "UpdateItem", '"sending"', landed=True)

    assert broadcast.start(get_settings(), item.broadcast_id)  # not "started by someone else"
    broadcasts.drain()

    assert lost and _delivered(telegram) == Counter(ids) and _done(item.broadcast_id, 3)
    assert not broadcast.start(get_settings(), item.broadcast_id)  # a second start still refused


def test_a_broadcast_cancelled_on_a_retried_write_says_cancelled(aws, monkeypatch) -> None:
    item = broadcast.create(get_settings(), "Hello", created_by="test")
    lost = fail_once(monkeypatch, "UpdateItem", '"cancelled"', landed=True)

    assert broadcast.cancel(item.broadcast_id)

    assert lost and broadcast.get(item.broadcast_id).status == BroadcastStatus.CANCELLED  # type: ignore[union-attr]
    assert not broadcast.cancel(item.broadcast_id)


def test_a_recipient_claimed_on_a_retried_write_is_sent_at_once(
    aws, telegram, broadcasts, monkeypatch
) -> None:
    ids = _users(3_921_000, 3)
    item = broadcast.create(get_settings(), "Hello", created_by="test")
    assert broadcast.start(get_settings(), item.broadcast_id)
    assert broadcasts.step() == 1  # the select page
    lost = fail_once(monkeypatch, "PutItem", f'"u#{ids[1]}"', landed=True)

    assert broadcasts.step() == 1  # the chunk

    # not held by its own lease for 2 minutes and sent by a continuation
    assert lost and _delivered(telegram) == Counter(ids) and broadcasts.depth() == 0
    assert _done(item.broadcast_id, 3)
    assert BroadcastItem.get(item.broadcast_id, f"u#{ids[1]}").status == "sent"


def test_a_chunk_tallied_on_a_retried_write_finishes_the_broadcast(
    aws, telegram, broadcasts, monkeypatch
) -> None:
    ids = _users(3_922_000, 3)
    item = broadcast.create(get_settings(), "Hello", created_by="test")
    assert broadcast.start(get_settings(), item.broadcast_id)
    lost = fail_once(monkeypatch, "UpdateItem", '"chunks"', landed=True)

    broadcasts.drain()

    assert lost and _delivered(telegram) == Counter(ids)
    assert _done(item.broadcast_id, 3)  # counted once, and done (not left "sending")


# --- a write that never gets an answer ---------------------------------------------------------


def test_a_marker_write_that_times_out_raises_the_stores_error_and_telegram_sends_again(
    aws, deliver, telegram_update, monkeypatch
) -> None:
    """Not an AttributeError from PynamoDB's ``cause_response_code`` (its cause's ``response`` is
    None for a timeout): the webhook fails the request, so Telegram delivers the update again."""
    from pynamodb.exceptions import PutError

    from genbot.bot.dedupe import first_delivery
    from tests.functional.sdk_faults import time_out_always

    failed = time_out_always(monkeypatch, "PutItem", '"update#')

    with pytest.raises(PutError):
        first_delivery(1, 777, 60, 10_000)
    assert len(failed) == 3  # the first attempt and the models' two retries
    monkeypatch.undo()
    assert first_delivery(1, 777, 60, 10_000)  # nothing was written: the next delivery is taken


def test_a_transaction_resent_after_it_landed_is_applied_once_and_reported_applied(aws, monkeypatch) -> None:
    """DynamoDB answers a ``TransactWriteItems`` resent with the same ``ClientRequestToken``
    (botocore's, one per call) without applying it again; the local stack's moto does too
    (``genbot_local.aws``), so a posting whose answer was lost is still "applied", once."""
    register(get_settings(), ANNA, language="ru", first_name="Anna")
    before = User.get(ANNA).balance
    lost = fail_once(monkeypatch, "TransactWriteItems", '"grant#resent"', landed=True)

    assert apply(Posting(ANNA, "grant#resent", 7, "grant")) is True  # not "already applied"

    assert lost and User.get(ANNA).balance == before + 7
    assert apply(Posting(ANNA, "grant#resent", 7, "grant")) is False  # a real replay still is
