"""Promo codes end to end: /promo CODE, the Bonuses button, every refusal, races, the operator's CLI.

The bot's side drives the real webhook (moto, the Bot API stand-in) as English-speaking users;
the races call the service from many threads against the same DynamoDB.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from genbot import cli
from genbot.config import get_settings
from genbot.ledger import balance_from_ledger
from genbot.ledger.audit import audit
from genbot.payments import promo
from genbot.payments.promo import Outcome
from genbot.store.models import LedgerEntry, PromoCode, User
from genbot.users import register
from genbot_local.simulate import ChatUser, reply_body
from tests.functional.emf import emf, values

pytestmark = pytest.mark.usefixtures("aws")

ALICE, BOB = 717000, 717001


@pytest.fixture
def person(chat_user) -> ChatUser:
    someone = chat_user(ALICE, language="en")
    someone.start()
    return someone


def welcome() -> int:
    return get_settings().free_credits


def uses(code: str) -> int:
    return int(PromoCode.get(code, consistent_read=True).used)


def balance(user_id: int) -> int:
    return int(User.get(user_id, consistent_read=True).balance)


def answer_the_question(person: ChatUser, telegram, telegram_update, deliver, text: str) -> dict:
    """Reply to the bot's last message ("send me your promo code") with ``text``, as Telegram does."""
    asked = telegram.calls_for("sendMessage")[-1].result
    update = telegram_update("message_text", user_id=person.user_id, text=text, reply_to_message=asked)
    update["message"]["from"]["language_code"] = person.language
    return reply_body(deliver(update))


# --- redeeming -----------------------------------------------------------------------------------


def test_promo_code_credits_once_and_says_the_new_balance(person) -> None:
    promo.create("SPRING25", credits=5, max_uses=10)

    answer = person.send("/promo spring25")  # any case, as typed

    assert answer["text"] == (
        f"🎉 Promo code SPRING25 activated: +5 credits! Balance: {welcome() + 5} credits."
    )
    assert balance(ALICE) == welcome() + 5 == balance_from_ledger(ALICE)
    entry = LedgerEntry.get(ALICE, "promo#SPRING25")
    assert (entry.kind, int(entry.delta)) == ("promo", 5)
    assert uses("SPRING25") == 1


def test_the_promo_metric_counts_a_redemption_once(person, capsys) -> None:
    promo.create("COUNTED", credits=5, max_uses=10)
    capsys.readouterr()

    person.send("/promo COUNTED")
    person.send("/promo COUNTED")  # already used: not counted again

    assert values(emf(capsys.readouterr().out), "PromoRedeemed") == [1.0]


def test_a_second_use_by_the_same_user_is_refused_and_credits_nothing(person) -> None:
    promo.create("TWICE", credits=2, max_uses=10)
    person.send("/promo TWICE")

    answer = person.send("/promo TWICE")

    assert answer["text"] == "You have already used this promo code."
    assert balance(ALICE) == welcome() + 2
    assert uses("TWICE") == 1


@pytest.mark.parametrize("typed", ["NOSUCHCODE", "no such code", "!!", "x" * 40])
def test_a_wrong_code_is_told_so(person, typed: str) -> None:
    promo.create("REAL", credits=2, max_uses=10)

    answer = person.send(f"/promo {typed}")

    assert answer["text"] == "There is no such promo code. Check it and try again."
    assert balance(ALICE) == welcome()


def test_an_expired_code_is_told_so(person) -> None:
    PromoCode("OLD", credits=5, max_uses=10, used=0, expires_at=int(time.time()) - 60).save()

    answer = person.send("/promo OLD")

    assert answer["text"] == "This promo code has expired."
    assert balance(ALICE) == welcome() and uses("OLD") == 0
    assert list(LedgerEntry.query(ALICE, LedgerEntry.op_id.startswith("promo#"))) == []


def test_a_code_still_in_time_works(person) -> None:
    promo.create("SOON", credits=1, max_uses=10, expires_at=int(time.time()) + 3600)

    assert person.send("/promo SOON")["text"].startswith("🎉 Promo code SOON activated: +1 credit!")


