"""Subscription notices: a reminder 3 days before the end (not for one that renews by itself), a
message when it has ended, each once per period; blocked and muted users are not messaged.

Subscriptions are bought through ``genbot.payments.subscriptions.settle_charge`` (what the bot's
``successful_payment`` handler calls; it puts the user in the ``sub_due`` index) on the real
clock, so ``until`` lies in the future; the notice run gets a chosen ``now`` around it.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from genbot import runtime
from genbot.config import get_settings
from genbot.notify import common
from genbot.notify import subscriptions as notices
from genbot.payments import refunds, subscriptions
from genbot.store.models import DUE, User
from genbot.users import register, set_blocked, set_notice
from genbot.users.subscription_notices import RENEWAL_GRACE_SECONDS, next_notice
from genbot.vocab import NoticeKind
from genbot_local.invoke import invoke

SAM = 931001
DAY = 24 * 3600
MSK = ZoneInfo("Europe/Moscow")


@pytest.fixture
def settings(aws):  # type: ignore[no-untyped-def]
    return get_settings()


def sign_up(user_id: int = SAM, language: str = "en") -> None:
    register(get_settings(), user_id, language=language, first_name="Sam")


def pay_month(user_id: int, until: int, *, first: bool = True, charge: str | None = None) -> str:
    """A monthly charge (the first of a renewing subscription, or a renewal); its charge id."""
    charge = charge or f"stxNOTICE{uuid.uuid4().hex[:12]}"
    done = subscriptions.settle_charge(
        get_settings(),
        user_id=user_id,
        payload=f"sub_month:150:450:{user_id}",
        currency="XTR",
        total_amount=450,
        charge_id=charge,
        expiration_date=until,
        is_recurring=True,
        is_first_recurring=first,
    )
    assert done is not None and done.applied and done.until == until
    return charge


def pay_year(user_id: int = SAM) -> int:
    """The annual plan (one payment, no renewal); the subscription's end."""
    done = subscriptions.settle_charge(
        get_settings(),
        user_id=user_id,
        payload=f"sub_year:1800:4500:{user_id}",
        currency="XTR",
        total_amount=4500,
        charge_id=f"stxYEAR{uuid.uuid4().hex[:12]}",
    )
    assert done is not None and done.applied
    return done.until


def sent(telegram, user_id: int = SAM, marker: str = "subscription") -> list[dict]:  # type: ignore[no-untyped-def]
    return [
        c.params
        for c in telegram.calls_for("sendMessage")
        if c.ok and c.params["chat_id"] == user_id and marker in c.params["text"]
    ]


def reminders(telegram, user_id: int = SAM) -> list[dict]:  # type: ignore[no-untyped-def]
    return sent(telegram, user_id, "subscription ends on")


def ended(telegram, user_id: int = SAM) -> list[dict]:  # type: ignore[no-untyped-def]
    return sent(telegram, user_id, "subscription ended on")


def local_date(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, MSK).strftime("%d.%m.%Y")


def test_the_reminder_comes_3_days_before_the_end_not_a_minute_earlier_and_once(
    telegram, chat_user, settings
) -> None:
    sign_up()
    until = pay_year()
    user = User.get(SAM)
    assert (user.sub_q, int(user.sub_at)) == (DUE, until - 3 * DAY)  # set by the payment

    early = notices.run(settings, now=until - 3 * DAY - 60)  # 3 days and a minute before: nothing
    assert early["read"] == 0 and sent(telegram) == []

    report = notices.run(settings, now=until - 3 * DAY + 60)  # 3 days less a minute: the reminder
    assert (report["read"], report["sent"]) == (1, 1)
    (reminder,) = reminders(telegram)
    assert local_date(until) in reminder["text"] and "/subscribe" in reminder["text"]
    assert "/settings" in reminder["text"]  # how to turn these off
    (button,) = reminder["reply_markup"]["inline_keyboard"][0]
    assert button["callback_data"] == "sub:show"
    user = User.get(SAM)
    assert (int(user.sub_reminded), int(user.sub_at)) == (until, until)  # next: the end

    assert notices.run(settings, now=until - 3 * DAY + 3600)["read"] == 0  # once
    assert notices.run(settings, now=until - 60)["read"] == 0
    assert len(reminders(telegram)) == 1

    person = chat_user(SAM, language="en")  # the button opens the subscription menu
    menu = person.press(button["callback_data"])
    assert "Active until" in menu["text"]


