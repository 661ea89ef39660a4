"""Exactly-once balance changes: see ``genbot.ledger.service``."""

from genbot.ledger.errors import (
    ConditionFailedError,
    ContentionError,
    InsufficientFundsError,
    LedgerError,
    LedgerUnavailableError,
    UnknownUserError,
)
from genbot.ledger.service import (
    ExtraItem,
    Posting,
    apply,
    balance_from_ledger,
    credit_existing,
    entry_for_new_account,
    history,
)

__all__ = [
    "ConditionFailedError",
    "ContentionError",
    "ExtraItem",
    "InsufficientFundsError",
    "LedgerError",
    "LedgerUnavailableError",
    "Posting",
    "UnknownUserError",
    "apply",
    "balance_from_ledger",
    "credit_existing",
    "entry_for_new_account",
    "history",
]
