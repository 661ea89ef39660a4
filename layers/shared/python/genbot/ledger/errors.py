"""Typed ledger errors; callers map them to user messages in one place."""


class LedgerError(Exception):
    """Base for ledger failures."""


class InsufficientFundsError(LedgerError):
    """The balance would go below zero."""


class UnknownUserError(LedgerError):
    """The user the posting is for does not exist."""


class ConditionFailedError(LedgerError):
    """A caller-supplied extra item of the transaction failed its condition.

    ``index`` is the position among the caller's extra items, so the caller can tell which
    business rule failed (e.g. the job already exists, too many active jobs).
    """

    def __init__(self, index: int, code: str) -> None:
        super().__init__(f"extra transaction item {index} failed: {code}")
        self.index = index
        self.code = code


class ContentionError(LedgerError):
    """DynamoDB kept cancelling the transaction for conflicts; the caller may retry later."""