def test_the_end_is_said_once_and_the_user_leaves_the_index(telegram, settings) -> None:
    sign_up()
    until = pay_year()
    notices.run(settings, now=until - 3 * DAY + 60)

    assert notices.run(settings, now=until - 60)["read"] == 0  # not yet ended
    report = notices.run(settings, now=until + 60)

    assert (report["read"], report["sent"]) == (1, 1)
    (message,) = ended(telegram)
    assert local_date(until) in message["text"] and "/subscribe" in message["text"]
    assert "/settings" in message["text"] and "couldn't renew" not in message["text"]
    assert message["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "sub:show"
    user = User.get(SAM)
    assert int(user.sub_ended) == until and user.sub_at is None and user.sub_q is None
    assert notices.run(settings, now=until + DAY)["read"] == 0
    assert len(reminders(telegram)) == 1 and len(ended(telegram)) == 1


def test_a_renewing_subscription_gets_no_reminder_and_is_called_ended_only_after_the_grace(
    telegram, settings
) -> None:
    sign_up()
    until = int(time.time()) + 30 * DAY
    pay_month(SAM, until)

    report = notices.run(settings, now=until - 3 * DAY + 60)
    assert (report["read"], report["skipped"]) == (1, 1) and sent(telegram) == []
    assert int(User.get(SAM).sub_at) == until  # read once in the window, then at the end

    notices.run(settings, now=until + 60)  # ended, but Telegram's renewal may still come
    assert sent(telegram) == [] and int(User.get(SAM).sub_at) == until + RENEWAL_GRACE_SECONDS
    assert notices.run(settings, now=until + RENEWAL_GRACE_SECONDS - 60)["read"] == 0

    notices.run(settings, now=until + RENEWAL_GRACE_SECONDS + 60)  # the renewal never came

    (message,) = ended(telegram)
    assert "couldn't renew" in message["text"] and local_date(until) in message["text"]
    assert reminders(telegram) == []
    assert notices.run(settings, now=until + 2 * DAY)["read"] == 0


def test_a_renewal_before_the_grace_is_over_starts_a_new_period_and_cancelling_brings_its_reminder(
    telegram, settings
) -> None:
    sign_up()
    until = int(time.time()) + 30 * DAY
    pay_month(SAM, until)
    notices.run(settings, now=until - 3 * DAY + 60)
    notices.run(settings, now=until + 60)

    pay_month(SAM, until + 30 * DAY, first=False)  # Telegram's renewal charge, a little late
    nxt = until + 30 * DAY
    assert int(User.get(SAM).sub_at) == nxt - 3 * DAY
    assert notices.run(settings, now=until + RENEWAL_GRACE_SECONDS + 60)["read"] == 0
    assert sent(telegram) == []  # no "ended" for a period that was renewed

    # the user cancels the renewal (no key moves): the new period's reminder comes
    assert runtime.run(subscriptions.cancel_renewal(runtime.bot(), User.get(SAM)))
    notices.run(settings, now=nxt - 3 * DAY + 60)
    (reminder,) = reminders(telegram)
    assert local_date(nxt) in reminder["text"]
    notices.run(settings, now=nxt + 60)  # not renewing: ended at the end, no grace
    assert len(ended(telegram)) == 1 and "couldn't renew" not in ended(telegram)[0]["text"]


def test_an_extension_after_the_reminder_means_no_ended_message_and_a_new_reminder(
    telegram, settings
) -> None:
    sign_up()
    until = pay_year()
    notices.run(settings, now=until - 3 * DAY + 60)  # reminded

    extended = pay_year()  # another year, from the old end
    assert extended == until + 365 * DAY
    assert int(User.get(SAM).sub_at) == extended - 3 * DAY

    assert notices.run(settings, now=until + 60)["read"] == 0
    assert ended(telegram) == []
    notices.run(settings, now=extended - 3 * DAY + 60)
    first, second = reminders(telegram)
    assert local_date(until) in first["text"] and local_date(extended) in second["text"]


def test_a_subscription_extended_without_moving_the_key_is_just_moved_on(telegram, settings) -> None:
    sign_up()
    until = pay_year()
    notices.run(settings, now=until - 3 * DAY + 60)
    later = until + 10 * DAY
    User(SAM).update(actions=[User.subscription_until.set(later)])  # e.g. an operator's change

    report = notices.run(settings, now=until + 60)

    assert (report["read"], report["skipped"]) == (1, 1) and ended(telegram) == []
    assert int(User.get(SAM).sub_at) == later - 3 * DAY  # the new period's reminder
    notices.run(settings, now=later - 3 * DAY + 60)
    assert len(reminders(telegram)) == 2


def test_two_overlapping_runs_and_a_retried_run_send_each_notice_once(telegram, settings) -> None:
    users = [SAM + i for i in range(12)]
    ends = {}
    for user_id in users:
        sign_up(user_id)
        ends[user_id] = pay_year(user_id)
    window, end = max(ends.values()) - 3 * DAY + 60, max(ends.values()) + 60

    for at in (window, end):
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda _, at=at: notices.run(settings, now=at), range(2)))
        notices.run(settings, now=at)  # the scheduler's retry of the same tick

    assert [len(reminders(telegram, u)) for u in users] == [1] * len(users)
    assert [len(ended(telegram, u)) for u in users] == [1] * len(users)


