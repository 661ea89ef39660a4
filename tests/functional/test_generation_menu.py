"""The generation menu as a person meets it: what is offered, old buttons, variations, plurals, help.

Each test here was found by trying the bot in the web chat; each drives the real webhook and
generate Lambda (fake provider, moto, the Bot API stand-in).
"""

from __future__ import annotations

import pytest

from genbot.config import get_settings
from genbot.ledger import Posting, apply
from genbot.store.models import Job, User
from genbot_local.simulate import ChatUser

USER = 515000


@pytest.fixture
def user(chat_user, aws) -> ChatUser:
    person = chat_user(USER)
    person.start()
    apply(Posting(USER, "grant#test", 27, "grant"))  # 30 credits
    return person


def draft_to_confirm(person: ChatUser, prompt: str) -> tuple[int, dict[str, str]]:
    """Picture from text, standard, a prompt: (the confirmation's message id, its buttons)."""
    person.send("🎨 Создать")
    person.press_button("Картинка по описанию")
    person.press_button("Стандарт")
    person.send(prompt)
    return person.last_message_id, person.buttons()


# --- 1. an old button acts only on its own draft ---------------------------------------------


def test_an_old_cancel_leaves_the_current_draft_alone(user, telegram, jobs) -> None:
    cat_message, cat_buttons = draft_to_confirm(user, "a cat")
    dog_message, dog_buttons = draft_to_confirm(user, "a dog")

    # the replaced draft's buttons were taken off its message
    retired = [c.params for c in telegram.calls_for("editMessageReplyMarkup")]
    assert any(p["message_id"] == cat_message and not p.get("reply_markup") for p in retired)

    edits_before = len(telegram.calls_for("editMessageText"))
    answer = user.press(cat_buttons["✖ Отмена"], message_id=cat_message)
    assert "больше не работает" in answer["text"]
    assert len(telegram.calls_for("editMessageText")) == edits_before  # no message says "Cancelled."

    started = user.press(dog_buttons["✅ Запустить — 1 кр."], message_id=dog_message)
    assert "В очереди" in started["text"] and "a dog" in started["text"]
    (job,) = Job.scan()
    assert job.prompt == "a dog" and job.status_message_id == dog_message


def test_an_old_cancel_above_a_finished_picture_changes_nothing(user, telegram, jobs) -> None:
    user.send("🎨 Создать")
    user.press_button("Картинка по описанию")
    user.press_button("Стандарт")  # "Describe the picture" with a Cancel button
    ask_message, ask_buttons = user.last_message_id, user.buttons()
    user.send("a lighthouse")
    user.press_button("Запустить")
    jobs.drain()

    answer = user.press(ask_buttons["✖ Отмена"], message_id=ask_message)

    assert "больше не работает" in answer["text"]
    assert not [c for c in telegram.calls_for("editMessageText") if "Отменено" in c.params["text"]]


def test_a_start_button_of_a_replaced_draft_starts_nothing(user, telegram) -> None:
    _, cat_buttons = draft_to_confirm(user, "a cat")
    draft_to_confirm(user, "a dog")

    answer = user.press(cat_buttons["✅ Запустить — 1 кр."])

    assert "уже запущен или заменён" in answer["text"] and list(Job.scan()) == []
    assert User.get(USER).balance == 30


# --- 2. a variation keeps what the original was ------------------------------------------------


def test_a_variation_of_a_picture_from_text_stays_a_picture_from_text(
    user, telegram, jobs, result_button
) -> None:
    draft_to_confirm(user, "кот в сапогах")
    user.press_button("Запустить")
    jobs.drain()

    offer = user.press(result_button(telegram, "Вариация"))

    assert offer["text"].startswith("🖼 Картинка по описанию") and "кот в сапогах" in offer["text"]
    assert "Изменить фото" not in offer["text"] and "variation" not in offer["text"].lower()
    assert "✅ Запустить — 1 кр." in user.buttons()
    user.press_button("Запустить")
    jobs.drain()
    variation = max(Job.scan(), key=lambda j: j.created_at)
    assert (variation.mode, variation.tier, variation.price, variation.prompt, variation.variant) == (
        "image",
        "standard",
        get_settings().cost_image,
        "кот в сапогах",
        1,
    )
    assert telegram.calls_for("sendPhoto")[-1].params["caption"] == "кот в сапогах"
    first, second = (c.files["photo"] for c in telegram.calls_for("sendPhoto"))
    assert first != second  # a fresh composition, not the same picture again

    user.press(result_button(telegram, "Ещё раз"))  # "again" on a variation repeats it
    user.press_button("Запустить")
    again = max(Job.scan(), key=lambda j: j.created_at)
    assert (again.mode, again.prompt, again.variant) == ("image", "кот в сапогах", 1)


