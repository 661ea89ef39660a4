"""The ledger against DynamoDB (moto): once per business id, never below zero, even in a race."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from genbot.ledger import (
    ConditionFailedError,
    ContentionError,
    InsufficientFundsError,
    Posting,
    UnknownUserError,
    apply,
    balance_from_ledger,
    credit_existing,
    history,
)
from genbot.ledger.audit import audit
from genbot.store.models import LedgerEntry, PromoCode, User
from genbot.store.transaction import Transaction, TransactionCancelledError

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


def test_credit_existing_credits_a_user_whose_balance_is_zero() -> None:
    make_user(9, 0)  # spent everything: the referral reward must still land
    tx = Transaction()
    credit_existing(tx, "entry", "user", Posting(9, "ref#778", 5, "referral"))
    tx.commit()
    assert User.get(9).balance == 5 and balance_from_ledger(9) == 5


def test_credit_existing_never_credits_a_user_whose_balance_is_negative() -> None:
    make_user(10, 0)
    User(10).update(actions=[User.balance.set(-1)])  # a corrupt item (a write that bypassed the ledger)
    tx = Transaction()
    credit_existing(tx, "entry", "user", Posting(10, "ref#779", 5, "referral"))
    with pytest.raises(TransactionCancelledError):
        tx.commit()
    assert User.get(10).balance == -1 and list(LedgerEntry.query(10)) == []


def test_history_is_the_latest_entries_newest_first() -> None:
    make_user(11, 0)
    for i in range(7):
        apply(Posting(11, f"grant#{i}", i + 1, "grant"))
        time.sleep(0.002)  # distinct created_at (ms): the time index orders by it

    assert [e.op_id for e in history(11)] == ["grant#6", "grant#5", "grant#4", "grant#3", "grant#2"]
    assert [e.op_id for e in history(11, limit=2)] == ["grant#6", "grant#5"]


def test_a_debit_refused_by_the_callers_condition_is_not_reported_as_insufficient_funds() -> None:
    make_user(12, 2)
    User(12).update(actions=[User.active_jobs.set(3)])  # the queue is full
    for price in (2, 1):  # exactly the balance, and less: the balance is not why it fails
        with pytest.raises(ConditionFailedError) as failed:
            apply(Posting(12, f"job#cap{price}#debit", -price, "debit"), user_condition=User.active_jobs < 3)
        assert (failed.value.item, failed.value.code) == ("user", "ConditionalCheckFailed")
    assert User.get(12).balance == 2


def test_a_failed_extra_item_is_named_with_its_reason() -> None:
    make_user(13, 1)
    PromoCode("LEDGER2", credits=1, max_uses=1, used=1).save()

    def use_code(tx: Transaction) -> object:
        return tx.update(
            "code", PromoCode("LEDGER2"), actions=[PromoCode.used.add(1)], condition=PromoCode.used < 1
        )

    with pytest.raises(ConditionFailedError) as failed:
        apply(Posting(13, "promo#LEDGER2#13", 1, "promo"), extra=[use_code])
    assert (failed.value.item, failed.value.code) == ("code", "ConditionalCheckFailed")


# --- contention: DynamoDB cancels a transaction on an item another transaction is writing --------


class InFlight:
    """moto, made to behave as DynamoDB does under contention: a TransactWriteItems that touches
    an item while another transaction on that item is still in progress is cancelled with
    ``TransactionConflict`` for that item. moto applies a transaction at once (never a conflict),
    so here the first transaction on the user stays "in progress" after it is applied until the
    next one has run into it (or, ``hold_all``, every transaction on the user conflicts)."""

    def __init__(self, user_id: int) -> None:
        self.key = {"user_id": {"N": str(user_id)}}
        self.lock = threading.Lock()
        self.busy = False
        self.conflicts = 0
        self.held_once = False
        self.hold_all = False

    def touches(self, items: list[dict[str, Any]]) -> list[bool]:
        return [any(op.get("Key") == self.key for op in item.values()) for item in items]

    def wrap(self, original: Any) -> Any:
        def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> Any:
            from moto.dynamodb.exceptions import TransactionCanceledException

            touched = self.touches(transact_items)
            with self.lock:
                conflict = any(touched) and (self.busy or self.hold_all)
                if conflict:
                    self.conflicts += 1
                    self.busy = False  # the other transaction has finished by the retry
                elif any(touched) and not self.held_once:
                    self.busy = self.held_once = True
            if conflict:
                reasons = [
                    ("TransactionConflict", "Transaction is ongoing for the item", None)
                    if t
                    else (None, None, None)
                    for t in touched
                ]
                raise TransactionCanceledException(reasons)
            return original(backend, transact_items)

        return transact_write_items


@pytest.fixture
def in_flight(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from moto.dynamodb.models import DynamoDBBackend

    def install(user_id: int) -> InFlight:
        state = InFlight(user_id)
        monkeypatch.setattr(
            DynamoDBBackend, "transact_write_items", state.wrap(DynamoDBBackend.transact_write_items)
        )
        return state

    yield install


def test_two_writers_on_one_user_conflict_and_both_land(in_flight: Any) -> None:
    make_user(14, 10)
    contention = in_flight(14)

    with ThreadPoolExecutor(max_workers=2) as pool:
        debit = pool.submit(apply, Posting(14, "job#c1#debit", -3, "debit"))
        credit = pool.submit(apply, Posting(14, "pay#stars#c2", 5, "purchase"))
        results = [debit.result(), credit.result()]

    assert results == [True, True]
    assert contention.conflicts >= 1  # one of them was cancelled for the conflict and retried
    assert User.get(14, consistent_read=True).balance == 12 and balance_from_ledger(14) == 12


def test_a_transaction_that_keeps_conflicting_gives_up_with_nothing_written(in_flight: Any) -> None:
    make_user(15, 10)
    contention = in_flight(15)
    contention.held_once = True
    contention.hold_all = True

    with pytest.raises(ContentionError):
        apply(Posting(15, "job#c3#debit", -3, "debit"))

    assert contention.conflicts > 1  # retried before giving up
    assert User.get(15, consistent_read=True).balance == 10 and balance_from_ledger(15) == 10
