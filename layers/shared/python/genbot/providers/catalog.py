"""Which models serve each (mode, tier), in which order: data, not code.

The operator can reorder providers or switch models without a deploy by writing the settings
item ``catalog`` with the same shape as ``DEFAULT_CATALOG``::

    {"image": {"standard": [{"provider": "gemini", "model": "gemini-2.5-flash-image"},
                            {"provider": "openai", "model": "gpt-image-1-mini",
                             "options": {"size": "1024x1024"}}]},
     "video": {...}, ...}

``options`` (optional) are passed to the adapter (OpenAI: ``size``/``quality``; Veo: the
``parameters`` object). Entries whose provider has no keys are skipped. When no real provider
has keys, the offline ``fake`` provider serves everything, so the local stack and the tests
work with no network; ``GENBOT_FAKE_PROVIDERS=0`` forbids that (production: misconfigured keys
then fail loudly instead of sending users pictures of gradients), ``=1`` forces it.
Warm Lambdas cache the item for a minute, so a job costs no extra DynamoDB call.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any

from genbot.config import Settings
from genbot.observability import logger
from genbot.providers.base import MODES
from genbot.store.settings import cached_setting

REAL_PROVIDERS = ("gemini", "openai")
KNOWN_PROVIDERS = (*REAL_PROVIDERS, "fake")


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
            _e("fake", "fake-image-1"),
        ],
        "pro": [
            _e("gemini", "gemini-3-pro-image-preview"),
            _e("openai", "gpt-image-1", size="1024x1024", quality="high"),
            _e("fake", "fake-image-1-pro"),
        ],
    },
    "edit": {
        "standard": [
            _e("gemini", "gemini-2.5-flash-image"),
            _e("openai", "gpt-image-1-mini", quality="medium"),
            _e("fake", "fake-edit-1"),
        ],
        "pro": [
            _e("gemini", "gemini-3-pro-image-preview"),
            _e("openai", "gpt-image-1", quality="high"),
            _e("fake", "fake-edit-1-pro"),
        ],
    },
    "video": {
        "standard": [_e("gemini", "veo-3.0-fast-generate-001"), _e("fake", "fake-video-1")],
        "pro": [_e("gemini", "veo-3.0-generate-001"), _e("fake", "fake-video-1-pro")],
    },
    "describe": {
        "standard": [
            _e("gemini", "gemini-2.5-flash"),
            _e("openai", "gpt-4.1-mini"),
            _e("fake", "fake-describe-1"),
        ],
    },
}


@dataclass(frozen=True)
class CatalogEntry:
    """One provider/model candidate for a (mode, tier)."""

    provider: str
    model: str
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


def _fake_mode() -> str:
    """``auto`` (fake only when no keys), ``off`` or ``on`` from ``GENBOT_FAKE_PROVIDERS``."""
    raw = os.environ.get("GENBOT_FAKE_PROVIDERS", "").strip().lower()
    if raw in ("0", "false", "no", "off"):
        return "off"
    if raw in ("1", "true", "yes", "on"):
        return "on"
    return "auto"


def provider_has_keys(settings: Settings, provider: str) -> bool:
    if provider == "gemini":
        return bool([k for k in settings.gemini_api_keys if k.strip()])
    if provider == "openai":
        return bool([k for k in settings.openai_api_key.split(",") if k.strip()])
    return provider == "fake"


def validate(raw: Any) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The catalog if ``raw`` has the documented shape; ValueError naming the problem otherwise."""
    if not isinstance(raw, dict):
        raise ValueError("the catalog must be an object of modes")
    for mode, tiers in raw.items():
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        if not isinstance(tiers, dict):
            raise ValueError(f"{mode}: tiers must be an object")
        for tier, entries in tiers.items():
            if not isinstance(entries, list):
                raise ValueError(f"{mode}/{tier}: a list of entries expected")
            for entry in entries:
                if not isinstance(entry, dict) or entry.get("provider") not in KNOWN_PROVIDERS:
                    raise ValueError(f"{mode}/{tier}: entry {entry!r} needs a known provider")
                if not isinstance(entry.get("model"), str) or not entry["model"] or "|" in entry["model"]:
                    raise ValueError(f"{mode}/{tier}: entry {entry!r} needs a model name")
                if not isinstance(entry.get("options", {}), dict):
                    raise ValueError(f"{mode}/{tier}: options must be an object")
    return raw


class Catalog:
    """The usable entries per (mode, tier), already filtered by which providers have keys."""

    def __init__(self, table: dict[str, dict[str, list[CatalogEntry]]]) -> None:
        self._table = table

    @classmethod
    def from_data(
        cls, data: dict[str, dict[str, list[dict[str, Any]]]], settings: Settings, fake: str | None = None
    ) -> Catalog:
        """Filter raw catalog data for these settings (``fake``: auto | on | off)."""
        fake = fake or _fake_mode()
        any_real = any(provider_has_keys(settings, p) for p in REAL_PROVIDERS)
        use_fake = fake == "on" or (fake == "auto" and not any_real)
        table: dict[str, dict[str, list[CatalogEntry]]] = {}
        for mode, tiers in data.items():
            for tier, entries in tiers.items():
                usable = []
                for raw in entries:
                    provider = raw["provider"]
                    if provider == "fake":
                        ok = use_fake
                    else:
                        ok = fake != "on" and provider_has_keys(settings, provider)
                    if ok:
                        usable.append(CatalogEntry(provider, raw["model"], dict(raw.get("options") or {})))
                if usable:
                    table.setdefault(mode, {})[tier] = usable
        return cls(table)

    @classmethod
    def load(cls, settings: Settings) -> Catalog:
        """The operator's ``catalog`` settings item if valid, else ``DEFAULT_CATALOG``."""
        data: Any = copy.deepcopy(DEFAULT_CATALOG)
        override = cached_setting("catalog")
        if override:
            try:
                data = validate(override)
            except ValueError as exc:
                logger.warning("catalog override ignored", extra={"error": str(exc)})
        return cls.from_data(data, settings)

    def entries(self, mode: str, tier: str) -> list[CatalogEntry]:
        """Candidates in order of preference; [] when nothing can serve this (mode, tier)."""
        return list(self._table.get(mode, {}).get(tier, []))

    def tiers(self, mode: str) -> list[str]:
        """The tiers the menu may offer for ``mode`` (standard first)."""
        names = list(self._table.get(mode, {}))
        return sorted(names, key=lambda t: (t != "standard", t != "pro", t))

    def providers(self) -> list[str]:
        """Every provider some entry uses (for the local stack's banner and logs)."""
        seen: list[str] = []
        for tiers in self._table.values():
            for entries in tiers.values():
                for entry in entries:
                    if entry.provider not in seen:
                        seen.append(entry.provider)
        return seen
