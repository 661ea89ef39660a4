"""YooKassa (rubles): a payment with a 54-FZ receipt, the poll, notifications, credited once.

The YooKassa stand-in (``genbot_local.yookassa_standin``) plays the API; the official SDK talks
to it through ``genbot.payments.yookassa``. The poll and the notification route are the
``payment_poll`` function, invoked as Lambda would.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from genbot.config import get_settings
from genbot.i18n import translate
from genbot.ledger.audit import audit
from genbot.payments import poll, yookassa
from genbot.payments.products import product
from genbot.store.models import LedgerEntry, Payment, User, now_ms
from genbot_local.invoke import invoke
from genbot_local.yookassa_standin import YooKassaStandIn

SHOP = "100500"
SECRET = "test_yookassa_secret"
BUYER = 929000
YOOKASSA_IP = "185.71.76.5"


@pytest.fixture
def yk(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[YooKassaStandIn]:
    server = YooKassaStandIn(shop_id=SHOP, secret_key=SECRET, receipt_required=True).start()
    monkeypatch.setenv("YOOKASSA_SHOP_ID", SHOP)
    monkeypatch.setenv("YOOKASSA_SECRET_KEY", SECRET)
    monkeypatch.setenv("YOOKASSA_API_URL", server.base_url)
    monkeypatch.setattr(yookassa, "REQUEST_TIMEOUT", (1.0, 1.0))
    monkeypatch.setattr(yookassa, "RETRY_PAUSE_SECONDS", 0.0)
    get_settings.cache_clear()
    yield server
    server.stop()
    get_settings.cache_clear()


@pytest.fixture
def buyer(chat_user, yk):
    person = chat_user(BUYER)
    person.start()
    return person


@pytest.fixture
def pending(buyer) -> Callable[..., Payment]:
    """``pending(pack="pack_s")``: a payment created for the buyer, stored pending."""

    def make(pack: str = "pack_s", user_id: int = BUYER) -> Payment:
        settings = get_settings()
        yookassa.save_receipt_contact(user_id, "buyer@example.com")
        item = product(settings, pack)
        assert item is not None
        return yookassa.create_payment(
            settings,
            User.get(user_id),
            item,
            return_url="https://t.me/genbot_local_bot",
            description="Credits",
        )

    return make


def make_due(payment: Payment) -> None:
    payment.refresh()
    payment.update(actions=[Payment.next_poll_at.set(0)])


def run_poll() -> dict[str, Any]:
    result: dict[str, Any] = invoke("payment_poll", {"task": "poll_payments"})
    return result


def notification_event(
    load_event,
    provider_id: str,
    *,
    source_ip: str = YOOKASSA_IP,
    event: str = "payment.succeeded",
    status: str = "succeeded",
) -> dict[str, Any]:
    api_event = load_event("apigw_http_telegram.json")
    api_event["routeKey"] = api_event["requestContext"]["routeKey"] = "POST /yookassa/notifications"
    api_event["rawPath"] = api_event["requestContext"]["http"]["path"] = "/yookassa/notifications"
    api_event["requestContext"]["http"]["sourceIp"] = source_ip
    api_event["headers"]["x-forwarded-for"] = source_ip
    api_event["headers"].pop("x-telegram-bot-api-secret-token", None)
    body = {
        "type": "notification",
        "event": event,
        "object": {
            "id": provider_id,
            "status": status,
            "paid": True,
            "amount": {"value": "999999.00", "currency": "RUB"},
        },
    }
    api_event["body"] = json.dumps(body)
    return api_event


def balance(user_id: int = BUYER) -> int:
    return int(User.get(user_id, consistent_read=True).balance)


def messages_to(telegram, user_id: int = BUYER) -> list[str]:
    return [
        c.params["text"]
        for c in telegram.calls_for("sendMessage")
        if str(c.params.get("chat_id")) == str(user_id)
    ]


def snapshot() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    return (
        sorted((p.to_simple_dict() for p in Payment.scan()), key=lambda d: d["payment_id"]),
        sorted((e.to_simple_dict() for e in LedgerEntry.scan()), key=lambda d: (d["user_id"], d["op_id"])),
        sorted((u.to_simple_dict() for u in User.scan()), key=lambda d: d["user_id"]),
    )


# -- creating ----------------------------------------------------------------------------------------


def test_a_ruble_pack_asks_the_receipt_contact_once_then_pays_through_a_button(
    buyer, yk, deliver, telegram_update
) -> None:
    buyer.send("🛒 Купить кредиты")
    labels = list(buyer.buttons())
    assert [label for label in labels if label.endswith("⭐")] == [
        "20 кредитов — 100 ⭐",
        "60 кредитов — 250 ⭐",
        "150 кредитов — 550 ⭐",
    ]
    assert [label for label in labels if "₽" in label] == [
        "20 кредитов — 💳 199 ₽",
        "60 кредитов — 💳 499 ₽",
        "150 кредитов — 💳 999 ₽",
    ]

    ask = buyer.press_button("199 ₽")
    assert ask["text"].startswith("📧") and ask["reply_markup"]["force_reply"] is True
    assert yk.requests_to("POST /payments") == []

    def reply(text: str) -> dict[str, Any]:
        update = telegram_update("message_text", user_id=BUYER, text=text)
        update["message"]["reply_to_message"] = {
            "message_id": buyer.last_message_id,
            "date": int(time.time()),
            "chat": update["message"]["chat"],
            "from": {"id": 7000000001, "is_bot": True, "first_name": "genbot"},
            "text": ask["text"],
        }
        answer: dict[str, Any] = deliver(update)
        return answer

    reply("not an email")
    assert User.get(BUYER).receipt_email is None
    reply("  Buyer@Example.com ")
    assert User.get(BUYER).receipt_email == "Buyer@Example.com"

    buyer.send("🛒 Купить кредиты")
    answer = buyer.press_button("199 ₽")
    (created,) = yk.requests_to("POST /payments")
    (payment,) = list(Payment.scan())
    assert created.idempotence_key and created.idempotence_key == created.json["metadata"]["key"]
    assert created.json["amount"] == {"value": "199.00", "currency": "RUB"}
    assert created.json["confirmation"]["type"] == "redirect"
    receipt = created.json["receipt"]
    assert receipt["customer"] == {"email": "Buyer@Example.com"}
    (item,) = receipt["items"]
    assert (item["vat_code"], item["payment_subject"], item["payment_mode"]) == (1, "service", "full_payment")
    assert item["amount"] == {"value": "199.00", "currency": "RUB"}
    assert (payment.status, payment.amount, payment.currency, payment.credits) == (
        "pending",
        19900,
        "RUB",
        20,
    )
    assert payment.payment_id == f"yk#{payment.provider_payment_id}"
    assert payment.pending_shard == 0 and payment.next_poll_at > now_ms()
    assert payment.expires_at == pytest.approx(payment.created_at + 60 * 60_000, abs=5)
    (button,) = [b for row in answer["reply_markup"]["inline_keyboard"] for b in row]
    assert button["url"] == payment.confirmation_url == yk.checkout_url(payment.provider_payment_id)
    assert "199" in button["text"]

    # the contact is changeable; a phone works too
    buyer.send("/email +7 (900) 123-45-67")
    assert User.get(BUYER).receipt_email == "79001234567"
    assert balance() == 3
    assert audit() == []


def test_a_5xx_on_create_is_retried_with_the_same_key_and_makes_one_payment(yk, pending) -> None:
    yk.fail_next("POST /payments", 500, processed=True)  # created, but the answer is lost

    payment = pending()

    tries = yk.requests_to("POST /payments")
    assert len(tries) == 2 and tries[0].idempotence_key == tries[1].idempotence_key
    assert len(yk.payments) == 1 and [p.payment_id for p in Payment.scan()] == [payment.payment_id]
    assert audit() == []


def test_a_create_that_hangs_is_cut_short_and_retried_with_the_same_key(yk, pending) -> None:
    yk.delay_next(3.0, "POST /payments")  # longer than the 1 s read timeout; handled anyway

    started = time.monotonic()
    payment = pending()
    took = time.monotonic() - started

    assert took < 2.5, took  # one timeout (1 s) and a quick retry, not the 3 s hang
    time.sleep(2.5)  # the hung request is handled by now: it answers the same payment again
    tries = yk.requests_to("POST /payments")
    assert len(tries) == 2 and len({t.idempotence_key for t in tries}) == 1
    assert [p["id"] for p in yk.payments] == [payment.provider_payment_id]


def test_create_when_yookassa_keeps_timing_out_raises_a_retryable_error_in_bounded_time(yk, pending) -> None:
    yk.delay_next(3.0, "POST /payments", times=2)

    started = time.monotonic()
    with pytest.raises(yookassa.YooKassaUnavailableError):
        pending()

    assert time.monotonic() - started < 2.8
    assert list(Payment.scan()) == []


# -- the poll ----------------------------------------------------------------------------------------


def test_the_poll_credits_a_succeeded_payment_once_and_tells_the_user(yk, pending, telegram) -> None:
    payment = pending()
    assert run_poll()["read"] == 0  # not due yet (first look after 30 s)
    yk.succeed(payment.provider_payment_id)
    make_due(payment)

    first = run_poll()
    second = run_poll()

    assert (first["read"], first["succeeded"], second["read"]) == (1, 1, 0)
    assert balance() == 3 + 20
    assert [e.op_id for e in LedgerEntry.query(BUYER) if e.op_id.startswith("pay#")] == [
        f"pay#yk#{payment.provider_payment_id}"
    ]
    settled = Payment.get(payment.payment_id)
    assert settled.status == "succeeded" and settled.pending_shard is None and settled.next_poll_at is None
    told = [t for t in messages_to(telegram) if "+20" in t]
    assert len(told) == 1 and "23" in told[0]
    assert audit() == []


def test_a_canceled_payment_is_marked_and_the_user_told_why(yk, pending, telegram) -> None:
    payment = pending()
    yk.cancel(payment.provider_payment_id, party="payment_network", reason="insufficient_funds")
    make_due(payment)

    assert run_poll()["canceled"] == 1

    canceled = Payment.get(payment.payment_id)
    assert (canceled.status, canceled.cancel_reason) == ("canceled", "insufficient_funds")
    assert canceled.pending_shard is None and canceled.next_poll_at is None
    reason = translate(poll.REASONS["insufficient_funds"], "ru")
    assert sum(reason in t for t in messages_to(telegram)) == 1
    assert run_poll()["read"] == 0 and balance() == 3
    assert audit() == []


def test_a_pending_payment_is_polled_with_back_off_then_expires_and_the_user_is_told(
    yk, pending, telegram
) -> None:
    payment = pending()
    make_due(payment)

    before = now_ms()
    assert run_poll()["pending"] == 1
    payment.refresh()
    assert payment.polls == 1 and payment.next_poll_at >= before + 60_000  # 30 s doubled
    assert run_poll()["read"] == 0  # not due again yet

    make_due(payment)
    run_poll()
    payment.refresh()
    assert payment.polls == 2 and payment.next_poll_at >= before + 120_000

    payment.update(actions=[Payment.expires_at.set(now_ms() - 1), Payment.next_poll_at.set(0)])
    assert run_poll()["expired"] == 1

    expired = Payment.get(payment.payment_id)
    assert (expired.status, expired.cancel_reason) == ("canceled", "expired")
    assert expired.pending_shard is None and expired.next_poll_at is None
    assert sum(t.startswith("⌛") for t in messages_to(telegram)) == 1
    assert run_poll()["read"] == 0 and balance() == 3
    assert audit() == []


def test_a_poll_run_reads_the_pending_payments_not_the_settled_ones(yk, pending, monkeypatch) -> None:
    for i in range(60):  # settled payments (Stars and rubles): never read by the poll
        Payment(
            f"stars#settled-{i}", user_id=BUYER, method="stars", product="pack_s", amount=100,
            currency="XTR", credits=20, status="succeeded", settled_at=now_ms(),
        ).save()  # fmt: skip
    waiting = [pending() for _ in range(3)]
    for payment in waiting:
        make_due(payment)
    pending().update(actions=[Payment.next_poll_at.set(now_ms() + 3_600_000)])  # pending, not due

    def no_scan(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the poll must not scan the payments table")

    monkeypatch.setattr(Payment, "scan", no_scan)
    result = run_poll()

    assert result["read"] == 3 and result["pending"] == 3  # 64 payments stored, 3 due: 3 read
    monkeypatch.undo()
    assert audit() == []


# -- notifications -----------------------------------------------------------------------------------


def test_the_poll_and_a_notification_settling_at_the_same_moment_credit_once(
    yk, pending, telegram, load_event
) -> None:
    payment = pending()
    yk.succeed(payment.provider_payment_id)
    make_due(payment)
    event = notification_event(load_event, payment.provider_payment_id)

    def one(i: int) -> Any:
        return run_poll() if i % 2 == 0 else invoke("payment_poll", event)

    with ThreadPoolExecutor(max_workers=4) as threads:
        results = list(threads.map(one, range(4)))

    assert all(r["statusCode"] == 200 for r in results[1::2])
    assert balance() == 3 + 20
    assert [e.op_id for e in LedgerEntry.query(BUYER) if e.op_id.startswith("pay#")] == [
        f"pay#yk#{payment.provider_payment_id}"
    ]
    assert sum("+20" in t for t in messages_to(telegram)) == 1
    assert audit() == []


def test_a_notification_claiming_success_for_a_pending_payment_credits_nothing(
    yk, pending, load_event
) -> None:
    payment = pending()

    answer = invoke("payment_poll", notification_event(load_event, payment.provider_payment_id))

    assert answer["statusCode"] == 200 and json.loads(answer["body"]) == {"status": "pending"}
    assert Payment.get(payment.payment_id).status == "pending" and balance() == 3
    assert len(yk.requests_to("GET /payments/*")) == 1  # it asked YooKassa, not the body
    assert audit() == []


def test_a_notification_from_a_foreign_address_gets_403_and_writes_nothing(yk, pending, load_event) -> None:
    payment = pending()
    yk.succeed(payment.provider_payment_id)
    before = snapshot()
    asked = len(yk.requests)

    for source in ("203.0.113.7", "185.71.76.32", "127.0.0.1", "2a02:5181::1", "not-an-ip", ""):
        answer = invoke(
            "payment_poll", notification_event(load_event, payment.provider_payment_id, source_ip=source)
        )
        assert answer["statusCode"] == 403, source

    assert snapshot() == before and len(yk.requests) == asked  # nothing written, nothing asked
    # from YooKassa's own ranges (IPv4 and IPv6) it is heard
    ok = invoke(
        "payment_poll", notification_event(load_event, payment.provider_payment_id, source_ip="2a02:5180::7")
    )
    assert ok["statusCode"] == 200 and balance() == 3 + 20
    assert audit() == []


def test_yookassa_addresses() -> None:
    trusted = poll.YOOKASSA_NETWORKS
    for address in ("185.71.76.0", "185.71.77.31", "77.75.153.127", "77.75.156.11", "77.75.156.35",
                    "77.75.154.200", "2a02:5180::1", "::ffff:185.71.76.1"):  # fmt: skip
        assert poll.trusted_source(address, trusted), address
    for address in (
        "185.71.76.32",
        "77.75.153.128",
        "77.75.156.12",
        "77.75.154.127",
        "2a02:5181::",
        "10.0.0.1",
    ):
        assert not poll.trusted_source(address, trusted), address


def test_refund_through_the_sdk(yk, pending) -> None:
    payment = pending()
    yk.succeed(payment.provider_payment_id)
    settings = get_settings()

    status = yookassa.create_refund(settings, payment.provider_payment_id, 5000, "refund-key-1")
    again = yookassa.create_refund(settings, payment.provider_payment_id, 5000, "refund-key-1")

    assert status == again == "succeeded" and len(yk.refunds) == 1
    assert yk.refunds[0]["amount"] == {"value": "50.00", "currency": "RUB"}
    with pytest.raises(yookassa.YooKassaRejectedError):
        yookassa.create_refund(settings, payment.provider_payment_id, 100_000, "refund-key-2")


# -- the local stack ---------------------------------------------------------------------------------


def test_the_local_stack_runs_the_yookassa_stand_in_and_a_paid_checkout_settles(
    aws, moto_endpoint, tmp_path, monkeypatch
) -> None:
    import io
    import urllib.request

    from genbot_local.aws import free_port
    from genbot_local.stack import LocalStack, StackConfig

    for name in ("YOOKASSA_SHOP_ID", "YOOKASSA_SECRET_KEY", "YOOKASSA_API_URL"):
        monkeypatch.delenv(name, raising=False)
    config = StackConfig(
        port=free_port(), api_port=0, aws_endpoint=moto_endpoint, prefix="genbot", bot_token=None,
        sqs_wait_seconds=1, poll_timeout=1, env_file=tmp_path / "env", schedules={},
    )  # fmt: skip
    stack = LocalStack(config, out=io.StringIO()).start()
    try:
        stand_in = stack.yookassa
        assert stand_in is not None and os.environ["YOOKASSA_API_URL"] == stand_in.base_url
        assert stand_in.notify_url == f"{stack.front_door.base_url}/yookassa/notifications"
        assert "YooKassa          stand-in" in stack.banner()

        settings = get_settings()
        User(BUYER).save()
        yookassa.save_receipt_contact(BUYER, "buyer@example.com")
        item = product(settings, "pack_m")
        assert item is not None
        payment = yookassa.create_payment(
            settings, User.get(BUYER), item, return_url="https://t.me/genbot_local_bot", description="Credits"
        )
        pay = urllib.request.Request(f"{payment.confirmation_url}/pay", data=b"", method="POST")
        with contextlib.suppress(urllib.error.URLError):  # it redirects to t.me: not reachable here
            urllib.request.urlopen(pay, timeout=10).close()

        (delivered,) = stand_in.wait_notifications(1, timeout=20)
        assert delivered.event == "payment.succeeded" and delivered.status == 200
        assert Payment.get(payment.payment_id).status == "succeeded" and balance() == 60
    finally:
        stack.stop()
    assert "YOOKASSA_API_URL" not in os.environ
    assert audit() == []


def test_a_paid_payment_whose_record_was_lost_is_settled_from_what_yookassa_holds(
    yk, pending, load_event
) -> None:
    payment = pending("pack_l")
    payment.delete()  # e.g. the webhook died between YooKassa's answer and our save
    yk.succeed(payment.provider_payment_id)

    answer = invoke("payment_poll", notification_event(load_event, payment.provider_payment_id))

    assert answer["statusCode"] == 200 and balance() == 3 + 150
    assert Payment.get(payment.payment_id).amount == 99900
    assert audit() == []
