"""The ledger against DynamoDB (moto): once per business id, never below zero, even in a race."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from genbot.ledger import (
    ConditionFailedError,
    InsufficientFundsError,
    Posting,
    UnknownUserError,
    apply,
    balance_from_ledger,
    credit_existing,
)
from genbot.ledger.audit import audit
from genbot.store.models import LedgerEntry, PromoCode, User
from genbot.store.transaction import Transaction

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


# --- found by mutation testing (docs/mutation.md): what the ledger promises its callers ---------


def test_a_debit_of_one_credit_still_needs_one_credit() -> None:
    make_user(5, 0)
    with pytest.raises(InsufficientFundsError):
        apply(Posting(5, "job#one#debit", -1, "debit"))
    assert User.get(5).balance == 0 and list(LedgerEntry.query(5)) == []


def test_credit_existing_adds_to_a_positive_balance_in_the_callers_transaction() -> None:
    make_user(6, 4)
    tx = Transaction()
    credit_existing(
        tx, "entry", "user", Posting(6, "ref#777", 3, "referral"), user_actions=[User.referrals.add(1)]
    )
    tx.commit()
    user = User.get(6)
    assert (user.balance, user.referrals) == (7, 1) and balance_from_ledger(6) == 7


def test_credit_existing_refuses_a_debit() -> None:
    make_user(7, 4)
    with pytest.raises(ValueError, match="credits"):
        credit_existing(Transaction(), "entry", "user", Posting(7, "x#1", -1, "debit"))


def test_extra_items_ride_in_the_same_transaction_and_their_failure_cancels_the_posting() -> None:
    make_user(8, 5)
    PromoCode("LEDGER1", credits=1, max_uses=1, used=0).save()

    def use_code(tx: Transaction) -> object:
        return tx.update(
            "code", PromoCode("LEDGER1"), actions=[PromoCode.used.add(1)], condition=PromoCode.used < 1
        )

    assert apply(Posting(8, "promo#LEDGER1#8", 1, "promo"), extra=[use_code]) is True
    assert (User.get(8).balance, int(PromoCode.get("LEDGER1").used)) == (6, 1)
    with pytest.raises(ConditionFailedError):  # the code is used up: the credit doesn't happen either
        apply(Posting(8, "promo#LEDGER1#8b", 1, "promo"), extra=[use_code])
    assert User.get(8).balance == 6 and [e.op_id for e in LedgerEntry.query(8)] == [
        "grant#seed",
        "promo#LEDGER1#8",
    ]
