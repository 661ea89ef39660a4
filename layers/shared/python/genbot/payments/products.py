"""What can be bought: credit packs (``PACK_*``, or the operator's settings item ``packs``).

A pack is sold for Telegram Stars (and rubles where YooKassa is configured). The operator
changes packs without a deploy by writing ``packs``
(``{"s": {"credits": 20, "stars": 100, "rubles": 199}, ...}``), validated here; an invalid
item is logged and ignored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, PositiveInt, TypeAdapter, ValidationError

from genbot.config import Settings, validation_problems
from genbot.observability import logger
from genbot.store.models import User
from genbot.store.settings import cached_setting


class PackData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    credits: PositiveInt
    stars: PositiveInt
    rubles: PositiveInt
    on_sale: bool = True


OFFER = "offer"  # the discount offer's product id (one user's, for a while)
PACKS_ADAPTER: TypeAdapter[dict[str, PackData]] = TypeAdapter(dict[str, PackData])
STARS_MAX = 10_000  # Telegram's limit for one Stars payment


@dataclass(frozen=True)
class Product:
    """One thing on sale: ``product_id`` is what invoices carry (``pack_s``)."""

    product_id: str
    credits: int
    stars: int
    rubles: int


def validate_packs(raw: object) -> dict[str, PackData]:
    try:
        packs = PACKS_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        problems = validation_problems(exc, "packs")
        raise ValueError(f"invalid packs: {problems}") from None
    too_dear = [name for name, pack in packs.items() if pack.stars > STARS_MAX]
    if too_dear:
        raise ValueError(f"invalid packs: {too_dear}: at most {STARS_MAX} Stars")
    return packs


def products(settings: Settings) -> list[Product]:
    """The packs on sale now, cheapest first."""
    packs = {name: PackData(credits=c, stars=s, rubles=r) for name, (c, s, r) in settings.packs().items()}
    override = cached_setting("packs")
    if override:
        try:
            packs = validate_packs(override)
        except ValueError as exc:
            logger.warning("packs override ignored", extra={"error": str(exc)})
    found = [Product(f"pack_{name}", p.credits, p.stars, p.rubles) for name, p in packs.items() if p.on_sale]
    return sorted(found, key=lambda p: p.stars)


def offer_product(settings: Settings, user: User | None, now: float | None = None) -> Product | None:
    """The discount offer's pack (``OFFER_PACK``), on sale to this user alone until their
    ``offer_until`` (``genbot.notify.offers`` sets it when the offer goes out; buying it once
    ends it)."""
    if user is None or user.offer_until is None:
        return None
    if (time.time() if now is None else now) >= int(user.offer_until):
        return None
    credits, stars, rubles = (int(p) for p in settings.offer_pack.split(":"))
    return Product(OFFER, credits, stars, rubles)


def product(settings: Settings, product_id: str, user: User | None = None) -> Product | None:
    """A product by id: a pack on sale, or ``offer`` for the ``user`` it was offered to."""
    if product_id == OFFER:
        return offer_product(settings, user)
    return next((p for p in products(settings) if p.product_id == product_id), None)
