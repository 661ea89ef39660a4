"""Generation end to end: bot flow -> debit + job -> SQS -> generate Lambda -> provider -> S3 -> Telegram.

The offline fake provider serves here (no AI keys are set); the real Gemini/OpenAI adapters
are driven against their HTTP stand-ins in test_generation_providers.py.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from PIL import Image

from genbot.config import get_settings
from genbot.jobs import service
from genbot.ledger import InsufficientFundsError, Posting, apply
from genbot.ledger.audit import audit
from genbot.store.models import Job, LedgerEntry, User
from genbot_local.simulate import ChatUser

USER = 424242


@pytest.fixture
def user(chat_user, aws) -> ChatUser:
    person = chat_user(USER)
    person.start()
    apply(Posting(USER, "grant#test", 27, "grant"))  # 3 welcome + 27 = 30 credits
    return person


def ledger_ops(user_id: int) -> list[tuple[str, int]]:
    return sorted((e.op_id, int(e.delta)) for e in LedgerEntry.query(user_id))


def test_text_to_image_debits_once_queues_and_delivers_the_picture(
    user, telegram, jobs, order_image, only_job
) -> None:
    order_image(user, "a red fox in the snow, watercolor")

    job = only_job(USER)
    assert (job.status, job.price, job.mode) == ("queued", 1, "image")
    assert User.get(USER).balance == 29 and User.get(USER).active_jobs == 1
    assert "В очереди" in telegram.calls_for("editMessageText")[-1].params["text"]

    assert jobs.drain() == 1

    job = Job.get(job.job_id)
    assert job.status == "succeeded" and job.delivered and job.result_file_id
    photo = telegram.calls_for("sendPhoto")[-1]
    assert photo.params["chat_id"] == USER
    assert photo.params["caption"] == "a red fox in the snow, watercolor"
    labels = [b["text"] for row in photo.params["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["🔁 Ещё раз", "🎲 Вариация", "🎬 Оживить", "📎 Исходный файл"]
    stored = boto3.client("s3").get_object(Bucket=get_settings().media_bucket, Key=job.result_key)
    assert job.result_key == f"media/{USER}/{job.job_id}.png"
    assert Image.open(io.BytesIO(stored["Body"].read())).format == "PNG"
    user_after = User.get(USER)
    assert (user_after.balance, user_after.active_jobs, user_after.generations) == (29, 0, 1)
    assert user_after.first_generation_at
    assert audit() == []


def test_pro_tier_costs_more(user, jobs, order_image, only_job) -> None:
    order_image(user, "a lighthouse at dusk", tier="Pro")

    assert only_job(USER).tier == "pro"
    assert User.get(USER).balance == 30 - get_settings().cost_image_pro


def test_edit_a_photo_downloads_it_from_telegram_and_returns_the_edit(
    user, telegram, jobs, jpeg, only_job
) -> None:
    user.send_photo(jpeg(), caption=None)
    user.press_button("Изменить фото")
    user.press_button("Стандарт")
    user.send("make it look like an oil painting")
    user.press_button("Запустить")

    jobs.drain()

    job = only_job(USER)
    assert job.status == "succeeded" and job.mode == "edit" and job.input_file_id
    assert telegram.calls_for("getFile"), "the worker must fetch the user's photo through the Bot API"
    assert telegram.calls_for("sendPhoto")[-1].params["caption"] == "make it look like an oil painting"
    assert User.get(USER).balance == 30 - get_settings().cost_edit


def test_animate_a_photo_polls_the_operation_until_the_video_is_ready(
    user, telegram, jobs, jpeg, only_job
) -> None:
    user.send_photo(jpeg("orange"), caption="waves roll in")
    user.press_button("Оживить фото")
    user.press_button("Стандарт")
    user.press_button("Запустить")

    processed = jobs.drain()

    job = only_job(USER)
    assert processed >= 3  # start + at least two polls through re-queued messages
    assert job.status == "succeeded" and int(job.polls) >= 2
    video = telegram.calls_for("sendVideo")[-1]
    assert video.params["caption"] == "waves roll in"
    assert User.get(USER).balance == 30 - get_settings().cost_video


def test_a_refused_prompt_is_refunded_exactly_once_and_explained(
    user, telegram, jobs, order_image, only_job
) -> None:
    order_image(user, "please refuse this one")
    message = jobs.receive()[0]

    for _ in range(3):  # the same message delivered again and again
        jobs.redeliver(message)

    job = only_job(USER)
    assert job.status == "failed" and job.error_code.startswith("refused")
    assert ledger_ops(USER) == sorted(
        [
            ("bonus#welcome", 3),
            ("grant#test", 27),
            (f"job#{job.job_id}#debit", -1),
            (f"job#{job.job_id}#refund", 1),
        ]
    )
    assert User.get(USER).balance == 30 and User.get(USER).active_jobs == 0
    notices = [c for c in telegram.calls if "отклонил" in c.params.get("text", "")]
    assert len(notices) == 1
    assert audit() == []


def test_a_transient_failure_backs_off_then_succeeds(user, telegram, jobs, order_image, only_job) -> None:
    order_image(user, "a flaky castle on a hill")

    jobs.run_once(fast_forward=False)  # the fake provider fails "flaky" prompts once

    assert len(jobs.failures) == 1
    assert jobs.depth()["ApproximateNumberOfMessagesNotVisible"] == 1  # hidden by the backoff
    assert only_job(USER).status == "running"
    jobs.fast_forward(jobs.failures[0])  # the backoff is over
    jobs.drain()

    assert only_job(USER).status == "succeeded"
    assert len(telegram.calls_for("sendPhoto")) == 1
    assert User.get(USER).balance == 29


def test_retries_exhausted_land_in_the_dlq_and_are_refunded_once(
    user, telegram, jobs, aws, order_image, only_job
) -> None:
    order_image(user, "a castle")
    boto3.client("s3").delete_bucket(
        Bucket=aws["MEDIA_BUCKET"]
    )  # every attempt fails after the provider call

    for _ in range(6):
        jobs.run_once()

    assert jobs.depth()["ApproximateNumberOfMessages"] == 0
    assert jobs.depth(dead=True)["ApproximateNumberOfMessages"] == 1
    assert jobs.run_once(dead=True) == 1
    job = only_job(USER)
    assert job.status == "failed" and job.error_code == "unavailable"
    assert User.get(USER).balance == 30 and User.get(USER).active_jobs == 0
    assert len([c for c in telegram.calls if "недоступны" in c.params.get("text", "")]) == 1
    assert audit() == []


def test_redelivered_message_and_a_crash_after_the_provider_call_send_one_result(
    user, telegram, jobs, aws, order_image, only_job
) -> None:
    order_image(user, "two moons")
    s3 = boto3.client("s3")
    s3.delete_bucket(Bucket=aws["MEDIA_BUCKET"])
    message = jobs.receive()[0]
    jobs.redeliver(message)  # crashes after the provider answered: storing the result fails
    assert only_job(USER).status == "running"
    s3.create_bucket(Bucket=aws["MEDIA_BUCKET"])

    jobs.redeliver(message)
    jobs.redeliver(message)  # the same message delivered twice more

    assert only_job(USER).status == "succeeded"
    assert len(telegram.calls_for("sendPhoto")) == 1
    assert User.get(USER).balance == 29
    assert audit() == []


def test_a_user_who_blocked_the_bot_is_marked_refunded_once_and_the_result_kept(
    user, telegram, jobs, aws, order_image, only_job
) -> None:
    order_image(user, "a quiet harbour")
    telegram.block(USER)
    try:
        jobs.drain()
    finally:
        telegram.unblock(USER)  # the stand-in lives for the session: later tests use this chat

    job = only_job(USER)
    assert User.get(USER).blocked is True
    # the chat is gone: paid for, never delivered, so refunded once (the result stays in S3)
    assert (job.status, job.error_code) == ("failed", "chat_gone")
    assert User.get(USER).balance == 30 and audit() == []
    assert [c.response["error_code"] for c in telegram.calls_for("sendPhoto")] == [403]
    assert boto3.client("s3").head_object(Bucket=aws["MEDIA_BUCKET"], Key=job.result_key)
    assert jobs.depth()["ApproximateNumberOfMessages"] == 0  # no retry loop against a 403


def test_twenty_requests_with_credits_for_five_make_five_jobs(aws, telegram, monkeypatch) -> None:
    monkeypatch.setenv("MAX_USER_QUEUE", "50")
    get_settings.cache_clear()
    User(777, balance=0).save()
    apply(Posting(777, "grant#five", 5, "grant"))

    def request(i: int) -> str:
        new = service.NewJob(
            job_id=f"c-race-{i}", user_id=777, chat_id=777, mode="image", tier="standard", prompt="p", price=1
        )
        try:
            return "job" if service.create(get_settings(), new) else "replay"
        except InsufficientFundsError:
            return "broke"

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(request, range(20)))

    assert outcomes.count("job") == 5 and outcomes.count("broke") == 15
    assert User.get(777, consistent_read=True).balance == 0
    assert len([j for j in Job.scan() if j.user_id == 777]) == 5
    assert audit() == []
    get_settings.cache_clear()


def test_a_double_tap_on_start_charges_once(user, telegram) -> None:
    user.send("🎨 Создать")
    user.press_button("Картинка по описанию")
    user.press_button("Стандарт")
    user.send("a cat")
    start = user.buttons()["✅ Запустить — 1 кр."]

    user.press(start)
    second = user.press(start)

    assert "уже запущен" in second["text"]
    assert len(list(Job.scan())) == 1
    assert User.get(USER).balance == 29


def test_the_active_job_limit_is_enforced_with_a_clear_message(user, telegram, order_image) -> None:
    for i in range(get_settings().max_user_queue):
        order_image(user, f"picture {i}")

    refused = order_image(user, "one too many")

    assert "максимум" in refused["text"]
    assert len(list(Job.scan())) == get_settings().max_user_queue


def test_not_enough_credits_is_explained_up_front_and_nothing_is_charged(
    telegram, aws, jpeg, chat_user
) -> None:
    poor = chat_user(31337)
    poor.start()  # 3 credits; a video costs 10 or 20
    poor.send_photo(jpeg())
    tiers = poor.press_button("Оживить фото")

    # the tiers say so before anything else is asked, with a way to buy
    assert [label for label in poor.buttons() if "🔒" in label] == ["🔒 Стандарт — 10 кр.", "🔒 Pro — 20 кр."]
    assert "🛒 Купить кредиты" in poor.buttons() and "3 кредита" in tiers["text"]
    answer = poor.press_button("Стандарт")
    assert "Не хватает кредитов" in answer["text"] and answer["show_alert"]
    assert User.get(31337).balance == 3 and list(Job.scan()) == []


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [("   ", "пустое"), ("x" * 2001, "слишком длинное"), ("a picture of a bomb", "нарушает правила")],
)
def test_bad_prompts_get_a_clear_answer_before_any_charge(user, prompt, expected, monkeypatch) -> None:
    monkeypatch.setenv("BLOCKED_WORDS", "bomb")
    get_settings.cache_clear()
    user.send("🎨 Создать")
    user.press_button("Картинка по описанию")
    user.press_button("Стандарт")

    answer = user.send(prompt)

    assert expected in answer["text"]
    assert User.get(USER).balance == 30
    get_settings.cache_clear()


def test_wrong_file_types_and_huge_files_are_refused_clearly(user) -> None:
    pdf = user.send_photo(b"%PDF-1.4 ...", as_document=True, mime_type="application/pdf", file_name="doc.pdf")
    assert "JPEG, PNG или WebP" in pdf["text"]


def test_describe_a_photo_gives_a_prompt_to_generate_from(user, telegram, jobs, jpeg) -> None:
    user.send_photo(jpeg("purple"), caption="опиши")  # free: runs at once, no confirmation
    jobs.drain()

    described = telegram.calls_for("sendMessage")[-1].params
    assert "Вот запрос" in described["text"]
    use = described["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    user.press(use)
    confirm = user.press_button("Стандарт")
    assert "Картинка по описанию" in confirm["text"] and "Запустить" in str(user.buttons())


def test_the_status_message_moves_and_a_chat_action_shows(user, telegram, jobs, order_image) -> None:
    order_image(user, "a lantern")
    jobs.drain()

    edits = [c.params["text"] for c in telegram.calls_for("editMessageText")]
    assert any("В очереди" in t for t in edits) and any("Работаю" in t for t in edits)
    assert telegram.calls_for("sendChatAction")[-1].params["action"] == "upload_photo"
    assert telegram.calls_for("deleteMessage"), "the status message is removed once the result is there"


def test_the_original_file_is_sent_as_a_document_on_request(
    user, telegram, jobs, order_image, result_button
) -> None:
    order_image(user, "a harbour at night")
    jobs.drain()

    user.press(result_button(telegram, "Исходный файл"))
    jobs.drain()

    document = telegram.calls_for("sendDocument")[-1]
    assert document.files["document"].startswith(b"\x89PNG")
    assert User.get(USER).balance == 29  # free


def test_animate_this_turns_the_result_into_a_video_job(
    user, telegram, jobs, order_image, only_job, result_button
) -> None:
    order_image(user, "a sailing ship")
    jobs.drain()
    picture = only_job(USER)

    user.press(result_button(telegram, "Оживить"))
    user.press_button("Стандарт")
    user.press_button("Пропустить")
    user.press_button("Запустить")
    jobs.drain()

    video = next(j for j in Job.scan() if j.mode == "video")
    assert video.input_file_id == picture.result_file_id and video.status == "succeeded"
    assert telegram.calls_for("sendVideo")


def test_again_offers_the_same_request_for_confirmation(
    user, telegram, jobs, order_image, result_button
) -> None:
    order_image(user, "a teapot")
    jobs.drain()

    offer = user.press(result_button(telegram, "Ещё раз"))

    assert "a teapot" in offer["text"] and "Запустить" in str(user.buttons())
    assert len(list(Job.scan())) == 1  # nothing charged until confirmed


def test_a_too_large_image_is_refused_before_any_charge(user, monkeypatch, jpeg) -> None:
    monkeypatch.setenv("MAX_INPUT_BYTES", "1000")
    get_settings.cache_clear()

    answer = user.send_photo(jpeg(size=(640, 480)), as_document=True, mime_type="image/jpeg")

    assert "слишком большой" in answer["text"]
    assert User.get(USER).balance == 30
    get_settings.cache_clear()


def test_a_long_prompt_is_trimmed_to_telegrams_caption_limit(user, telegram, jobs, order_image) -> None:
    prompt = (
        "a very detailed scene " * 80
    )  # ~1760 characters: within our limit, over Telegram's caption limit

    order_image(user, prompt.strip())
    jobs.drain()

    caption = telegram.calls_for("sendPhoto")[-1]
    assert caption.ok and len(caption.params["caption"]) <= 1024
    assert caption.params["caption"].endswith("…")
