"""``GET /me``: balance, subscription, referrals, notices and languages of the caller."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Literal

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from genbot.cabinet import bot_calls
from genbot.cabinet.auth import Caller, CurrentCaller
from genbot.store.models import LedgerEntry
from genbot.vocab import NoticeKind

router = APIGatewayHttpRouter()

Language = Literal["ru", "en"]
REFERRAL_OP_PREFIX = "ref#"  # the referrer's reward entries (genbot.users.service)


class Subscription(BaseModel):
    active: bool
    until: datetime
    renews: bool


class Referral(BaseModel):
    link: str
    invited: int
    earned: int


class Notices(BaseModel):
    offers: bool
    bonus: bool
    subscription: bool


class Me(BaseModel):
    user_id: int
    first_name: str | None
    language: Language
    balance: int
    subscription: Subscription | None
    referral: Referral
    notices: Notices
    chat_language: Language | None
    is_admin: bool


def at(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, UTC)


def _subscription(caller: Caller) -> Subscription | None:
    user = caller.user
    if user.subscription_until is None:
        return None
    until = int(user.subscription_until)
    return Subscription(
        active=until > time.time(),
        until=at(until),
        renews=bool(user.subscription_charge_id and user.subscription_renews),
    )


def _earned(user_id: int) -> int:
    """Credits earned by inviting: one Query of the user's ``ref#`` entries (the sort key)."""
    entries = LedgerEntry.query(user_id, LedgerEntry.op_id.startswith(REFERRAL_OP_PREFIX))
    return sum(int(e.delta) for e in entries)


def me_view(caller: Caller) -> Me:
    user = caller.user
    muted = set(user.muted or set())
    chat_language = user.chat_language if user.chat_language in ("ru", "en") else None
    return Me(
        user_id=caller.user_id,
        first_name=user.first_name,
        language="en" if caller.language == "en" else "ru",
        balance=int(user.balance),
        subscription=_subscription(caller),
        referral=Referral(
            link=f"https://t.me/{bot_calls.username()}?start=ref_{caller.user_id}",
            invited=int(user.referrals or 0),
            earned=_earned(caller.user_id),
        ),
        notices=Notices(**{str(kind): str(kind) not in muted for kind in NoticeKind}),
        chat_language=chat_language,  # type: ignore[arg-type]
        is_admin=caller.is_admin,
    )


@router.get("/me", summary="The caller's account")
def me(caller: CurrentCaller) -> Me:
    """Balance, subscription, referral link and counts, notice toggles, languages."""
    return me_view(caller)
