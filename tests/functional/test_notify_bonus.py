"""The daily bonus window and its reminder: the calendar days in TIMEZONE, 11:00, once a day.

Users are registered through ``genbot.users.register`` at chosen moments (its ``now``), the
reminder runs with a chosen ``now``; claims go through the bot like a person's taps.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from genbot.config import get_settings
from genbot.notify import bonus
from genbot.store.models import LedgerEntry, User
from genbot.users import BonusClaim, claim_daily_bonus, register
from genbot_local.invoke import invoke

MSK = ZoneInfo("Europe/Moscow")
ANNA = 661001


def msk(day: int, hour: int, minute: int = 0) -> int:
    """Epoch seconds of 2026-12-<day> hour:minute in Moscow."""
    return int(datetime(2026, 12, day, hour, minute, tzinfo=MSK).timestamp())


def sign_up(user_id: int, at: int, language: str = "en") -> User:
    return register(get_settings(), user_id, language=language, first_name="Anna", now=at).user


def reminders(telegram, user_id: int = ANNA) -> list[dict]:
    return [
        c.params
        for c in telegram.calls_for("sendMessage")
        if c.ok and c.params["chat_id"] == user_id and "daily bonus is waiting" in c.params["text"]
    ]


def daily_entries(user_id: int = ANNA) -> list[str]:
    return [e.op_id for e in LedgerEntry.query(user_id) if e.kind == "daily"]


@pytest.fixture
def settings(aws):  # type: ignore[no-untyped-def]
    return get_settings()


def test_the_window_is_three_calendar_days_in_the_zone_counting_the_day_of_registration(settings) -> None:
    user = sign_up(ANNA, msk(1, 23, 50))  # Tuesday 23:50 in Moscow: day 1

    assert claim_daily_bonus(settings, user, now=msk(1, 23, 55)) == BonusClaim.CLAIMED
    assert claim_daily_bonus(settings, user, now=msk(1, 23, 59)) == BonusClaim.ALREADY
    assert claim_daily_bonus(settings, user, now=msk(2, 0, 1)) == BonusClaim.CLAIMED  # day 2
    assert claim_daily_bonus(settings, user, now=msk(3, 23, 59)) == BonusClaim.CLAIMED  # day 3
    assert claim_daily_bonus(settings, user, now=msk(4, 0, 1)) == BonusClaim.CLOSED  # day 4

    assert daily_entries() == ["bonus#daily#2026-12-01", "bonus#daily#2026-12-02", "bonus#daily#2026-12-03"]
    assert User.get(ANNA).balance == settings.free_credits + 3


def test_the_day_turns_at_midnight_in_the_zone_not_in_utc(settings) -> None:
    user = sign_up(ANNA, msk(1, 12))
    # 21:30 UTC on 3 December is 00:30 on the 4th in Moscow: day 4, the window is shut
    late = int(datetime(2026, 12, 3, 21, 30, tzinfo=ZoneInfo("UTC")).timestamp())
    assert claim_daily_bonus(settings, user, now=late - 3600) == BonusClaim.CLAIMED  # 23:30 on the 3rd
    assert claim_daily_bonus(settings, user, now=late) == BonusClaim.CLOSED


def test_the_bonuses_menu_offers_the_bonus_inside_the_window_and_says_so_after(
    chat_user, aws, settings
) -> None:
    person = chat_user(ANNA)
    person.start()
    menu = person.send("🎁 Бонусы")
    assert "день 1 из 3" in menu["text"]
    claim = person.buttons()["Забрать бонус за сегодня"]

    User(ANNA).update(actions=[User.created_at.set(int(User.get(ANNA).created_at) - 3 * 86400)])  # 3 days on
    after = person.send("🎁 Бонусы")

    assert "первые 3 дня" in after["text"] and "промокод" in after["text"]
    assert "ref_661001" in after["text"]  # the referral link is still there
    assert "Забрать бонус за сегодня" not in person.buttons() and "🎟 Промокод" in person.buttons()
    old_button = person.press(claim)  # yesterday's button, pressed today
    assert "закончились" in old_button["text"] and daily_entries() == []


def test_the_claimed_bonus_menu_says_it_is_claimed(chat_user, aws, telegram) -> None:
    """The menu's first line offered "+1 today": after the claim it says the bonus is taken,
    and the rest of the menu (the referral link, the promo code button) stays as it was."""
    person = chat_user(ANNA)
    person.start()
    person.send("🎁 Бонусы")
    menu_id = person.last_message_id
    (before,) = [m for m in telegram.chat_messages(ANNA) if m["message_id"] == menu_id]
    assert before["text"].startswith("🎁 Бонус дня: +1 кредит сегодня")

    person.press(person.buttons()["Забрать бонус за сегодня"])

    (after,) = [m for m in telegram.chat_messages(ANNA) if m["message_id"] == menu_id]
    first, rest = after["text"].split("\n\n", 1)
    assert first == "✅ Сегодняшний бонус уже ваш. Приходите завтра!"
    assert rest == before["text"].split("\n\n", 1)[1]  # the referral link and the count
    assert [b["text"] for row in after["reply_markup"]["inline_keyboard"] for b in row] == ["🎟 Промокод"]


def test_a_double_tap_on_the_claim_credits_once(chat_user, aws, settings) -> None:
    person = chat_user(ANNA)
    person.start()
    person.send("🎁 Бонусы")
    data = person.buttons()["Забрать бонус за сегодня"]

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: person.press(data), range(4)))

    assert len(daily_entries()) == 1
    assert User.get(ANNA).balance == settings.free_credits + settings.daily_bonus
    assert sum("+1" in a["text"] for a in answers) == 1


def test_a_tap_reads_its_own_answer_when_another_taps_answer_lands_first(chat_user, aws) -> None:
    """The double tap above, in the one order that made it flaky: the second tap's whole
    delivery recorded between the first tap's delivery and its reading of what it was shown.
    Each press must read the answer to its own callback query, not the chat's latest alert."""
    person = chat_user(ANNA)
    person.start()
    person.send("🎁 Бонусы")
    data = person.buttons()["Забрать бонус за сегодня"]
    other = chat_user(ANNA)
    deliver = person.webhook.deliver

    def then_another_tap(update: dict, **kwargs) -> dict:  # type: ignore[type-arg]
        response = deliver(update, **kwargs)
        person.webhook.deliver = deliver  # once
        assert "уже" in other.press(data)["text"]  # already claimed: it lands after the first
        return response

    person.webhook.deliver = then_another_tap  # type: ignore[method-assign]
    assert "+1" in person.press(data)["text"]