def test_muted_no_message_read_once_per_notice_and_turned_on_again_the_end_is_said(
    telegram, settings
) -> None:
    sign_up()
    until = pay_year()
    set_notice(settings, User.get(SAM), NoticeKind.SUBSCRIPTION, False)

    report = notices.run(settings, now=until - 3 * DAY + 60)
    assert (report["read"], report["skipped"]) == (1, 1) and sent(telegram) == []
    assert notices.run(settings, now=until - 3 * DAY + 3600)["read"] == 0  # not read every run
    assert User.get(SAM).sub_reminded is None

    set_notice(settings, User.get(SAM), NoticeKind.SUBSCRIPTION, True)
    notices.run(settings, now=until + 60)
    assert len(ended(telegram)) == 1 and reminders(telegram) == []


def test_muted_at_the_end_nothing_and_out_of_the_index(telegram, settings) -> None:
    sign_up()
    until = pay_year()
    set_notice(settings, User.get(SAM), NoticeKind.SUBSCRIPTION, False)
    notices.run(settings, now=until - 3 * DAY + 60)

    assert notices.run(settings, now=until + 60)["skipped"] == 1
    assert User.get(SAM).sub_at is None and User.get(SAM).sub_ended is None
    assert notices.run(settings, now=until + DAY)["read"] == 0 and sent(telegram) == []


def test_a_blocked_user_is_not_messaged_and_a_403_marks_the_user_blocked(telegram, settings) -> None:
    sign_up(SAM)
    sign_up(SAM + 1)
    until = max(pay_year(SAM), pay_year(SAM + 1))
    set_blocked(SAM, True)  # we were told (my_chat_member)
    telegram.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")

    report = notices.run(settings, now=until - 3 * DAY + 60)

    assert (report["read"], report["skipped"], report["blocked"]) == (2, 1, 1)
    assert User.get(SAM).blocked and User.get(SAM + 1).blocked
    telegram.clear_calls()
    assert notices.run(settings, now=until + 60)["skipped"] == 2  # read once more, then out
    assert notices.run(settings, now=until + DAY)["read"] == 0
    assert telegram.calls_for("sendMessage") == []