def test_a_used_up_code_is_told_so(person, chat_user) -> None:
    promo.create("ONLYONE", credits=4, max_uses=1)
    first = chat_user(BOB, language="en")
    first.start()
    assert first.send("/promo ONLYONE")["text"].startswith("🎉")

    answer = person.send("/promo ONLYONE")

    assert answer["text"] == "This promo code has run out: all its uses are taken."
    assert balance(ALICE) == welcome() and uses("ONLYONE") == 1


def test_a_used_up_code_with_time_left_is_told_it_ran_out_not_that_it_expired() -> None:
    register(get_settings(), ALICE, language="en")
    register(get_settings(), BOB, language="en")
    promo.create("LATER", credits=4, max_uses=1, expires_at=int(time.time()) + 86_400)
    assert promo.redeem(BOB, "LATER").outcome == Outcome.REDEEMED

    assert promo.redeem(ALICE, "LATER").outcome == Outcome.USED_UP


def test_a_big_code_used_up_is_told_so() -> None:
    """300 uses of 300: counts past CPython's cached small ints compare by value, not identity."""
    register(get_settings(), ALICE, language="en")
    PromoCode("BIG", credits=1, max_uses=300, used=300, expires_at=None, disabled=False).save()

    assert promo.redeem(ALICE, "BIG").outcome == Outcome.USED_UP


def test_a_used_up_code_tells_someone_who_used_it_that_they_did(person) -> None:
    promo.create("MINE", credits=4, max_uses=1)
    person.send("/promo MINE")

    assert person.send("/promo MINE")["text"] == "You have already used this promo code."


def test_a_disabled_code_is_told_so(person) -> None:
    promo.create("STOPPED", credits=3, max_uses=10)
    promo.disable("stopped")

    answer = person.send("/promo STOPPED")

    assert answer["text"] == "This promo code is no longer valid."
    assert balance(ALICE) == welcome() and uses("STOPPED") == 0


def test_someone_who_never_started_is_sent_to_start(chat_user) -> None:
    promo.create("EARLY", credits=3, max_uses=10)

    answer = chat_user(BOB, language="en").send("/promo EARLY")

    assert "/start" in answer["text"] and uses("EARLY") == 0


# --- asking for the code -------------------------------------------------------------------------


def test_the_bonuses_button_asks_for_the_code_and_the_reply_redeems_it(
    person, telegram, telegram_update, deliver
) -> None:
    promo.create("BUTTON", credits=7, max_uses=10)
    person.send("🎁 Bonuses")
    assert "🎟 Promo code" in person.buttons()

    asked = person.press_button("Promo code")

    assert asked["method"].lower() == "sendmessage" and "promo code" in asked["text"]
    assert asked["reply_markup"]["force_reply"] is True
    answer = answer_the_question(person, telegram, telegram_update, deliver, " button ")
    assert answer["text"] == f"🎉 Promo code BUTTON activated: +7 credits! Balance: {welcome() + 7} credits."
    assert balance(ALICE) == welcome() + 7


def test_the_promo_button_stays_after_the_daily_bonus_is_claimed(person) -> None:
    person.send("🎁 Bonuses")
    person.press_button("Claim")

    person.send("🎁 Bonuses")

    assert list(person.buttons()) == ["🎟 Promo code"]


def test_promo_alone_asks_and_a_wrong_reply_is_told_so(person, telegram, telegram_update, deliver) -> None:
    asked = person.send("/promo")

    assert asked["reply_markup"]["force_reply"] is True
    answer = answer_the_question(person, telegram, telegram_update, deliver, "WHATEVER")
    assert answer["text"] == "There is no such promo code. Check it and try again."


def test_a_menu_button_or_command_in_reply_to_the_question_is_not_a_code(
    person, telegram, telegram_update, deliver
) -> None:
    person.send("/promo")

    answer = answer_the_question(person, telegram, telegram_update, deliver, "💰 Balance")

    assert answer["text"].startswith("💰 Balance:")


def test_a_reply_to_another_message_is_not_a_code(person, telegram, telegram_update, deliver) -> None:
    promo.create("NOTHERE", credits=3, max_uses=10)
    person.send("/balance")  # the bot's last message is not the question

    answer = answer_the_question(person, telegram, telegram_update, deliver, "NOTHERE")

    assert "promo" not in answer["text"].lower() and uses("NOTHERE") == 0


# --- races -----------------------------------------------------------------------------------------


