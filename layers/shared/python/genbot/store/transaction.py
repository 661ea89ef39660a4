"""DynamoDB transactions whose items have names.

PynamoDB submits a transaction's items grouped by kind (condition checks, deletes, puts,
updates), not in the order they were added, and DynamoDB reports cancellation reasons by
position. Naming each item and keeping PynamoDB's order lets callers ask "did the ledger
entry's condition fail?" instead of guessing an index.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from genbot.store.models import User

CONDITION_FAILED = "ConditionalCheckFailed"
CONFLICT = "TransactionConflict"


@cache
def connection() -> Connection:
    """One low-level connection per process (honours ``AWS_ENDPOINT_URL``)."""
    return Connection(
        region=User.Meta.region,
        connect_timeout_seconds=User.Meta.connect_timeout_seconds,
        read_timeout_seconds=User.Meta.read_timeout_seconds,
        max_retry_attempts=User.Meta.max_retry_attempts,
    )


class TransactionCancelledError(Exception):
    """DynamoDB cancelled the transaction; ``reasons`` maps item names to their codes."""

    def __init__(self, reasons: dict[str, str | None]) -> None:
        super().__init__(", ".join(f"{k}={v}" for k, v in reasons.items() if v))
        self.reasons = reasons

    def failed(self, name: str) -> bool:
        return self.reasons.get(name) == CONDITION_FAILED

    @property
    def conflict(self) -> bool:
        return CONFLICT in self.reasons.values()

    def other_reasons(self) -> dict[str, str]:
        """Items cancelled for something other than their condition or a conflict (throttling,
        capacity, validation...): the transaction must be retried, never taken as done."""
        return {
            name: code
            for name, code in self.reasons.items()
            if code and code not in ("None", CONDITION_FAILED, CONFLICT)
        }


class Transaction:
    """Collect named items, then ``commit()`` them as one ``TransactWriteItems``."""

    def __init__(self) -> None:
        self._tw = TransactWrite(connection=connection())
        self._names: dict[str, list[str]] = {"check": [], "delete": [], "put": [], "update": []}

    def save(self, name: str, model: Model, condition: Condition | None = None) -> Transaction:
        self._tw.save(model, condition=condition)
        self._names["put"].append(name)
        return self

    def update(
        self, name: str, model: Model, actions: list[Action], condition: Condition | None = None
    ) -> Transaction:
        self._tw.update(model, actions=actions, condition=condition)
        self._names["update"].append(name)
        return self

    def check(self, name: str, model_cls: type[Model], hash_key: Any, condition: Condition) -> Transaction:
        self._tw.condition_check(model_cls, hash_key, condition=condition)
        self._names["check"].append(name)
        return self

    def order(self) -> list[str]:
        """Item names in the order PynamoDB submits them."""
        return [*self._names["check"], *self._names["delete"], *self._names["put"], *self._names["update"]]

    def commit(self) -> None:
        try:
            with self._tw:  # commits on a clean exit
                pass
        except TransactWriteError as exc:
            reasons = exc.cancellation_reasons
            if not reasons:
                raise
            codes = [r.code if r else None for r in reasons]
            raise TransactionCancelledError(dict(zip(self.order(), codes, strict=False))) from exc