def today_at(hour: int, minute: int = 0) -> int:
    """Today (the real one: the bot's buttons use the real clock) at hour:minute in Moscow."""
    return int(datetime.combine(datetime.now(MSK).date(), time(hour, minute), MSK).timestamp())


def test_the_reminder_comes_after_11_in_the_zone_once_a_day_with_a_button_that_claims(
    telegram, chat_user, settings
) -> None:
    sign_up(ANNA, today_at(0, 1))  # just after midnight: today's reminder is due at 11:00

    early = bonus.run(settings, now=today_at(10, 59))
    assert early["read"] == 0 and reminders(telegram) == []

    bonus.run(settings, now=today_at(11, 1))
    (sent,) = reminders(telegram)
    assert "day 1 of 3" in sent["text"] and "/settings" in sent["text"]
    button = sent["reply_markup"]["inline_keyboard"][0][0]
    assert bonus.run(settings, now=today_at(11, 16))["read"] == 0  # once a day
    assert bonus.run(settings, now=today_at(22, 0))["read"] == 0

    (shown,) = [m for m in telegram.chat_messages(ANNA) if m.get("text") == sent["text"]]
    person = chat_user(ANNA)
    # the reminder's button claims today's bonus
    answer = person.press(button["callback_data"], message_id=shown["message_id"])
    today = datetime.now(MSK).date().isoformat()
    assert "+1" in answer["text"] and daily_entries() == [f"bonus#daily#{today}"]
    (shown,) = [m for m in telegram.chat_messages(ANNA) if m["message_id"] == shown["message_id"]]
    assert shown["text"] == sent["text"]  # the reminder says what it said; its button is gone
    assert "Claim today" not in str(shown.get("reply_markup"))
    assert len(telegram.calls_for("editMessageReplyMarkup")) == 1


def test_on_the_day_of_registration_the_reminder_waits_two_hours_after_start(telegram, settings) -> None:
    sign_up(ANNA, msk(1, 15))  # after 11:00: reminded at 17:00 if still unclaimed
    sign_up(ANNA + 1, msk(1, 23))  # 01:00 is the next day: first reminded then at 11:00

    assert bonus.run(settings, now=msk(1, 16, 59))["read"] == 0
    bonus.run(settings, now=msk(1, 17, 1))
    bonus.run(settings, now=msk(1, 23, 45))
    assert len(reminders(telegram)) == 1 and reminders(telegram, ANNA + 1) == []
    bonus.run(settings, now=msk(2, 11, 0))
    assert len(reminders(telegram)) == 2 and len(reminders(telegram, ANNA + 1)) == 1