def test_ten_users_racing_for_three_uses_get_exactly_three() -> None:
    users = range(818000, 818010)
    for user_id in users:
        register(get_settings(), user_id, language="en")
    promo.create("RACE", credits=5, max_uses=3)

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = [r.outcome for r in pool.map(lambda uid: promo.redeem(uid, "RACE"), users)]

    assert outcomes.count(Outcome.REDEEMED) == 3
    assert outcomes.count(Outcome.USED_UP) == 7
    assert uses("RACE") == 3
    assert sorted(balance(uid) for uid in users) == [welcome()] * 7 + [welcome() + 5] * 3
    assert audit() == []


def test_the_same_user_redeeming_twice_at_once_is_credited_once() -> None:
    register(get_settings(), BOB, language="en")
    promo.create("DOUBLE", credits=5, max_uses=10)

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(r.outcome for r in pool.map(lambda _: promo.redeem(BOB, "DOUBLE"), range(2)))

    assert outcomes == [Outcome.ALREADY_USED, Outcome.REDEEMED]
    assert balance(BOB) == welcome() + 5 and uses("DOUBLE") == 1
    assert audit() == []


# --- the service's refusals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "credits", "max_uses"),
    [("AB", 1, 1), ("A" * 33, 1, 1), ("BAD CODE", 1, 1), ("КОД123", 1, 1), ("GOOD", 0, 1), ("GOOD", 1, 0)],
)
def test_create_refuses_what_cannot_work(code: str, credits: int, max_uses: int) -> None:
    with pytest.raises(promo.InvalidPromoError):
        promo.create(code, credits=credits, max_uses=max_uses)
    assert list(PromoCode.scan()) == []


def test_create_never_overwrites_a_code() -> None:
    promo.create("ONCE", credits=1, max_uses=1)

    with pytest.raises(promo.CodeExistsError):
        promo.create("once", credits=100, max_uses=100)
    assert int(PromoCode.get("ONCE").credits) == 1


def test_a_code_another_admin_made_with_a_clock_ahead_is_not_taken_for_ours() -> None:
    """Create's PutItem failed its condition: only a code identical to the one this call wrote
    (its own resend) counts as made; one stamped later by another Lambda's clock is not."""
    from genbot.store.models import now_ms

    ahead = now_ms() + 60_000
    PromoCode(
        "AHEAD",
        credits=100,
        max_uses=100,
        used=0,
        disabled=False,
        created_at=ahead,
        created_by="another admin",
    ).save()

    with pytest.raises(promo.CodeExistsError):
        promo.create("ahead", credits=1, max_uses=1, created_by="a")
    assert int(PromoCode.get("AHEAD").credits) == 100


# --- the operator's CLI ----------------------------------------------------------------------------


def test_cli_creates_shows_and_disables_a_code(capsys) -> None:
    assert (
        cli.main(
            ["promo", "create", "launch-2027", "--credits", "10", "--uses", "100", "--expires", "2099-01-31"]
        )
        == 0
    )

    stored = PromoCode.get("LAUNCH-2027")
    end_of_day = datetime(2099, 1, 31, tzinfo=ZoneInfo(get_settings().timezone)) + timedelta(days=1)
    assert (int(stored.credits), int(stored.max_uses), int(stored.used), stored.disabled) == (
        10,
        100,
        0,
        False,
    )
    assert stored.expires_at == int(end_of_day.timestamp())
    assert stored.created_by.startswith("cli:")
    shown = capsys.readouterr().out
    assert "LAUNCH-2027" in shown and "0 of 100" in shown and "2099-02-01 00:00" in shown

    assert cli.main(["promo", "show", "launch-2027"]) == 0
    assert "active" in capsys.readouterr().out

    assert cli.main(["promo", "disable", "LAUNCH-2027"]) == 0
    assert PromoCode.get("LAUNCH-2027").disabled is True
    assert "disabled" in capsys.readouterr().out


def test_cli_show_of_a_used_code_counts_its_uses(capsys) -> None:
    register(get_settings(), BOB, language="en")
    assert cli.main(["promo", "create", "COUNTED", "--credits", "1", "--uses", "5"]) == 0
    promo.redeem(BOB, "COUNTED")
    capsys.readouterr()

    assert cli.main(["promo", "show", "COUNTED"]) == 0

    shown = capsys.readouterr().out
    assert "1 of 5" in shown and "never" in shown


