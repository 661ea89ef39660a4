"""Prices in credits per (mode, tier), and what the menu may offer.

Defaults come from ``COST_*``; the operator changes prices without a deploy by writing the
settings item ``prices`` (``{"image/standard": 1, "video/pro": 25, ...}``), validated here.
Warm Lambdas cache it for a minute, so accepting a generation costs no extra DynamoDB call.

The menu offers exactly the (mode, tier) pairs that have a price AND can be served by the
provider catalog with the keys configured (``offer``): a mode nothing can make is not shown,
so no one is charged for it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, NonNegativeInt, TypeAdapter, ValidationError

from genbot.config import Settings, validation_problems
from genbot.observability import logger
from genbot.providers.catalog import Catalog
from genbot.store.settings import cached_setting
from genbot.vocab import MODES, Mode, Tier

PriceKey = Annotated[str, Field(pattern=r"^(image|edit|video|describe)/(standard|pro)$")]
PRICES_ADAPTER: TypeAdapter[dict[str, int]] = TypeAdapter(dict[PriceKey, NonNegativeInt])


def validate_prices(raw: object) -> dict[str, int]:
    """An operator's ``prices`` item; ValueError naming each bad key or value."""
    try:
        return PRICES_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        problems = validation_problems(exc, "prices")
        raise ValueError(f"invalid prices: {problems}") from None


def default_prices(settings: Settings) -> dict[str, int]:
    return {
        "image/standard": settings.cost_image,
        "image/pro": settings.cost_image_pro,
        "edit/standard": settings.cost_edit,
        "edit/pro": settings.cost_edit_pro,
        "video/standard": settings.cost_video,
        "video/pro": settings.cost_video_pro,
        "describe/standard": settings.cost_describe,
    }


def prices(settings: Settings) -> dict[str, int]:
    """Defaults with the operator's overrides on top (an invalid item is logged and ignored)."""
    table = default_prices(settings)
    override = cached_setting("prices")
    if override:
        try:
            table.update(validate_prices(override))
        except ValueError as exc:
            logger.warning("prices override ignored", extra={"error": str(exc)})
    return table


def price(settings: Settings, mode: str, tier: str) -> int:
    """KeyError when the (mode, tier) has no price."""
    key = f"{mode}/{tier}"
    table = prices(settings)
    if key not in table:
        raise KeyError(f"no price for {key}")
    return table[key]


_warned = False


def _warn_nothing_offered() -> None:
    """Once per process: generation is off because no provider can serve (no usable key)."""
    global _warned
    if not _warned:
        _warned = True
        logger.error(
            "no provider can serve any priced mode: generation is not offered "
            "(set GEMINI_API_KEYS and/or OPENAI_API_KEY in the secret)"
        )


class Offer:
    """What the menu may offer now: (mode, tier) -> price, priced and servable."""

    def __init__(self, settings: Settings, catalog: Catalog | None = None) -> None:
        table = prices(settings)
        served = catalog or Catalog.load(settings)
        self.prices: dict[Mode, dict[Tier, int]] = {}
        for mode in MODES:
            for tier in served.tiers(mode):
                key = f"{mode}/{tier}"
                if key in table:
                    self.prices.setdefault(mode, {})[tier] = table[key]

        if not self.prices:
            _warn_nothing_offered()

    def modes(self) -> list[Mode]:
        return list(self.prices)

    def tiers(self, mode: Mode | None) -> list[Tier]:
        return list(self.prices.get(mode, {})) if mode is not None else []

    def price(self, mode: Mode, tier: Tier) -> int | None:
        return self.prices.get(mode, {}).get(tier)
