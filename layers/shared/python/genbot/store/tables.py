"""Table definitions derived from the PynamoDB models.

CDK (``infra/``) and the local stack (``genbot bootstrap``) both build tables from
``table_specs()``, so a key or index exists in one place only: the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pynamodb.attributes import TTLAttribute
from pynamodb.indexes import Index, LocalSecondaryIndex
from pynamodb.models import Model

from genbot.store.models import (
    AdminAction,
    BroadcastItem,
    ChatMessage,
    IdempotencyRecord,
    Job,
    LedgerEntry,
    Payment,
    PromoCode,
    SettingItem,
    StatsCounter,
    User,
)

# logical name -> (model, environment variable carrying the physical name)
MODELS: dict[str, tuple[type[Model], str]] = {
    "users": (User, "USERS_TABLE"),
    "ledger": (LedgerEntry, "LEDGER_TABLE"),
    "jobs": (Job, "JOBS_TABLE"),
    "settings": (SettingItem, "SETTINGS_TABLE"),
    "idempotency": (IdempotencyRecord, "IDEMPOTENCY_TABLE"),
    "payments": (Payment, "PAYMENTS_TABLE"),
    "promo": (PromoCode, "PROMO_TABLE"),
    "broadcasts": (BroadcastItem, "BROADCASTS_TABLE"),
    "conversations": (ChatMessage, "CONVERSATIONS_TABLE"),
    "admin_log": (AdminAction, "ADMIN_LOG_TABLE"),
    "stats": (StatsCounter, "STATS_TABLE"),
}


@dataclass(frozen=True)
class KeySpec:
    name: str
    type: str  # "S" | "N" | "B"


@dataclass(frozen=True)
class IndexSpec:
    name: str
    partition_key: KeySpec
    sort_key: KeySpec | None
    local: bool


@dataclass(frozen=True)
class TableSpec:
    """What a table is, independent of who creates it."""

    name: str
    env_var: str
    partition_key: KeySpec
    sort_key: KeySpec | None
    indexes: tuple[IndexSpec, ...] = field(default_factory=tuple)
    ttl_attribute: str | None = None

    def create_table_kwargs(self, physical_name: str) -> dict[str, Any]:
        """Arguments for DynamoDB ``CreateTable`` (on-demand), as the local stack uses them."""
        keys = [self.partition_key, *([self.sort_key] if self.sort_key else [])]
        for index in self.indexes:
            keys += [index.partition_key, *([index.sort_key] if index.sort_key else [])]
        attrs = {k.name: k.type for k in keys}

        def schema(pk: KeySpec, sk: KeySpec | None) -> list[dict[str, str]]:
            out = [{"AttributeName": pk.name, "KeyType": "HASH"}]
            if sk:
                out.append({"AttributeName": sk.name, "KeyType": "RANGE"})
            return out

        kwargs: dict[str, Any] = {
            "TableName": physical_name,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in attrs.items()],
            "KeySchema": schema(self.partition_key, self.sort_key),
        }
        for local, parameter in ((False, "GlobalSecondaryIndexes"), (True, "LocalSecondaryIndexes")):
            indexes = [
                {
                    "IndexName": i.name,
                    "KeySchema": schema(i.partition_key, i.sort_key),
                    "Projection": {"ProjectionType": "ALL"},
                }
                for i in self.indexes
                if i.local == local
            ]
            if indexes:
                kwargs[parameter] = indexes
        return kwargs


def _key(model: type[Model], name: str | None) -> KeySpec | None:
    if name is None:
        return None
    return KeySpec(name, model.get_attributes()[name].attr_type)


def _index_spec(model: type[Model], index: Index[Any]) -> IndexSpec:
    attrs = index.Meta.attributes.values()
    pk = next(a for a in attrs if a.is_hash_key)
    sk = next((a for a in attrs if a.is_range_key), None)
    return IndexSpec(
        name=index.Meta.index_name,
        partition_key=KeySpec(pk.attr_name, pk.attr_type),
        sort_key=KeySpec(sk.attr_name, sk.attr_type) if sk else None,
        local=isinstance(index, LocalSecondaryIndex),
    )


def spec_of(name: str, model: type[Model], env_var: str) -> TableSpec:
    ttl = [n for n, a in model.get_attributes().items() if isinstance(a, TTLAttribute)]
    pk = _key(model, model._hash_keyname)
    assert pk is not None
    return TableSpec(
        name=name,
        env_var=env_var,
        partition_key=pk,
        sort_key=_key(model, model._range_keyname),
        indexes=tuple(_index_spec(model, i) for i in model._indexes.values()),
        ttl_attribute=ttl[0] if ttl else None,
    )


def table_specs() -> list[TableSpec]:
    """Every table genbot uses, in a stable order."""
    return [spec_of(name, model, env) for name, (model, env) in MODELS.items()]
