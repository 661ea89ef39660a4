"""Typed ledger errors; callers map them to user messages in one place."""


class LedgerError(Exception):
    """Base for ledger failures."""


class InsufficientFundsError(LedgerError):
    """The balance would go below zero."""


class UnknownUserError(LedgerError):
    """The user the posting is for does not exist."""


class ConditionFailedError(LedgerError):
    """An item of the transaction other than the ledger entry failed its condition.

    ``item`` names it: a caller's extra item by the name it gave (e.g. "job"), or "user" when
    the caller's own condition on the balance update failed (e.g. too many active jobs).
    """

    def __init__(self, item: str, code: str) -> None:
        super().__init__(f"transaction item {item!r} failed: {code}")
        self.item = item
        self.code = code


class ContentionError(LedgerError):
    """DynamoDB kept cancelling the transaction for conflicts; the caller may retry later."""


class LedgerUnavailableError(LedgerError):
    """DynamoDB cancelled the transaction for something other than a condition (throttling,
    capacity, validation): nothing was written; the caller must retry (SQS does, for jobs)."""

    def __init__(self, op_id: str, reasons: dict[str, str]) -> None:
        super().__init__(f"{op_id}: {reasons}")
        self.reasons = reasons