@pytest.mark.parametrize(
    "argv",
    [
        ["promo", "show", "MISSING"],
        ["promo", "disable", "MISSING"],
        ["promo", "create", "X", "--credits", "1", "--uses", "1"],
        ["promo", "create", "PAST", "--credits", "1", "--uses", "1", "--expires", "2020-01-01"],
    ],
)
def test_cli_refusals_exit_1_and_write_nothing(argv: list[str], capsys) -> None:
    assert cli.main(argv) == 1
    assert capsys.readouterr().err.startswith("genbot promo:")
    assert list(PromoCode.scan()) == []


def test_cli_refuses_to_overwrite_a_code(capsys) -> None:
    assert cli.main(["promo", "create", "KEEP", "--credits", "1", "--uses", "1"]) == 0

    assert cli.main(["promo", "create", "KEEP", "--credits", "50", "--uses", "50"]) == 1
    assert "exists already" in capsys.readouterr().err
    assert int(PromoCode.get("KEEP").credits) == 1


# --- found by mutation testing (docs/mutation.md) -------------------------------------------------


def test_the_smallest_code_one_credit_for_one_user_works_once() -> None:
    for user_id in (ALICE, BOB):
        register(get_settings(), user_id, language="en")
    promo.create("SMALLEST", credits=1, max_uses=1)

    first = promo.redeem(ALICE, "smallest")
    second = promo.redeem(BOB, "SMALLEST")

    assert (first.outcome, first.credits, first.balance) == (Outcome.REDEEMED, 1, welcome() + 1)
    assert (second.outcome, second.credits, second.balance) == (Outcome.USED_UP, 0, None)
    assert uses("SMALLEST") == 1 and balance(BOB) == welcome()
    assert audit() == []


def test_refusals_credit_nothing() -> None:
    register(get_settings(), ALICE, language="en")
    promo.create("SWITCHEDOFF", credits=5, max_uses=5)
    promo.disable("SWITCHEDOFF")

    unknown = promo.redeem(ALICE, "NOSUCHCODE")
    disabled = promo.redeem(ALICE, "SWITCHEDOFF")

    assert unknown == promo.Redemption(Outcome.UNKNOWN, "NOSUCHCODE", 0, None)
    assert disabled == promo.Redemption(Outcome.DISABLED, "SWITCHEDOFF", 0, None)
    assert balance(ALICE) == welcome() and list(LedgerEntry.query(ALICE))[-1].op_id == "bonus#welcome"


def test_a_code_expiring_this_second_is_expired() -> None:
    register(get_settings(), ALICE, language="en")
    PromoCode("THISSECOND", credits=5, max_uses=5, used=0, expires_at=int(time.time()), disabled=False).save()

    assert promo.redeem(ALICE, "THISSECOND").outcome == Outcome.EXPIRED
    assert balance(ALICE) == welcome() and uses("THISSECOND") == 0


@pytest.mark.parametrize("worth_now", [7, 3])  # raised or lowered between the read and the write
def test_a_code_whose_credits_change_during_a_redemption_pays_what_it_is_worth_now(worth_now: int) -> None:
    """The operator re-creates the code's worth between the redemption's read and its write: the
    write's condition (still worth what was read) fails, the code is read again and paid what it is
    worth now."""
    from typing import Any

    from genbot.store.transaction import connection

    register(get_settings(), ALICE, language="en")
    promo.create("REPRICED", credits=5, max_uses=5)
    changed: list[bool] = []

    def operator_changes_it_first(params: dict[str, Any], **_: Any) -> None:
        if not changed and "promo#REPRICED" in str(params):  # the redemption is about to be sent
            changed.append(True)
            PromoCode("REPRICED").update(actions=[PromoCode.credits.set(worth_now)])

    events = connection().client.meta.events
    events.register("before-call.dynamodb.TransactWriteItems", operator_changes_it_first)
    try:
        result = promo.redeem(ALICE, "REPRICED")
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", operator_changes_it_first)

    assert changed and (result.outcome, result.credits, result.balance) == (
        Outcome.REDEEMED,
        worth_now,
        welcome() + worth_now,
    )
    assert uses("REPRICED") == 1 and balance_from_ledger(ALICE) == welcome() + worth_now
    assert audit() == []