def test_a_flood_answer_stops_the_run_and_the_rest_stay_due(telegram, settings) -> None:
    sign_up(SAM)
    sign_up(SAM + 1)
    until = max(pay_year(SAM), pay_year(SAM + 1))
    telegram.fail_next("sendMessage", 429, "Too Many Requests: retry after 5", retry_after=5)

    first = notices.run(settings, now=until - 3 * DAY + 60)
    assert (first["read"], first["retry"]) == (1, 1)  # stopped at the flood answer
    assert all(User.get(u).sub_reminded is None for u in (SAM, SAM + 1))

    second = notices.run(settings, now=until - 3 * DAY + 120)
    assert (second["read"], second["sent"]) == (2, 2)
    assert [len(reminders(telegram, u)) for u in (SAM, SAM + 1)] == [1, 1]


def test_out_of_time_the_run_stops_and_the_rest_stay_due(telegram, settings, monkeypatch) -> None:
    for user_id in (SAM, SAM + 1, SAM + 2):
        sign_up(user_id)
        until = pay_year(user_id)
    monkeypatch.setattr(common, "RUN_BUDGET_SECONDS", -1.0)  # spent after the first user

    assert notices.run(settings, now=until - 3 * DAY + 60)["read"] == 1
    monkeypatch.setattr(common, "RUN_BUDGET_SECONDS", 45.0)
    assert notices.run(settings, now=until - 3 * DAY + 60)["read"] == 2
    assert [len(reminders(telegram, u)) for u in (SAM, SAM + 1, SAM + 2)] == [1, 1, 1]


def test_a_run_reads_only_the_users_due(telegram, settings) -> None:
    for user_id in range(SAM, SAM + 30):  # never subscribed: not in the index
        sign_up(user_id)
    for user_id in range(SAM, SAM + 5):  # a year ahead: in the index, not due
        pay_year(user_id)
    month_end = int(time.time()) + 30 * DAY
    for user_id in range(SAM + 10, SAM + 12):
        pay_month(user_id, month_end)
        assert runtime.run(subscriptions.cancel_renewal(runtime.bot(), User.get(user_id)))

    report = notices.run(settings, now=month_end - 3 * DAY + 60)

    assert (report["read"], report["sent"]) == (2, 2)


def test_a_refund_ends_the_subscription_and_the_scheduled_event_says_so_through_the_lambda_handler(
    telegram, settings
) -> None:
    sign_up()
    charge = pay_month(SAM, int(time.time()) + 30 * DAY)

    refunds.refund(settings, f"stars#{charge}")
    user = User.get(SAM)
    assert user.sub_q == DUE and int(user.sub_at) <= time.time()  # the end is now

    result = invoke("notify", {"task": "subscription_notices"})

    assert (result["task"], result["read"], result["sent"]) == ("subscription_notices", 1, 1)
    (message,) = ended(telegram)
    assert "couldn't renew" not in message["text"]  # a refund stops the renewal
    assert invoke("notify", {"task": "subscription_notices"})["read"] == 0


def test_next_notice_is_the_reminder_then_the_end_then_nothing(settings) -> None:
    until = 1_900_000_000
    user = User(SAM, subscription_until=until)
    remind = until - 3 * DAY

    assert next_notice(settings, user, remind) == remind  # the reminder's moment: now or later
    assert next_notice(settings, user, remind + 1) == until  # too late for it: the end
    user.sub_reminded = until
    assert next_notice(settings, user, 0) == until
    assert next_notice(settings, user, until + 5) == until  # ended: due at once
    user.subscription_renews, user.subscription_charge_id = True, "stx"
    assert next_notice(settings, user, until + 5) == until + RENEWAL_GRACE_SECONDS
    user.sub_ended = until
    assert next_notice(settings, user, until + 5) is None
    assert next_notice(settings, User(SAM), 0) is None  # never subscribed