# --- 3. plurals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grant", "language", "expected"),
    [
        (-2, "ru", "Баланс: 1 кредит\n"),
        (-1, "ru", "Баланс: 2 кредита\n"),
        (2, "ru", "Баланс: 5 кредитов\n"),
        (18, "ru", "Баланс: 21 кредит\n"),
        (-2, "en", "Balance: 1 credit\n"),
        (2, "en", "Balance: 5 credits\n"),
    ],
)
def test_balances_use_plural_forms(
    telegram, aws, grant: int, language: str, expected: str, chat_user
) -> None:
    person = chat_user(616000, language=language)
    person.start()  # 3 welcome credits
    apply(Posting(616000, "grant#plural", grant, "grant"))

    answer = person.send("/balance")

    assert expected in answer["text"]


def test_a_refund_of_one_credit_says_one_credit(user, telegram, jobs) -> None:
    draft_to_confirm(user, "please refuse this")  # the fake provider refuses it
    user.press_button("Запустить")
    jobs.drain()

    told = telegram.calls_for("editMessageText")[-1].params["text"]
    assert "Ваш 1 кредит вернулся на баланс." in told and "кр. are back" not in told


# --- 4. what the user can't afford is said up front --------------------------------------------


def test_a_start_button_never_stands_next_to_a_balance_that_cannot_pay(telegram, aws, chat_user) -> None:
    person = chat_user(717000)
    person.start()  # 3 credits: picture standard (1) yes, pro (3) yes, video no
    person.send("🎨 Создать")
    person.press_button("Картинка по описанию")
    assert list(person.buttons()) == ["Стандарт — 1 кр.", "Pro — 3 кр.", "✖ Отмена"]  # none locked
    person.press_button("Pro")
    apply(Posting(717000, "grant#spent-elsewhere", -2, "grant"))  # the balance drops meanwhile

    shown = person.send("a castle")

    assert not [label for label in person.buttons() if "Запустить" in label]
    assert "🛒 Купить кредиты" in person.buttons() and "1 кредит" in shown["text"]
    packs = person.press_button("Купить кредиты")
    assert "пакет" in packs["text"].lower() and "Stars" in packs["text"]


# --- 5. help and commands ----------------------------------------------------------------------


def test_help_names_every_mode_as_the_menu_does_with_all_prices(user) -> None:
    settings = get_settings()
    menu = user.send("🎨 Создать")
    labels = [label for label in user.buttons() if label != "✖ Отмена"]

    text = user.send("/help")["text"]

    assert "Что создадим?" in menu["text"]
    assert labels == ["🖼 Картинка по описанию", "✏️ Изменить фото", "🎬 Оживить фото", "🔎 Запрос по фото"]
    prices = [
        (settings.cost_image, settings.cost_image_pro),
        (settings.cost_edit, settings.cost_edit_pro),
        (settings.cost_video, settings.cost_video_pro),
    ]
    for label, (standard, pro) in zip(labels[:3], prices, strict=True):  # the paid modes, in menu order
        assert f"{label}: Стандарт — {standard} кр.; Pro — {pro} кр." in text
    assert f"{labels[-1]}: бесплатно" in text
    assert "/generate" in text and "/buy" in text


# --- 6. free actions run at once --------------------------------------------------------------


