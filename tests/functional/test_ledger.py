"""The ledger against DynamoDB (moto): once per business id, never below zero, even in a race."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from genbot.ledger import InsufficientFundsError, Posting, UnknownUserError, apply, balance_from_ledger
from genbot.ledger.audit import audit
from genbot.store.models import LedgerEntry, User

pytestmark = pytest.mark.usefixtures("aws")


def make_user(user_id: int, balance: int) -> None:
    User(user_id).save()
    if balance:
        assert apply(Posting(user_id, "grant#seed", balance, "grant"))


def test_credit_then_replays_change_the_balance_once() -> None:
    make_user(1, 0)

    results = [apply(Posting(1, "pay#stars#charge-1", 20, "purchase")) for _ in range(5)]

    assert results == [True, False, False, False, False]
    assert User.get(1).balance == 20
    assert balance_from_ledger(1) == 20


def test_debit_beyond_balance_is_refused_and_changes_nothing() -> None:
    make_user(2, 3)

    with pytest.raises(InsufficientFundsError):
        apply(Posting(2, "job#a#debit", -4, "debit"))

    assert User.get(2).balance == 3
    assert [e.op_id for e in LedgerEntry.query(2)] == ["grant#seed"]


def test_posting_for_an_unknown_user_is_refused() -> None:
    with pytest.raises(UnknownUserError):
        apply(Posting(404, "grant#x", 5, "grant"))
    assert list(LedgerEntry.query(404)) == []


def test_fifty_parallel_debits_against_ten_credits_apply_exactly_ten() -> None:
    make_user(3, 10)

    def debit(i: int) -> str:
        try:
            return "applied" if apply(Posting(3, f"job#{i}#debit", -1, "debit")) else "replay"
        except InsufficientFundsError:
            return "refused"

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(debit, range(50)))

    assert outcomes.count("applied") == 10
    assert outcomes.count("refused") == 40
    assert User.get(3, consistent_read=True).balance == 0
    assert balance_from_ledger(3) == 0
    assert audit() == []


def test_the_same_op_applied_concurrently_five_times_counts_once() -> None:
    make_user(4, 0)

    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(lambda _: apply(Posting(4, "pay#yk#p-1", 60, "purchase")), range(5)))

    assert results.count(True) == 1
    assert User.get(4, consistent_read=True).balance == 60


def test_audit_reports_a_balance_that_drifted_from_its_ledger() -> None:
    make_user(5, 7)
    User(5).update(actions=[User.balance.add(1)])  # a write that bypassed the ledger

    problems = audit()

    assert [(p.user_id, p.balance, p.ledger_sum) for p in problems] == [(5, 8, 7)]
