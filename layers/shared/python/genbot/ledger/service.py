"""The ledger: every balance change is one DynamoDB transaction.

A posting puts a ledger entry keyed by the business id of its cause (``op_id``) only if it
is absent, and moves the user's balance in the same ``TransactWriteItems`` with a condition
that it stays >= 0. A replayed posting (duplicate webhook, SQS redelivery, two payment paths
racing) fails the entry's condition and is reported as "already applied": the balance moves
once. Callers may add their own items (create a job, mark a payment settled) to the same
transaction so that the business change and the money change are all-or-nothing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from genbot.ledger.errors import (
    ConditionFailedError,
    ContentionError,
    InsufficientFundsError,
    LedgerUnavailableError,
    UnknownUserError,
)
from genbot.observability import logger
from genbot.store.models import LedgerEntry, User, hour_of, now_ms
from genbot.store.transaction import Transaction, TransactionCancelledError, connection
from genbot.vocab import EntryKind

ExtraItem = Callable[[Transaction], object]
ENTRY, USER = "entry", "user"

_CONFLICT_RETRIES = 8

__all__ = [
    "ExtraItem",
    "Posting",
    "apply",
    "balance_from_ledger",
    "connection",
    "credit_existing",
    "entry_for_new_account",
    "history",
]


@dataclass(frozen=True)
class Posting:
    """One balance change for one user, identified by the business id of its cause."""

    user_id: int
    op_id: str
    delta: int
    kind: EntryKind
    note: str | None = None

    def entry(self) -> LedgerEntry:
        created = now_ms()
        return LedgerEntry(
            self.user_id,
            self.op_id,
            delta=self.delta,
            kind=str(self.kind),
            note=self.note,
            created_at=created,
            hour=hour_of(created),
        )


def entry_for_new_account(tx: Transaction, name: str, posting: Posting) -> None:
    """Add ``posting``'s entry to ``tx`` for a user item created in the same transaction.

    The new item's starting balance carries the amount, so no balance update goes with it.
    """
    tx.save(name, posting.entry(), condition=LedgerEntry.op_id.does_not_exist())


def credit_existing(
    tx: Transaction, entry_name: str, user_name: str, posting: Posting, user_actions: Sequence[Action] = ()
) -> None:
    """Add a credit (entry + balance update of an existing user) to a caller's transaction."""
    if posting.delta < 0:
        raise ValueError("credit_existing is for credits; debits go through apply()")
    tx.save(entry_name, posting.entry(), condition=LedgerEntry.op_id.does_not_exist())
    tx.update(
        user_name,
        User(posting.user_id),
        actions=[User.balance.add(posting.delta), *user_actions],
        condition=User.user_id.exists() & (User.balance >= 0),
    )


def apply(
    posting: Posting,
    *,
    user_actions: Sequence[Action] = (),
    user_condition: Condition | None = None,
    extra: Sequence[ExtraItem] = (),
) -> bool:
    """Apply ``posting`` once. Returns False when it was already applied (a replay).

    ``user_actions``/``user_condition`` ride on the same balance update (e.g. count an
    active job and cap it); ``extra`` items (named by the caller) join the transaction.
    Raises InsufficientFundsError, UnknownUserError, ConditionFailedError (an item's own
    condition failed), and LedgerUnavailableError for anything else DynamoDB cancelled the
    transaction for (throttling, capacity, validation): only "this entry already exists"
    counts as done, every other failure must be retried by the caller.
    """
    condition = User.user_id.exists()
    if posting.delta < 0:
        condition &= User.balance >= -posting.delta
    if user_condition is not None:
        condition &= user_condition
    actions = [User.balance.add(posting.delta), *user_actions]

    for attempt in range(_CONFLICT_RETRIES):
        tx = Transaction()
        tx.save(ENTRY, posting.entry(), condition=LedgerEntry.op_id.does_not_exist())
        tx.update(USER, User(posting.user_id), actions=actions, condition=condition)
        for add in extra:
            add(tx)
        try:
            tx.commit()
        except TransactionCancelledError as exc:
            if exc.failed(ENTRY):
                logger.info("ledger replay", extra={"op_id": posting.op_id, "user_id": posting.user_id})
                return False
            other = exc.other_reasons()
            if other:
                logger.warning(
                    "ledger transaction cancelled", extra={"op_id": posting.op_id, "reasons": other}
                )
                raise LedgerUnavailableError(posting.op_id, other) from exc
            if exc.conflict:
                time.sleep(min(0.5, 0.01 * 2**attempt) * random.random())
                continue
            if exc.failed(USER):
                _raise_user_condition(posting)
            failed = next((name for name in exc.reasons if exc.failed(name)), "?")
            raise ConditionFailedError(failed, exc.reasons.get(failed) or "?") from exc
        logger.info(
            "ledger applied",
            extra={"op_id": posting.op_id, "user_id": posting.user_id, "delta": posting.delta},
        )
        return True
    raise ContentionError(posting.op_id)


def _raise_user_condition(posting: Posting) -> None:
    """The balance update's condition failed: one read (failure path only) says which part."""
    try:
        user = User.get(posting.user_id, consistent_read=True)
    except User.DoesNotExist:
        raise UnknownUserError(posting.user_id) from None
    if posting.delta < 0 and user.balance < -posting.delta:
        raise InsufficientFundsError(posting.user_id)
    raise ConditionFailedError(USER, "ConditionalCheckFailed")


def history(user_id: int, limit: int = 5) -> list[LedgerEntry]:
    """The user's latest ledger entries, newest first (one Query on the time index)."""
    return list(LedgerEntry.by_time.query(user_id, scan_index_forward=False, limit=limit))


def balance_from_ledger(user_id: int) -> int:
    """Sum of every ledger entry of a user: what the balance must equal (audit)."""
    return sum(int(e.delta) for e in LedgerEntry.query(user_id, consistent_read=True))
