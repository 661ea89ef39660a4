"""Prices in credits per (mode, tier): environment defaults, operator overrides.

The operator changes prices without a deploy by writing the settings item ``prices``
(``{"image/standard": 1, "video/pro": 25, ...}``). Warm Lambdas cache it for a minute, so
accepting a generation costs no extra DynamoDB call in the common case.
"""

from __future__ import annotations

from genbot.config import Settings
from genbot.store.settings import cached_setting


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


def price(settings: Settings, mode: str, tier: str) -> int:
    key = f"{mode}/{tier}"
    override = (cached_setting("prices") or {}).get(key)
    if isinstance(override, int) and override >= 0:
        return override
    prices = default_prices(settings)
    if key not in prices:
        raise KeyError(f"no price for {key}")
    return prices[key]
