"""``GET /packs`` and ``POST /buy``: credit packs (and the caller's discount offer) for Stars,
through an invoice link the Mini App opens with ``Telegram.WebApp.openInvoice``, or for rubles,
through YooKassa's confirmation page. Either way the bot's payment path credits the pack
(``successful_payment``, ``payment_poll``), exactly as for a purchase made in the chat."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from genbot.cabinet import bot_calls
from genbot.cabinet.auth import Caller, CurrentCaller
from genbot.cabinet.errors import ConflictError, NotFoundError, UnavailableError
from genbot.cabinet.me import at
from genbot.i18n import N_, translate, translate_plural
from genbot.observability import logger
from genbot.payments import stars, yookassa
from genbot.payments.products import Product, offer_product, product, products

router = APIGatewayHttpRouter()

# the bot's msgids (bot/buy.py): the same catalog entries, translated once
GONE = N_("This offer is no longer available. Please open 🛒 Buy credits again.")
TITLE = N_("{credits} for generation")
DESCRIPTION = N_("Credits for pictures, photo edits and videos in this bot. They never expire.")
CARD_REFUSED = N_(
    "Payment by card isn't available right now. Please pay with Stars ⭐ or write to /paysupport."
)
CONTACT_REQUIRED = N_(
    "A receipt (54-FZ) is sent for every payment in rubles: first tell the bot where to send it "
    "with /email, then buy again."
)


class Pack(BaseModel):
    product_id: str
    credits: int
    stars: int
    rubles: int


class Offer(Pack):
    until: datetime


class Packs(BaseModel):
    packs: list[Pack]
    rubles: bool
    offer: Offer | None


class BuyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: str = Field(min_length=1, max_length=64)
    method: Literal["stars", "rubles"]


class Bought(BaseModel):
    """One of the two is set: ``invoice_link`` (Stars) or ``confirmation_url`` (rubles)."""

    invoice_link: str | None = None
    confirmation_url: str | None = None


def _pack(item: Product) -> Pack:
    return Pack(product_id=item.product_id, credits=item.credits, stars=item.stars, rubles=item.rubles)


@router.get("/packs", summary="What the caller can buy")
def packs(caller: CurrentCaller) -> Packs:
    """The packs on sale (cheapest first), whether rubles are accepted, and the caller's offer."""
    settings = caller.settings
    offer = offer_product(settings, caller.user)
    return Packs(
        packs=[_pack(p) for p in products(settings)],
        rubles=yookassa.configured(settings),
        offer=None
        if offer is None or caller.user.offer_until is None
        else Offer(**_pack(offer).model_dump(), until=at(int(caller.user.offer_until))),
    )


def _title(caller: Caller, item: Product) -> str:
    amount = translate_plural("{n} credit", "{n} credits", item.credits, caller.language)
    return translate(TITLE, caller.language, credits=amount)


def _stars(caller: Caller, item: Product) -> Bought:
    order = stars.order_for(item, caller.user_id)
    link = bot_calls.invoice_link(
        title=_title(caller, item),
        description=translate(DESCRIPTION, caller.language),
        payload=order.payload,
        currency=stars.CURRENCY,
        label=translate_plural("{n} credit", "{n} credits", item.credits, caller.language),
        amount=item.stars,
    )
    return Bought(invoice_link=link)


def _rubles(caller: Caller, item: Product) -> Bought:
    settings = caller.settings
    if not yookassa.configured(settings):
        raise ConflictError(CARD_REFUSED, code="rubles_unavailable")
    if not caller.user.receipt_email:
        raise ConflictError(CONTACT_REQUIRED, code="contact_required")
    return_url = settings.yookassa_return_url or f"https://t.me/{bot_calls.username()}"
    try:
        payment = yookassa.create_payment(
            settings, caller.user, item, return_url=return_url, description=_title(caller, item)
        )
    except yookassa.YooKassaUnavailableError as exc:
        raise UnavailableError() from exc
    except yookassa.YooKassaRejectedError as exc:
        logger.error("YooKassa refused a payment", extra={"error": str(exc), "user_id": caller.user_id})
        raise ConflictError(CARD_REFUSED, code="rubles_unavailable") from exc
    if not payment.confirmation_url:
        raise UnavailableError()
    return Bought(confirmation_url=str(payment.confirmation_url))


@router.post("/buy", summary="Start a purchase")
def buy(caller: CurrentCaller, order: BuyRequest) -> Bought:
    """Stars: an invoice link for ``Telegram.WebApp.openInvoice``; rubles: YooKassa's payment page."""
    item = product(caller.settings, order.product_id, caller.user)
    if item is None:
        raise NotFoundError(GONE)
    return _stars(caller, item) if order.method == "stars" else _rubles(caller, item)
