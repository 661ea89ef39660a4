"""The webhook Lambda end to end: API Gateway v2 event -> handler -> DynamoDB (moto) -> Bot API stand-in."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
import boto3
import pytest

from genbot.config import get_settings
from genbot.store.models import IdempotencyRecord, LedgerEntry, User
from genbot_local.simulate import reply_body

pytestmark = pytest.mark.usefixtures("aws")

ANNA = 555000111


@pytest.fixture
def start(deliver, telegram_update):
    """``start(user_id=ANNA, text="/start", language="ru")``: a /start delivered; the response."""

    def send(user_id: int = ANNA, text: str = "/start", language: str = "ru") -> dict:
        update = telegram_update("message_start", user_id=user_id, text=text)
        update["message"]["from"]["language_code"] = language
        return deliver(update)

    return send


def sent_texts(telegram, chat_id: int) -> list[str]:
    return [c.params.get("text", "") for c in telegram.calls if c.params.get("chat_id") == chat_id]


# --- the door: secret, body --------------------------------------------------------------


@pytest.mark.parametrize("secret", ["wrong-secret", "", None])
def test_a_forged_delivery_gets_401_and_nothing_is_read_or_written(
    telegram, secret, deliver, telegram_update
) -> None:
    response = deliver(telegram_update("message_start", user_id=ANNA), secret=secret)

    assert response["statusCode"] == 401
    assert list(IdempotencyRecord.scan()) == []
    assert list(User.scan()) == []
    assert telegram.calls == []


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[1, 2]",
        '{"message": {}}',
        "",
        '{"update_id": true, "message": {}}',  # JSON true is a Python int, but no update id
        "[" * 100_000 + "]" * 100_000,  # RecursionError
    ],
)
def test_a_malformed_body_gets_400(telegram, body, deliver) -> None:
    response = deliver(body)

    assert response["statusCode"] == 400
    assert list(User.scan()) == [] and list(IdempotencyRecord.scan()) == []


# --- /start, registration, referrals -----------------------------------------------------


def test_start_registers_once_with_welcome_credits_and_the_menu_in_the_users_language(
    telegram, start
) -> None:
    response = start()

    body = reply_body(response)
    assert body["method"] == "sendMessage" and body["chat_id"] == ANNA
    assert "Привет" in body["text"] and body["parse_mode"] == "HTML"
    labels = [b["text"] for row in body["reply_markup"]["keyboard"] for b in row]
    assert labels == [
        "🎨 Создать",
        "💬 Ассистент",
        "💰 Баланс",
        "🛒 Купить кредиты",
        "🎁 Бонусы",
        "❓ Помощь",
    ]
    user = User.get(ANNA)
    assert (user.balance, user.language, user.first_name) == (3, "ru", "Анна")
    assert [(e.op_id, e.delta) for e in LedgerEntry.query(ANNA)] == [("bonus#welcome", 3)]
    assert telegram.calls_for("sendMessage")[0].params["chat_id"] == ANNA  # Telegram ran the reply

    again = reply_body(start())
    assert again["text"] == "С возвращением, Анна! Баланс: 3 кредита."  # the unit once
    assert User.get(ANNA).balance == 3
    assert len(list(LedgerEntry.query(ANNA))) == 1


def test_start_speaks_english_to_an_english_client(telegram, start) -> None:
    body = reply_body(start(user_id=777, language="en-GB"))

    assert body["text"].startswith("Hi, ")
    assert User.get(777).language == "en"


def test_a_referral_rewards_the_referrer_once_and_never_yourself(telegram, start, monkeypatch) -> None:
    monkeypatch.setenv("REFERRAL_TRIGGER", "registration")  # the original rule (default: first payment)
    get_settings.cache_clear()
    start(user_id=1001)
    telegram.clear_calls()

    start(user_id=1002, text="/start ref_1001")
    start(user_id=1002, text="/start ref_1001")  # a second /start changes nothing
    start(user_id=1003, text="/start ref_1003")  # yourself: ignored
    start(user_id=1004, text="/start ref_999999")  # unknown referrer: ignored, still registered
    start(user_id=1005, text="/start ref_²")  # a non-ASCII digit: ignored, still registered

    referrer = User.get(1001)
    assert (referrer.balance, referrer.referrals) == (3 + 3, 1)
    assert [e.op_id for e in LedgerEntry.query(1001)] == ["bonus#welcome", "ref#1002"]
    assert User.get(1002).referrer_id == 1001
    assert User.get(1003).referrer_id is None and User.get(1003).balance == 3
    assert User.get(1004).referrer_id is None and User.get(1004).balance == 3
    assert User.get(1005).referrer_id is None and User.get(1005).balance == 3
    assert any("+3" in t for t in sent_texts(telegram, 1001))  # the referrer was told


# --- balance, help, language, bonuses, fallback ------------------------------------------


def test_balance_shows_credits_and_recent_ledger_entries(telegram, deliver, telegram_update, start) -> None:
    start()

    body = reply_body(deliver(telegram_update("message_text", user_id=ANNA, text="/balance")))

    assert "Баланс: 3 кредита" in body["text"]
    assert "+3 · приветственный подарок" in body["text"]


def test_the_balance_button_works_in_either_language(telegram, deliver, telegram_update, start) -> None:
    start()
    body = reply_body(deliver(telegram_update("message_text", user_id=ANNA, text="💰 Balance")))
    assert "Баланс: 3 кредита" in body["text"]


def test_language_switch_to_english_relabels_the_menu(telegram, deliver, telegram_update, start) -> None:
    start()

    deliver(telegram_update("callback_query", user_id=ANNA, data="lang:en"))

    assert User.get(ANNA).language == "en"
    assert telegram.calls_for("answerCallbackQuery")
    menu = telegram.calls_for("sendMessage")[-1].params
    assert menu["text"] == "Done: I will speak English."
    assert menu["reply_markup"]["keyboard"][0][0]["text"] == "🎨 Generate"
    help_body = reply_body(deliver(telegram_update("message_text", user_id=ANNA, text="/help")))
    assert "What I can do" in help_body["text"]


def test_daily_bonus_is_granted_once_a_day(telegram, deliver, telegram_update, start) -> None:
    start()
    shown = reply_body(deliver(telegram_update("message_text", user_id=ANNA, text="🎁 Бонусы")))
    assert "https://t.me/genbot_local_bot?start=ref_555000111" in shown["text"]
    button = shown["reply_markup"]["inline_keyboard"][0][0]

    first = reply_body(deliver(telegram_update("callback_query", user_id=ANNA, data=button["callback_data"])))
    second = reply_body(
        deliver(telegram_update("callback_query", user_id=ANNA, data=button["callback_data"]))
    )

    assert first["method"] == "answerCallbackQuery" and "+1" in first["text"]
    assert "уже получен" in second["text"]
    assert User.get(ANNA).balance == 4
    assert [e.kind for e in LedgerEntry.query(ANNA)].count("daily") == 1


def test_unknown_text_and_unknown_buttons_get_a_helpful_answer(
    telegram, deliver, telegram_update, start
) -> None:
    start()

    text = reply_body(deliver(telegram_update("message_text", user_id=ANNA, text="x" * 5000)))
    button = reply_body(deliver(telegram_update("callback_query", user_id=ANNA, data="forged:data")))

    assert text["method"] == "sendMessage" and "/help" in text["text"]
    assert button["method"] == "answerCallbackQuery" and "кнопка" in button["text"]


def test_edited_messages_are_accepted_and_ignored(telegram, deliver, telegram_update, start) -> None:
    start()
    telegram.clear_calls()

    response = deliver(telegram_update("edited_message", user_id=ANNA))

    assert response["statusCode"] == 200 and reply_body(response) == {}
    assert telegram.calls == []


def test_blocking_the_bot_is_remembered(telegram, deliver, telegram_update, start) -> None:
    start()

    deliver(telegram_update("my_chat_member", user_id=ANNA))

    assert User.get(ANNA).blocked is True


def test_pre_checkout_is_answered_at_once(telegram, deliver, telegram_update) -> None:
    body = reply_body(deliver(telegram_update("pre_checkout_query", user_id=ANNA)))

    assert body["method"] == "answerPreCheckoutQuery" and body["ok"] is False
    assert body["error_message"]


# --- failures and redelivery -------------------------------------------------------------


def test_an_unexpected_error_is_logged_and_apologised_for_without_a_retry(
    telegram, aws, deliver, telegram_update, start
) -> None:
    start()
    boto3.client("dynamodb").delete_table(TableName=aws["LEDGER_TABLE"])

    response = deliver(telegram_update("message_text", user_id=ANNA, text="/balance"))

    assert response["statusCode"] == 200  # Telegram must not redeliver it into a loop
    assert "что-то пошло не так" in reply_body(response)["text"]


def test_the_same_update_delivered_five_times_has_one_effect(telegram, deliver, telegram_update) -> None:
    update = telegram_update("message_start", user_id=ANNA)

    responses = [deliver(update) for _ in range(5)]

    assert [r["statusCode"] for r in responses] == [200] * 5
    assert [bool(reply_body(r)) for r in responses] == [True, False, False, False, False]
    assert len(telegram.calls_for("sendMessage")) == 1
    assert User.get(ANNA).balance == 3


def test_the_same_update_delivered_concurrently_has_one_effect(telegram, deliver, telegram_update) -> None:
    update = telegram_update("message_start", user_id=ANNA)

    with ThreadPoolExecutor(max_workers=5) as pool:
        responses = list(pool.map(lambda _: deliver(update), range(5)))

    assert sum(bool(reply_body(r)) for r in responses) == 1
    assert len(telegram.calls_for("sendMessage")) == 1
    assert User.get(ANNA).balance == 3
    assert len(list(LedgerEntry.query(ANNA))) == 1


def test_warm_invocations_in_a_row_reuse_the_bot_session(
    telegram, deliver, telegram_update, start, monkeypatch
) -> None:
    start()
    opened: list[aiohttp.ClientSession] = []
    original = aiohttp.ClientSession.__init__

    def counting(self: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> None:
        opened.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(aiohttp.ClientSession, "__init__", counting)
    telegram.clear_calls()

    # the menu is sent by the bot itself (it needs the message id), over its session
    replies = [
        reply_body(deliver(telegram_update("message_text", user_id=ANNA, text="🎨 Создать")))
        for _ in range(3)
    ]

    assert "sendMessage" not in [r.get("method") for r in replies]
    assert len(telegram.calls_for("sendMessage")) == 3
    assert len(opened) <= 1, "each warm invocation must reuse the Bot's aiohttp session"


def test_by_default_a_referral_is_only_counted_at_registration(telegram, start) -> None:
    start(user_id=1101)
    start(user_id=1102, text="/start ref_1101")

    referrer = User.get(1101)
    assert (referrer.balance, referrer.referrals) == (3, 1)  # rewarded on the friend's first payment
    assert User.get(1102).referrer_id == 1101
    assert [e.op_id for e in LedgerEntry.query(1101)] == ["bonus#welcome"]
