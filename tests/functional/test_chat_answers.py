"""The assistant's answers end to end: webhook -> SQS -> generate (chat job) -> the OpenAI
stand-in (streamed chat completions, transcription, vision) -> the Bot API stand-in (drafts,
messages). Access rules: test_chat_access.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from genbot import stats
from genbot.config import get_settings
from genbot.ledger import Posting, apply
from genbot.ledger.audit import audit
from genbot.store.models import ChatMessage, Job, LedgerEntry, User
from genbot_local.botapi.text import formatted
from genbot_local.simulate import ChatUser

ANNA = 991001
OGG = b"OggS" + bytes(200)  # a voice file's first bytes (the stand-ins don't decode audio)


@pytest.fixture
def assistant(aws, monkeypatch, openai_api, openai_keys):  # type: ignore[no-untyped-def]
    """The assistant talks to the OpenAI stand-in through the key pool."""
    monkeypatch.setenv("OPENAI_API_KEY", ",".join(openai_keys))
    monkeypatch.setenv("OPENAI_BASE_URL", openai_api.base_url)
    monkeypatch.setenv("MAX_USER_QUEUE", "10")
    get_settings.cache_clear()
    from genbot.store import settings

    settings.clear_cache()
    return openai_api


@pytest.fixture
def anna(chat_user, assistant) -> ChatUser:  # type: ignore[no-untyped-def]
    person: ChatUser = chat_user(ANNA, language="en")
    person.start()
    person.send("/ask")
    person.press_button("Start the free trial")
    return person


def answers(telegram, user_id: int = ANNA) -> list[dict[str, Any]]:
    """Messages the bot sent to the user after the trial started, as Telegram took them."""
    return [c.params for c in telegram.calls_for("sendMessage") if c.ok and c.params["chat_id"] == user_id]


def chat_job(user_id: int = ANNA) -> Job:
    (job,) = [j for j in Job.scan() if j.user_id == user_id and j.mode == "chat"]
    return job


def test_an_answer_streams_as_drafts_then_arrives_as_a_message_with_the_trial_count(
    anna, assistant, telegram, jobs
) -> None:
    assistant.reply_next("**Lima** is the capital of Peru.\n\nIt sits on the Pacific coast.", chunk_tokens=2)
    telegram.clear_calls()
    anna.send("What is the capital of Peru?")
    jobs.drain()

    drafts = [c for c in telegram.calls_for("sendMessageDraft") if c.ok]
    assert drafts and all(c.params["chat_id"] == ANNA for c in drafts)
    assert len({c.params["draft_id"] for c in drafts}) == 1
    (final,) = [m for m in answers(telegram) if "Lima" in m["text"]]
    assert "<b>Lima</b>" in final["text"] and final["parse_mode"] == "HTML"
    assert "Free trial: 9 messages left" in final["text"]
    labels = [b["text"] for row in final["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["🆕 New conversation", "✖ Leave the assistant"]
    job = chat_job()
    assert (job.status, job.delivered, job.funding) == ("succeeded", True, "trial")
    assert job.tokens_in and job.tokens_out and job.cost_micro_usd is not None and job.latency_ms is not None
    assert job.first_piece_ms is not None and job.prompt == "" and job.result_text is None  # no text on jobs
    reply = [m for m in ChatMessage.query(ANNA) if m.role == "assistant"]
    assert reply[0].text.startswith("**Lima**") and int(reply[0].tokens) == job.tokens_out
    (request,) = assistant.chat_requests()
    assert request.json["stream"] is True and request.json["stream_options"] == {"include_usage": True}
    (today,) = stats.read(1)  # the operator's numbers: one message, its tokens and cost, no credits
    assert today.counters[stats.CHAT] == {
        "messages": 1,
        "tokens_in": job.tokens_in,
        "tokens_out": job.tokens_out,
        "cost_micro_usd": job.cost_micro_usd,
    }


def test_the_conversation_keeps_its_context_and_new_starts_over(anna, assistant, telegram, jobs) -> None:
    assistant.reply_next("Lima.", "About 10 million people.", "What city do you mean?")
    anna.send("What is the capital of Peru?")
    jobs.drain()
    anna.send("How many people live there?")
    jobs.drain()
    second = assistant.chat_requests()[-1].json["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[1]["content"] == "What is the capital of Peru?" and second[2]["content"] == "Lima."

    anna.send("/new")
    anna.send("And its population?")
    jobs.drain()
    third = assistant.chat_requests()[-1].json["messages"]
    assert [m["role"] for m in third] == ["system", "user"]


def test_the_context_is_trimmed_to_the_budget_oldest_first(anna, assistant, monkeypatch, jobs) -> None:
    monkeypatch.setenv("CHAT_CONTEXT_TOKENS", "600")
    get_settings.cache_clear()
    for i in range(8):
        assistant.reply_next(f"answer {i} " + "word " * 60)
        anna.send(f"question {i} " + "filler " * 40)
        jobs.drain()

    last = assistant.chat_requests()[-1].json["messages"]
    texts = [m["content"] for m in last]
    assert texts[-1].startswith("question 7")
    assert not any(t.startswith("question 0") for t in texts)  # the oldest went first
    assert last[1]["role"] == "user"  # never a reply without its question
    estimate = sum(len(t.encode()) / 3 + 4 for t in texts)
    assert estimate <= 600 + 10


def test_context_length_exceeded_from_the_provider_never_reaches_the_user(
    anna, assistant, telegram, jobs
) -> None:
    for i in range(3):
        assistant.reply_next(f"answer {i}")
        anna.send(f"question {i}")
        jobs.drain()
    assistant.fail_next("context_length_exceeded")
    assistant.reply_next("still here")
    anna.send("one more")
    jobs.drain()

    assert any("still here" in m["text"] for m in answers(telegram))
    retried = assistant.chat_requests()[-1].json["messages"]
    assert len(retried) < len(assistant.chat_requests()[-2].json["messages"])


def test_a_long_markdown_answer_is_split_into_valid_pieces(
    anna, assistant, telegram, jobs, monkeypatch
) -> None:
    paragraph = "Some **bold** text, some `code <x> & y`, a [link](https://example.com) and _emphasis_. "
    code = "```python\n" + "\n".join(f"print({i})  # line {i}" for i in range(300)) + "\n```"
    long = "\n\n".join([paragraph * 10] * 8 + [code] + [paragraph * 10] * 3)
    assert len(long) > 15_000
    monkeypatch.setenv("CHAT_MAX_ANSWER_TOKENS", "12000")
    get_settings.cache_clear()
    assistant.set_context_window("gpt-4o-mini", 32_000)
    assistant.reply_next(long, chunk_tokens=400)
    telegram.clear_calls()
    anna.send("Write me something long")
    jobs.drain()

    pieces = [m for m in answers(telegram) if m.get("parse_mode") == "HTML"]
    assert len(pieces) >= 4
    for piece in pieces:
        text, _ = formatted(piece["text"], "HTML", None)  # the stand-in's own parser took them
        assert len(text.encode("utf-16-le")) // 2 <= 4096
    assert [c for c in telegram.calls_for("sendMessage") if not c.ok] == []


def test_unbalanced_markup_from_the_model_is_delivered(anna, assistant, telegram, jobs) -> None:
    assistant.reply_next("**bold without end, a_b_c, 2 < 3 && 4 > 1, <script>alert(1)</script> ```")
    anna.send("break it")
    jobs.drain()

    (answer,) = [m for m in answers(telegram) if "bold without end" in m["text"]]
    assert "&lt;script&gt;" in answer["text"]


def test_a_failed_answer_is_refunded_once_and_explained(anna, assistant, telegram, jobs, monkeypatch) -> None:
    monkeypatch.setenv("COST_CHAT", "2")
    get_settings.cache_clear()
    User(ANNA).update(actions=[User.chat_trial_left.set(0)])
    apply(Posting(ANNA, "grant#test", 5, "grant"))
    assistant.fail_next("server_error", count=3)  # every try inside the job
    telegram.clear_calls()
    anna.send("Will this work?")
    jobs.drain()
    jobs.make_all_visible()
    jobs.drain()  # a redelivered message changes nothing

    job = chat_job()
    assert (job.status, job.error_code, job.funding) == ("failed", "unavailable", "credits")
    refunds = [e for e in LedgerEntry.query(ANNA) if e.kind == "refund"]
    assert [int(e.delta) for e in refunds] == [2] and User.get(ANNA).balance == 5 + 3
    assert any("credits are back" in m["text"] for m in answers(telegram))
    assert len(assistant.chat_requests()) == 3 and audit() == []
    (today,) = stats.read(1)
    assert today.counters[stats.CHAT] == {"failed": 1}


def test_a_trial_message_that_failed_goes_back_to_the_trial(anna, assistant, telegram, jobs) -> None:
    assistant.fail_next("server_error", count=3)
    anna.send("Hello?")
    jobs.drain()

    assert User.get(ANNA).chat_trial_left == 10
    assert any("back in your trial" in m["text"] for m in answers(telegram))


def test_a_rate_limited_key_gives_way_to_the_next(anna, assistant, telegram, jobs, openai_keys) -> None:
    assistant.fail_next("rate_limit", retry_after=30)
    assistant.reply_next("Answered by the other key.")
    anna.send("Hi")
    jobs.drain()

    keys = [r.key for r in assistant.chat_requests()]
    assert len(keys) == 2 and keys[0] != keys[1]
    assert any("other key" in m["text"] for m in answers(telegram))


def test_the_same_update_three_times_asks_the_model_once(anna, assistant, telegram, jobs) -> None:
    assistant.reply_next("Once.")
    anna.send("Only once")
    anna.redeliver()
    anna.redeliver()
    jobs.drain()

    assert len(assistant.chat_requests()) == 1
    assert len([m for m in answers(telegram) if "Once." in m["text"]]) == 1


def test_a_voice_question_is_transcribed_shown_and_answered(anna, assistant, telegram, jobs) -> None:
    assistant.transcript_next("What is the weather like on Mars?")
    assistant.reply_next("Cold and dusty.")
    anna.send_voice(OGG, duration=4)
    jobs.drain()

    texts = [m["text"] for m in answers(telegram)]
    assert "🎙 What is the weather like on Mars?" in texts
    assert any("Cold and dusty" in t for t in texts)
    (transcription,) = assistant.requests_to("/audio/transcriptions")
    assert transcription.form["model"] == "whisper-1"
    asked = assistant.chat_requests()[-1].json["messages"][-1]["content"]
    assert asked == "What is the weather like on Mars?"


def test_a_photo_with_a_caption_goes_to_a_vision_model(anna, assistant, telegram, jobs, jpeg) -> None:
    assistant.reply_next("A red square.")
    anna.send_photo(jpeg(), caption="What is in this picture?")
    jobs.drain()

    content = assistant.chat_requests()[-1].json["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "What is in this picture?"}
    assert content[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert any("red square" in m["text"] for m in answers(telegram))


def test_refused_drafts_fall_back_to_one_edited_message(anna, assistant, telegram, jobs) -> None:
    telegram.clear_calls()
    telegram.fail_next("sendMessageDraft", 400, "Bad Request: method not available", times=50)
    assistant.reply_next("word " * 200, chunk_tokens=5, delay=0.1)  # 4 s of streaming
    anna.send("Tell me a story")
    jobs.drain()

    edits = [c for c in telegram.calls_for("editMessageText") if c.ok]
    sent = [m for m in answers(telegram) if "word" in m["text"]]
    assert len(sent) == 1 and len(edits) >= 2  # one message, grown by edits, then made the answer
    assert len(telegram.calls_for("sendMessageDraft")) == 1  # refused once, never tried again
    assert [
        c
        for c in telegram.calls_for("editMessageText")
        if not c.ok and "not modified" in json.dumps(c.response)
    ] == []


def test_settings_pick_the_answers_language(anna, assistant, jobs) -> None:
    anna.send("/settings")
    anna.press_button("in my question's language")  # -> Russian
    assistant.reply_next("Лима.")
    anna.send("What is the capital of Peru?")
    jobs.drain()

    system = assistant.chat_requests()[-1].json["messages"][0]["content"]
    assert system.endswith("Always answer in Russian.") and User.get(ANNA).chat_language == "ru"
    anna.send("/settings")
    assert "🤖 Assistant answers: in Russian" in anna.buttons()
