"""DynamoDB tables: PynamoDB models, and the table definitions CDK and the local stack share."""

from genbot.store.models import (
    IdempotencyRecord,
    Job,
    LedgerEntry,
    Payment,
    PromoCode,
    SettingItem,
    User,
)
from genbot.store.tables import MODELS, TableSpec, table_specs

__all__ = [
    "MODELS",
    "IdempotencyRecord",
    "Job",
    "LedgerEntry",
    "Payment",
    "PromoCode",
    "SettingItem",
    "TableSpec",
    "User",
    "table_specs",
]
