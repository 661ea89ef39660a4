"""The provider adapters this deployment knows, by name.

Production knows Gemini and OpenAI, each usable when it has keys. Another adapter joins only
by ``register()``: the local stack registers its offline fake this way, so the Lambda layer
holds no fake and a deployed stack with no usable key offers no generation at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from genbot.config import Settings
from genbot.vocab import Mode, Tier

if TYPE_CHECKING:
    from genbot.providers.base import Provider


@dataclass(frozen=True)
class ProviderSpec:
    """How to build one adapter and when it can serve.

    ``keyed`` adapters take their keys from the pool (``genbot.providers.keypool``); others
    get an empty key. ``entries`` are catalog entries this provider adds after the catalog's
    own for each (mode, tier): the fake uses them as the last resort.
    """

    name: str
    factory: Callable[[Settings], Provider]
    available: Callable[[Settings], bool]
    keyed: bool = True
    entries: Mapping[Mode, Mapping[Tier, Sequence[Mapping[str, Any]]]] = field(default_factory=dict)


def _gemini(settings: Settings) -> Provider:
    from genbot.providers.gemini import GeminiProvider

    return GeminiProvider(settings)


def _openai(settings: Settings) -> Provider:
    from genbot.providers.openai_images import OpenAIProvider

    return OpenAIProvider(settings)


def gemini_keys(settings: Settings) -> list[str]:
    return [k.strip() for k in settings.gemini_api_keys if k.strip()]


def openai_keys(settings: Settings) -> list[str]:
    return [k.strip() for k in settings.openai_api_key.split(",") if k.strip()]


PRODUCTION: tuple[ProviderSpec, ...] = (
    ProviderSpec("gemini", _gemini, lambda s: bool(gemini_keys(s))),
    ProviderSpec("openai", _openai, lambda s: bool(openai_keys(s))),
)
_specs: dict[str, ProviderSpec] = {spec.name: spec for spec in PRODUCTION}


def register(spec: ProviderSpec) -> None:
    """Add (or replace) an adapter; the local stack's fake comes in this way."""
    _specs[spec.name] = spec


def unregister(name: str) -> None:
    if name not in {spec.name for spec in PRODUCTION}:
        _specs.pop(name, None)


def specs() -> list[ProviderSpec]:
    return list(_specs.values())


def get(name: str) -> ProviderSpec | None:
    return _specs.get(name)


def names() -> list[str]:
    return list(_specs)
