"""Which models serve each (mode, tier), in which order: data, not code.

The operator can reorder providers or switch models without a deploy by writing the settings
item ``catalog`` with the same shape as ``DEFAULT_CATALOG``::

    {"image": {"standard": [{"provider": "gemini", "model": "gemini-2.5-flash-image"},
                            {"provider": "openai", "model": "gpt-image-1-mini",
                             "options": {"size": "1024x1024"}}]},
     "video": {...}, ...}

``options`` (optional) are passed to the adapter (OpenAI: ``size``/``quality``; Veo: the
``parameters`` object). Entries whose provider can't serve (no keys, not registered) are
skipped, so the catalog answers "what can actually be made here"; the menu offers exactly
the (mode, tier) pairs that have a price and an entry (``genbot.jobs.pricing.offer``).
Warm Lambdas cache the item for a minute, so a job costs no extra DynamoDB call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from genbot.config import Settings, validation_problems
from genbot.observability import logger
from genbot.providers import registry
from genbot.store.settings import cached_setting
from genbot.vocab import Mode, Tier


def _e(provider: str, model: str, **options: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"provider": provider, "model": model}
    if options:
        entry["options"] = options
    return entry


DEFAULT_CATALOG: dict[str, dict[str, list[dict[str, Any]]]] = {
    "image": {
        "standard": [
            _e("gemini", "gemini-2.5-flash-image"),
            _e("openai", "gpt-image-1-mini", size="1024x1024", quality="medium"),
        ],
        "pro": [
            _e("gemini", "gemini-3-pro-image-preview"),
            _e("openai", "gpt-image-1", size="1024x1024", quality="high"),
        ],
    },
    "edit": {
        "standard": [
            _e("gemini", "gemini-2.5-flash-image"),
            _e("openai", "gpt-image-1-mini", quality="medium"),
        ],
        "pro": [
            _e("gemini", "gemini-3-pro-image-preview"),
            _e("openai", "gpt-image-1", quality="high"),
        ],
    },
    "video": {
        "standard": [_e("gemini", "veo-3.0-fast-generate-001")],
        "pro": [_e("gemini", "veo-3.0-generate-001")],
    },
    "describe": {
        "standard": [_e("gemini", "gemini-2.5-flash"), _e("openai", "gpt-4.1-mini")],
    },
}


class EntryData(BaseModel):
    """One catalog entry as the operator writes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Annotated[str, Field(min_length=1)]
    model: Annotated[str, Field(min_length=1, max_length=200)]
    options: dict[str, Any] = Field(default_factory=dict)


CatalogData = dict[Mode, dict[Tier, list[EntryData]]]
CATALOG_ADAPTER: TypeAdapter[CatalogData] = TypeAdapter(CatalogData)


def validate(raw: Any) -> CatalogData:
    """The catalog if ``raw`` has the documented shape and names known providers.

    Raises ValueError with every problem named (pydantic's locations, e.g. ``image.pro.0.model``).
    """
    try:
        data = CATALOG_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        problems = validation_problems(exc, "catalog")
        raise ValueError(f"invalid catalog: {problems}") from None
    known = registry.names()
    for mode, tiers in data.items():
        for tier, entries in tiers.items():
            for i, entry in enumerate(entries):
                if entry.provider not in known:
                    where = f"{mode}.{tier}.{i}.provider"
                    raise ValueError(f"invalid catalog: {where}: {entry.provider!r} is not one of {known}")
    return data


@dataclass(frozen=True)
class CatalogEntry:
    """One provider/model candidate for a (mode, tier)."""

    provider: str
    model: str
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


class Catalog:
    """The usable entries per (mode, tier), already filtered by which providers can serve."""

    def __init__(self, table: dict[Mode, dict[Tier, list[CatalogEntry]]]) -> None:
        self._table = table

    @classmethod
    def from_data(cls, raw: Any, settings: Settings) -> Catalog:
        """Keep the entries whose provider is registered and available with these settings."""
        data = validate(raw)
        usable = {spec.name for spec in registry.specs() if spec.available(settings)}
        table: dict[Mode, dict[Tier, list[CatalogEntry]]] = {}
        for mode, tiers in data.items():
            for tier, entries in tiers.items():
                kept = [
                    CatalogEntry(e.provider, e.model, dict(e.options))
                    for e in entries
                    if e.provider in usable
                ]
                if kept:
                    table.setdefault(mode, {})[tier] = kept
        for spec in registry.specs():
            if spec.name not in usable:
                continue
            for extra_mode, extra_tiers in spec.entries.items():
                for extra_tier, raw_entries in extra_tiers.items():
                    extra = [EntryData.model_validate(e) for e in raw_entries]
                    table.setdefault(Mode(extra_mode), {}).setdefault(Tier(extra_tier), []).extend(
                        CatalogEntry(spec.name, e.model, dict(e.options)) for e in extra
                    )
        return cls(table)

    @classmethod
    def load(cls, settings: Settings) -> Catalog:
        """The operator's ``catalog`` settings item if valid, else ``DEFAULT_CATALOG``."""
        data: Any = DEFAULT_CATALOG
        override = cached_setting("catalog")
        if override:
            try:
                data = validate(override)
            except ValueError as exc:
                logger.warning("catalog override ignored", extra={"error": str(exc)})
        return cls.from_data(data, settings)

    def entries(self, mode: str, tier: str) -> list[CatalogEntry]:
        """Candidates in order of preference; [] when nothing can serve this (mode, tier)."""
        return list(self._table.get(mode, {}).get(tier, []))  # type: ignore[call-overload]

    def tiers(self, mode: str) -> list[Tier]:
        """The tiers that can be served for ``mode``, in the vocabulary's order."""
        served = self._table.get(mode, {})  # type: ignore[call-overload]
        return [t for t in Tier if t in served]

    def providers(self) -> list[str]:
        """Every provider some entry uses (for the local stack's banner and logs)."""
        seen: list[str] = []
        for tiers in self._table.values():
            for entries in tiers.values():
                for entry in entries:
                    if entry.provider not in seen:
                        seen.append(entry.provider)
        return seen