def test_a_claimed_day_gets_no_reminder_and_the_last_day_says_it_is_the_last(telegram, settings) -> None:
    user = sign_up(ANNA, msk(1, 9))
    claim_daily_bonus(settings, user, now=msk(1, 10))  # claimed before 11: no reminder today

    assert bonus.run(settings, now=msk(1, 11, 1))["read"] == 0
    bonus.run(settings, now=msk(2, 11, 1))
    bonus.run(settings, now=msk(3, 11, 1))
    assert bonus.run(settings, now=msk(4, 11, 1))["read"] == 0  # day 4: out of the index

    texts = [r["text"] for r in reminders(telegram)]
    assert len(texts) == 2 and "day 2 of 3" in texts[0] and "last one" in texts[1]
    assert User.get(ANNA).bonus_at is None and User.get(ANNA).bonus_q is None


def test_a_day_missed_by_every_run_is_reminded_the_next_day_once(telegram, settings) -> None:
    sign_up(ANNA, msk(1, 9))

    bonus.run(settings, now=msk(2, 9, 0))  # the key from day 1, read before day 2's 11:00
    assert reminders(telegram) == []
    bonus.run(settings, now=msk(2, 11, 0))
    bonus.run(settings, now=msk(2, 11, 15))
    assert len(reminders(telegram)) == 1


def test_two_overlapping_runs_and_a_retried_run_remind_once(telegram, settings) -> None:
    for i in range(20):
        sign_up(ANNA + i, msk(1, 9))

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: bonus.run(settings, now=msk(1, 11, 1)), range(2)))
    bonus.run(settings, now=msk(1, 11, 1))  # the scheduler's retry of the same tick

    per_user = [len(reminders(telegram, ANNA + i)) for i in range(20)]
    assert per_user == [1] * 20


def test_turned_off_in_settings_no_reminder_and_turned_on_again_it_comes(
    telegram, chat_user, settings
) -> None:
    sign_up(ANNA, msk(1, 9), language="ru")
    person = chat_user(ANNA)
    person.send("/settings")
    person.press_button("Напоминания о бонусе")  # off

    assert "bonus" in User.get(ANNA).muted
    bonus.run(settings, now=msk(1, 11, 1))
    assert User.get(ANNA).bonus_at is None  # read once, then out of the index
    assert bonus.run(settings, now=msk(1, 11, 16))["read"] == 0

    person.send("/settings")
    assert "🔕 Напоминания о бонусе" in person.buttons()
    person.press_button("Напоминания о бонусе")  # on again: back in the index
    assert not User.get(ANNA).muted and User.get(ANNA).bonus_at is not None


def test_a_user_who_blocked_the_bot_is_not_reminded_and_a_403_marks_them(
    telegram, deliver, telegram_update, settings
) -> None:
    sign_up(ANNA, msk(1, 9))
    sign_up(ANNA + 1, msk(1, 9))
    deliver(telegram_update("my_chat_member", user_id=ANNA))  # blocked, we were told
    telegram.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")

    report = bonus.run(settings, now=msk(1, 11, 1))

    assert report["blocked"] == 1 and report["skipped"] == 1
    assert User.get(ANNA).blocked and User.get(ANNA + 1).blocked
    telegram.clear_calls()
    assert bonus.run(settings, now=msk(2, 11, 1))["skipped"] == 1  # read once more, then out
    assert bonus.run(settings, now=msk(3, 11, 1))["read"] == 0
    assert telegram.calls_for("sendMessage") == []


def test_a_flood_answer_leaves_the_reminder_due_for_the_next_run(telegram, settings) -> None:
    sign_up(ANNA, msk(1, 9))
    telegram.fail_next("sendMessage", 429, "Too Many Requests: retry after 5", retry_after=5)

    assert bonus.run(settings, now=msk(1, 11, 1))["retry"] == 1
    bonus.run(settings, now=msk(1, 11, 16))

    assert len(reminders(telegram)) == 1 and User.get(ANNA).bonus_reminded == "2026-12-01"


def test_the_scheduled_event_runs_the_reminder_through_the_lambda_handler(telegram, aws, monkeypatch) -> None:
    monkeypatch.setenv("BONUS_REMINDER_HOUR", "0")  # whatever the hour now, today's reminder is due
    get_settings.cache_clear()
    now = datetime.now(MSK)
    sign_up(ANNA, int(now.timestamp()) - 86400)  # yesterday: today's reminder is due from 11:00
    User(ANNA).update(actions=[User.bonus_at.set(int(now.timestamp()) - 60)])

    result = invoke("notify", {"task": "bonus_reminders"})

    assert result["read"] == 1 and len(reminders(telegram)) == 1
    assert invoke("notify", {"task": "nonsense"})["error"] == "unknown task"
