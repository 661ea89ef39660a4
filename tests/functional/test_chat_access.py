"""The assistant's access rules through the webhook: the trial offer, who pays in what order,
the daily allowance, replays. (The model's side: test_chat_answers.py.)"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from genbot.config import get_settings
from genbot.ledger import Posting, apply
from genbot.ledger.audit import audit
from genbot.store.models import ChatMessage, Job, LedgerEntry, User
from genbot_local.simulate import ChatUser

ANNA = 881001


def chat_jobs(user_id: int = ANNA) -> list[Job]:
    return sorted(
        (j for j in Job.scan() if j.user_id == user_id and j.mode == "chat"), key=lambda j: j.created_at
    )


@pytest.fixture
def no_credits(aws, monkeypatch):  # type: ignore[no-untyped-def]
    """No welcome credits, and room for many messages in flight (nothing answers them here)."""
    monkeypatch.setenv("FREE_CREDITS", "0")
    monkeypatch.setenv("MAX_USER_QUEUE", "50")
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def anna(chat_user, no_credits) -> ChatUser:  # type: ignore[no-untyped-def]
    person: ChatUser = chat_user(ANNA, language="en")
    person.start()
    return person


def test_the_assistant_offers_the_trial_once_and_asks_the_waiting_question(anna, telegram) -> None:
    offer = anna.send("💬 Assistant")
    assert "Try it free: 10 messages" in offer["text"]
    anna.send("What is the capital of Peru?")  # asked before taking the trial: it waits
    assert "Try it free" in anna.last["text"] and chat_jobs() == []

    anna.press_button("Start the free trial")

    (job,) = chat_jobs()
    assert (job.funding, job.price, job.prompt) == ("trial", 0, "")  # no text on the job
    (question,) = ChatMessage.query(ANNA)
    assert question.text == "What is the capital of Peru?" and question.role == "user"
    user = User.get(ANNA)
    assert user.chat_trial_left == 9 and user.chat_pending is None and user.chat_mode
    anna.press(anna.last_update["callback_query"]["data"])  # the trial button again
    toast = telegram.calls_for("answerCallbackQuery")[-1].params["text"]
    assert "already used the free trial" in toast and User.get(ANNA).chat_trial_left == 9


def test_ten_trial_messages_then_a_clear_refusal_with_ways_to_pay(anna, telegram) -> None:
    anna.send("/ask")
    anna.press_button("Start the free trial")
    for i in range(10):
        reply = anna.send(f"question {i}")
        assert reply.get("method") != "sendMessage" or "trial" not in reply.get("text", "")

    refused = anna.send("question 11")

    assert len(chat_jobs()) == 10 and User.get(ANNA).chat_trial_left == 0
    assert "The free trial is over" in refused["text"]
    assert set(anna.buttons()) >= {"⭐ Subscription", "🛒 Buy credits"}
    assert ChatMessage.count(ANNA) == 10  # the refused question went nowhere


def test_subscription_allowance_first_then_trial_then_credits(anna, monkeypatch) -> None:
    monkeypatch.setenv("SUB_CHAT_DAILY", "2")
    monkeypatch.setenv("COST_CHAT", "2")
    get_settings.cache_clear()
    anna.send("/ask")
    anna.press_button("Start the free trial")
    User(ANNA).update(actions=[User.subscription_until.set(2_000_000_000), User.chat_trial_left.set(1)])
    apply(Posting(ANNA, "grant#test", 3, "grant"))

    for i in range(5):
        anna.send(f"q{i}")

    fundings = [j.funding for j in chat_jobs()]
    assert fundings == ["subscription", "subscription", "trial", "credits"]  # 3 credits pay for one
    assert "used today's 2 assistant messages" in anna.last["text"]
    debits = [e for e in LedgerEntry.query(ANNA) if e.kind == "debit" and e.delta]
    assert [int(e.delta) for e in debits] == [-2] and User.get(ANNA).balance == 1
    assert audit() == []


def test_the_allowance_starts_again_on_the_next_day_in_the_zone(anna, monkeypatch) -> None:
    monkeypatch.setenv("SUB_CHAT_DAILY", "1")
    get_settings.cache_clear()
    User(ANNA).update(
        actions=[
            User.subscription_until.set(2_000_000_000),
            User.chat_trial_left.set(0),
            User.chat_day.set("2026-01-01"),  # a day long gone, its allowance used up
            User.chat_day_count.set(1),
        ]
    )
    anna.send("/ask")
    anna.send("today's first")
    anna.send("today's second")

    assert [j.funding for j in chat_jobs()] == ["subscription"]
    assert "used today's 1 assistant messages" in anna.last["text"]


def test_the_same_update_three_times_asks_once(anna) -> None:
    anna.send("/ask")
    anna.press_button("Start the free trial")
    anna.send("only once, please")
    anna.redeliver()
    anna.redeliver()

    assert len(chat_jobs()) == 1 and User.get(ANNA).chat_trial_left == 9
    assert ChatMessage.count(ANNA) == 1


def test_two_messages_racing_for_the_last_trial_message_take_it_once(anna, telegram) -> None:
    anna.send("/ask")
    anna.press_button("Start the free trial")
    User(ANNA).update(actions=[User.chat_trial_left.set(1)])
    updates: list[dict[str, Any]] = []
    for text in ("first", "second"):
        update = anna.webhook.events.telegram_update("message_text", user_id=ANNA, text=text)
        update["message"]["from"]["language_code"] = "en"
        updates.append(update)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(anna.webhook.deliver, updates))

    assert [j.funding for j in chat_jobs()] == ["trial"] and User.get(ANNA).chat_trial_left == 0


def test_new_conversation_and_leaving_the_mode(anna) -> None:
    anna.send("/ask")
    before = User.get(ANNA).chat_conv
    anna.send("/new")
    conv = User.get(ANNA).chat_conv
    assert conv and conv != before and "new conversation" in anna.last["text"]

    anna.press("chat:trial")
    assert "Leave the assistant" in "".join(anna.buttons())  # the welcome has the controls
    anna.press_button("Leave the assistant")
    assert not User.get(ANNA).chat_mode
    anna.send("just chatting")  # not a question any more: the usual answer
    assert chat_jobs() == [] and "/help" in anna.last["text"]


def test_a_huge_question_is_refused_before_anything_is_charged(anna) -> None:
    anna.send("/ask")
    anna.press_button("Start the free trial")
    anna.send("x" * 5000)

    assert "too long" in anna.last["text"] and chat_jobs() == []
    assert User.get(ANNA).chat_trial_left == 10


def test_in_assistant_mode_the_menu_buttons_still_work(anna) -> None:
    anna.send("/ask")
    anna.press_button("Start the free trial")
    generate = anna.send("🎨 Generate")
    balance = anna.send("💰 Balance")

    assert chat_jobs() == [] and User.get(ANNA).chat_mode
    assert "Balance" in balance["text"] and generate["text"] != balance["text"]
    assert "Balance" not in generate["text"]
