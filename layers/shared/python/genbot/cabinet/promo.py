"""``POST /promo``: redeem a promo code (``genbot.payments.promo``: once per user and code)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from genbot.cabinet.auth import CurrentCaller
from genbot.cabinet.errors import CabinetError, ConflictError, NotFoundError
from genbot.i18n import N_
from genbot.payments import promo
from genbot.payments.promo import Outcome

router = APIGatewayHttpRouter()

# the bot's msgids (bot/promo.py): the same catalog entries, translated once
REFUSALS: dict[Outcome, tuple[type[CabinetError], str, str]] = {
    Outcome.UNKNOWN: (
        NotFoundError,
        "promo_unknown",
        N_("There is no such promo code. Check it and try again."),
    ),
    Outcome.DISABLED: (ConflictError, "promo_disabled", N_("This promo code is no longer valid.")),
    Outcome.EXPIRED: (ConflictError, "promo_expired", N_("This promo code has expired.")),
    Outcome.USED_UP: (
        ConflictError,
        "promo_used_up",
        N_("This promo code has run out: all its uses are taken."),
    ),
    Outcome.ALREADY_USED: (ConflictError, "promo_already_used", N_("You have already used this promo code.")),
}


class PromoRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64)


class Redeemed(BaseModel):
    code: str
    credits: int
    balance: int


@router.post("/promo", summary="Redeem a promo code")
def redeem(caller: CurrentCaller, body: PromoRequest) -> Redeemed:
    """The code's credits, once; the refusal says why otherwise (unknown, expired, used...)."""
    result = promo.redeem(caller.user_id, body.code)
    if result.outcome != Outcome.REDEEMED:
        error, code, msgid = REFUSALS[result.outcome]
        raise error(msgid, code=code)
    balance = result.balance if result.balance is not None else int(caller.user.balance) + result.credits
    return Redeemed(code=result.code, credits=result.credits, balance=balance)
