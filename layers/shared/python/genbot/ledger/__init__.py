"""Exactly-once balance changes: see ``genbot.ledger.service``."""

from genbot.ledger.errors import (
    ConditionFailedError,
    ContentionError,
    InsufficientFundsError,
    LedgerError,
    UnknownUserError,
)
from genbot.ledger.service import (
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
    "InsufficientFundsError",
    "LedgerError",
    "Posting",
    "UnknownUserError",
    "apply",
    "balance_from_ledger",
    "credit_existing",
    "entry_for_new_account",
    "history",
]