def test_a_free_action_runs_without_asking_to_confirm(user, telegram, jobs, jpeg) -> None:
    user.send_photo(jpeg("purple"))
    answer = user.press_button("Запрос по фото")

    assert "Запустить" not in str(user.buttons()) and "В очереди" in answer["text"]
    (job,) = Job.scan()
    assert (job.mode, job.price) == ("describe", 0)
    jobs.drain()
    assert "Вот запрос" in telegram.calls_for("sendMessage")[-1].params["text"]


# --- 7. a long video keeps the user's view true ------------------------------------------------


def test_each_poll_of_a_video_renews_the_action_and_says_how_long(user, telegram, jobs, jpeg) -> None:
    user.send_photo(jpeg("orange"), caption="waves roll in")
    user.press_button("Оживить фото")
    user.press_button("Стандарт")
    user.press_button("Запустить")
    jobs.drain()

    polls = int(next(iter(Job.scan())).polls)
    actions = [c for c in telegram.calls_for("sendChatAction") if c.params["action"] == "record_video"]
    assert polls >= 2 and len(actions) >= polls + 1
    assert any("прошло" in c.params["text"] for c in telegram.calls_for("editMessageText"))


# --- the menu offers what can be served --------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "offered"),
    [
        ({"OPENAI_API_KEY": "sk-only-openai"}, ["Картинка по описанию", "Изменить фото", "Запрос по фото"]),
        (
            {"GEMINI_API_KEYS": "gemini-only"},
            ["Картинка по описанию", "Изменить фото", "Оживить фото", "Запрос по фото"],
        ),
    ],
)
def test_the_menu_offers_exactly_what_the_configured_keys_can_make(
    user, monkeypatch, keys: dict[str, str], offered: list[str], jpeg
) -> None:
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()

    user.send("🎨 Создать")
    assert [label.split(" ", 1)[1] for label in user.buttons()] == offered
    user.send_photo(jpeg())
    assert [label.split(" ", 1)[1] for label in user.buttons()] == [
        m for m in offered if m != "Картинка по описанию"
    ]


def test_a_video_button_from_before_the_keys_changed_charges_nothing(user, monkeypatch, jpeg) -> None:
    user.send_photo(jpeg())
    video = user.buttons()["🎬 Оживить фото"]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-only-openai")  # nothing can make videos now
    get_settings.cache_clear()

    answer = user.press(video)

    assert "больше не работает" in answer["text"]
    assert User.get(USER).balance == 30 and list(Job.scan()) == []


def test_the_cabinets_generate_again_link_offers_the_users_own_job_for_confirmation(
    chat_user, aws, jobs, order_image, telegram
) -> None:
    person = chat_user(626262)
    person.start()
    order_image(person, "a castle in the clouds")
    jobs.drain()
    (job,) = [j for j in Job.scan() if j.user_id == 626262]

    offered = person.send(f"/start again_{job.job_id}")
    assert "a castle in the clouds" in offered["text"] and any("Запустить" in b for b in person.buttons())
    assert len([j for j in Job.scan() if j.user_id == 626262]) == 1  # nothing started unasked

    stranger = chat_user(636363)
    stranger.start()
    refused = stranger.send(f"/start again_{job.job_id}")  # someone else's job
    assert "не повторить" in refused["text"]


# --- 6. every button press is answered (else the client shows a spinner on it) ---------------


def answers_to_the_last_press(person: ChatUser, telegram) -> list[dict[str, object]]:
    query_id = person.last_update["callback_query"]["id"]
    return [
        c.params
        for c in telegram.calls_for("answerCallbackQuery")
        if c.params.get("callback_query_id") == query_id
    ]


@pytest.mark.parametrize(
    "buttons",
    [
        ["Картинка по описанию", "Стандарт", "Отмена"],  # mode, tier (the next step in place), cancel
        ["Оживить фото", "Отмена"],  # a mode that asks for a photo next
    ],
)
def test_every_draft_button_is_answered_once(user, telegram, buttons: list[str]) -> None:
    """Telegram's clients show a progress bar on a pressed button until answerCallbackQuery;
    the draft's buttons edited the message in place but never answered (found by the load bench)."""
    user.send("🎨 Создать")
    for label in buttons:
        user.press_button(label)
        assert len(answers_to_the_last_press(user, telegram)) == 1, label
