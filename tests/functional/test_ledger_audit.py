"""The hourly ledger audit (the ``audit`` function on the ``ledger_audit`` schedule): only the
users whose ledger moved since its last run, each balance against its ledger."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from genbot.ledger import Posting, apply
from genbot.ledger.audit import CHECKPOINT_KEY, LAG_MS, audit_recent, check_user
from genbot.resources import SCHEDULES
from genbot.store.models import SettingItem, User, now_ms
from genbot_local.invoke import invoke

pytestmark = pytest.mark.usefixtures("aws")

EVENT = SCHEDULES["ledger_audit"].input


def run() -> dict[str, Any]:
    result: dict[str, Any] = invoke("audit", EVENT)
    return result


def test_the_audit_checks_the_users_whose_ledger_moved_and_finds_nothing_wrong(chat_user) -> None:
    for user_id in (741001, 741002, 741003):
        chat_user(user_id).start()
    apply(Posting(741001, "grant#audit-1", 5, "grant"))
    apply(Posting(741002, "grant#audit-2", 7, "grant"))
    first = run()
    assert first["task"] == "ledger_audit" and first["mismatches"] == []
    assert first["users"] == 3 and first["entries"] == 5  # three welcome entries, two grants
    assert SettingItem.get(CHECKPOINT_KEY).value == {"at": first["until_ms"]}


def test_a_balance_that_differs_from_its_ledger_is_reported(chat_user) -> None:
    chat_user(741011).start()
    chat_user(741012).start()
    User(741011).update(actions=[User.balance.add(5)])  # money from nowhere: no ledger entry
    report = run()
    assert [(m["user_id"], m["balance"] - m["ledger_sum"]) for m in report["mismatches"]] == [(741011, 5)]
    assert report["users"] == 2


def test_a_run_reads_only_the_entries_since_its_checkpoint(chat_user) -> None:
    chat_user(741021).start()
    chat_user(741022).start()
    assert run()["users"] == 2
    later = now_ms() + 2 * 3_600_000  # the tick two hours on, the last one an hour before it
    SettingItem(CHECKPOINT_KEY, value={"at": later - 3_600_000}).save()
    quiet = audit_recent(later)
    assert (quiet.entries, quiet.users, quiet.mismatches) == (0, 0, [])
    assert quiet.since_ms == later - 3_600_000 - LAG_MS  # a little behind: index reads may lag
    assert SettingItem.get(CHECKPOINT_KEY).value == {"at": later}


def test_a_posting_landing_during_the_check_is_not_a_mismatch(chat_user) -> None:
    """The ledger and the balance are two reads: a credit between them must not be reported."""
    chat_user(741031).start()
    stop = threading.Event()

    def credit() -> None:
        n = 0
        while not stop.is_set() and n < 40:
            apply(Posting(741031, f"grant#race-{n}", 1, "grant"))
            n += 1

    worker = threading.Thread(target=credit)
    worker.start()
    try:
        found = [check_user(741031) for _ in range(10)]
    finally:
        stop.set()
        worker.join()
    assert found == [None] * 10
    assert check_user(741031) is None


def test_an_unknown_task_is_refused_without_raising() -> None:
    assert invoke("audit", {"task": "nope"}) == {"task": "nope", "error": "unknown task"}
