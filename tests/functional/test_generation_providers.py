"""The whole generation path through the real Gemini and OpenAI adapters, against their HTTP stand-ins.

Bot flow -> debit + job -> SQS -> generate Lambda -> google-genai / openai SDK / Veo REST over
HTTP -> S3 -> Bot API stand-in. Keys and base URLs come from the environment, as in AWS.
"""

from __future__ import annotations

import pytest

from genbot.config import get_settings
from genbot.ledger import Posting, apply
from genbot.ledger.audit import audit
from genbot.store.models import User
from genbot_local.simulate import ChatUser

USER = 515151


@pytest.fixture
def providers(monkeypatch, gemini_api, openai_api, gemini_keys, openai_keys):
    monkeypatch.setenv("GEMINI_API_KEYS", ",".join(gemini_keys))
    monkeypatch.setenv("GEMINI_BASE_URL", gemini_api.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", ",".join(openai_keys))
    monkeypatch.setenv("OPENAI_BASE_URL", openai_api.base_url)
    get_settings.cache_clear()
    yield gemini_api, openai_api
    get_settings.cache_clear()


@pytest.fixture
def person(aws, chat_user, providers) -> ChatUser:
    chat = chat_user(USER)
    chat.start()
    apply(Posting(USER, "grant#test", 27, "grant"))
    return chat


def test_a_picture_from_gemini_reaches_the_user(
    person, providers, telegram, jobs, order_image, only_job
) -> None:
    gemini, openai = providers
    order_image(person, "a red fox in the snow")

    jobs.drain()

    job = only_job(USER)
    assert job.status == "succeeded" and job.provider.startswith("gemini")
    assert len(gemini.requests_to(":generateContent")) == 1
    assert len(openai.requests_to("/moderations")) == 1  # the prompt was moderated before the charge
    assert telegram.calls_for("sendPhoto")[-1].files["photo"].startswith(b"\x89PNG")
    assert User.get(USER).balance == 29


def test_a_video_from_veo_is_polled_through_delayed_messages(
    person, providers, telegram, jobs, jpeg, only_job
) -> None:
    gemini, _ = providers
    person.send_photo(jpeg("orange"), caption="the sea moves")
    person.press_button("Оживить фото")
    person.press_button("Стандарт")
    person.press_button("Запустить")

    jobs.drain()

    job = only_job(USER)
    assert job.status == "succeeded" and int(job.polls) >= 2
    assert len(gemini.requests_to(":predictLongRunning")) == 1
    assert len(gemini.requests_to("/operations/")) >= 3
    assert telegram.calls_for("sendVideo")[-1].params["caption"] == "the sea moves"
    assert User.get(USER).balance == 30 - get_settings().cost_video


def test_a_gemini_safety_block_is_refunded_once(
    person, providers, telegram, jobs, order_image, only_job
) -> None:
    gemini, _ = providers
    gemini.block_next("image")
    order_image(person, "a harmless looking prompt")
    message = jobs.receive()[0]

    jobs.redeliver(message)
    jobs.redeliver(message)

    job = only_job(USER)
    assert job.status == "failed" and job.error_code.startswith("refused")
    assert User.get(USER).balance == 30
    assert len([c for c in telegram.calls if "отклонил" in str(c.params.get("text", ""))]) == 1
    assert audit() == []


def test_every_gemini_key_over_quota_falls_back_to_openai(
    person, providers, jobs, order_image, only_job, gemini_keys
) -> None:
    gemini, openai = providers
    for key in gemini_keys:
        gemini.over_quota(key)
    order_image(person, "a lighthouse")

    jobs.drain()

    job = only_job(USER)
    assert job.status == "succeeded" and job.provider.startswith("openai")
    assert len(openai.requests_to("/images/generations")) == 1


def test_a_moderation_flag_stops_the_prompt_before_any_charge(person, providers) -> None:
    _, openai = providers
    openai.flag("forbidden")
    person.send("🎨 Создать")
    person.press_button("Картинка по описанию")
    person.press_button("Стандарт")

    answer = person.send("something forbidden here")

    assert "нарушает правила" in answer["text"]
    assert User.get(USER).balance == 30
