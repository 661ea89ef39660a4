"""Promo codes: credits for whoever types the code, within its expiry and use limit, once per user.

Redeeming is one ledger transaction: the user's entry ``promo#<CODE>`` (put only if absent,
so a second try by the same user is a replay) and ``used = used + 1`` on the code, on
condition that the code exists, is not disabled, has not expired and ``used < max_uses``.
Concurrent redemptions can't overshoot the limit: DynamoDB checks the condition and moves
the counter in one step. When the condition fails, one read of the code says why.

Operators create, disable and inspect codes with ``genbot promo ...`` (``genbot.cli``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from enum import StrEnum

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.condition import Condition

from genbot.ledger import ConditionFailedError, Posting, apply
from genbot.ledger.service import ExtraItem
from genbot.observability import logger, metrics
from genbot.store.models import PromoCode, condition_failed, now_ms
from genbot.store.transaction import Transaction
from genbot.users import get_user
from genbot.vocab import EntryKind

CODE_PATTERN = re.compile(r"[A-Z0-9_-]{3,32}")
PROMO = "promo"  # the code's item in the redemption transaction
_ATTEMPTS = 3  # a code whose credits changed between the read and the write is read again

__all__ = [
    "CodeExistsError",
    "InvalidPromoError",
    "Outcome",
    "PromoError",
    "Redemption",
    "UnknownCodeError",
    "create",
    "disable",
    "get",
    "normalize",
    "redeem",
]


class PromoError(Exception):
    """Base for promo-code refusals an operator is told about."""


class InvalidPromoError(PromoError, ValueError):
    """A code that can't be created as given (bad characters, no credits, no uses, past expiry)."""


class CodeExistsError(PromoError):
    """A code by that name exists already (codes are never overwritten)."""


class UnknownCodeError(PromoError):
    """No code by that name."""


class Outcome(StrEnum):
    """What a redemption came to; the bot has one answer for each."""

    REDEEMED = "redeemed"
    UNKNOWN = "unknown"
    DISABLED = "disabled"
    EXPIRED = "expired"
    USED_UP = "used_up"
    ALREADY_USED = "already_used"  # by this user


@dataclass(frozen=True)
class Redemption:
    outcome: Outcome
    code: str
    credits: int = 0  # what this redemption credited (REDEEMED only)
    balance: int | None = None  # the user's balance right after (REDEEMED only)


def normalize(code: str) -> str:
    """As stored: no surrounding spaces, upper-case."""
    return code.strip().upper()


def valid(code: str) -> bool:
    return CODE_PATTERN.fullmatch(code) is not None


def op_id(code: str) -> str:
    """The ledger key of a user's redemption of ``code``: one per user and code."""
    return f"promo#{code}"


def create(
    code: str,
    credits: int,
    max_uses: int,
    expires_at: int | None = None,
    created_by: str | None = None,
) -> PromoCode:
    """A new code worth ``credits``, for ``max_uses`` users, until ``expires_at`` (epoch s).

    Raises InvalidPromoError, CodeExistsError.
    """
    code = normalize(code)
    if not valid(code):
        raise InvalidPromoError(f"{code!r}: use 3 to 32 characters A-Z, 0-9, _ or -")
    if credits < 1:
        raise InvalidPromoError("credits must be at least 1")
    if max_uses < 1:
        raise InvalidPromoError("uses must be at least 1")
    if expires_at is not None and expires_at <= time.time():
        raise InvalidPromoError("the expiry is in the past")
    promo = PromoCode(
        code,
        credits=credits,
        max_uses=max_uses,
        used=0,
        expires_at=expires_at,
        disabled=False,
        created_at=now_ms(),
        created_by=created_by,
    )
    try:
        promo.save(condition=PromoCode.code.does_not_exist())
    except PutError as exc:
        if not condition_failed(exc):
            raise
        if not _is_this(promo):
            raise CodeExistsError(code) from exc
    logger.info("promo code created", extra={"code": code, "credits": credits, "max_uses": max_uses})
    return promo


def _is_this(promo: PromoCode) -> bool:
    """After the code's PutItem failed its condition: is the code there the one this call wrote
    (its SDK resend, the first attempt's answer lost, is what failed)? One read, that path only."""
    found = get(str(promo.code))
    return found is not None and (found.created_at, found.created_by, found.credits, found.max_uses) == (
        promo.created_at,
        promo.created_by,
        promo.credits,
        promo.max_uses,
    )


def get(code: str) -> PromoCode | None:
    """The code as stored (strongly consistent), or None."""
    code = normalize(code)
    if not valid(code):
        return None
    try:
        return PromoCode.get(code, consistent_read=True)
    except DoesNotExist:
        return None


def disable(code: str) -> PromoCode:
    """No more redemptions of ``code`` (those made stay). Raises UnknownCodeError."""
    code = normalize(code)
    if not valid(code):
        raise UnknownCodeError(code)
    promo = PromoCode(code)
    try:
        promo.update(actions=[PromoCode.disabled.set(True)], condition=PromoCode.code.exists())
    except UpdateError as exc:
        if condition_failed(exc):
            raise UnknownCodeError(code) from exc
        raise
    logger.info("promo code disabled", extra={"code": code})
    return promo


def _redeemable(credits: int, now: int) -> Condition:
    """The code exists, is on, has time and uses left, and is still worth ``credits``."""
    return (
        PromoCode.code.exists()
        & (PromoCode.disabled.does_not_exist() | (PromoCode.disabled == False))  # noqa: E712
        & (PromoCode.expires_at.does_not_exist() | (PromoCode.expires_at > now))
        & (PromoCode.used < PromoCode.max_uses)
        & (PromoCode.credits == credits)
    )


def _count_use(code: str, condition: Condition) -> ExtraItem:
    """The code's side of a redemption: one more use, on ``condition``."""

    def add(tx: Transaction) -> None:
        tx.update(PROMO, PromoCode(code), actions=[PromoCode.used.add(1)], condition=condition)

    return add


def _refusal(promo: PromoCode | None, now: int) -> Outcome | None:
    """Why ``promo`` can't be redeemed now (None: it can)."""
    if promo is None:
        return Outcome.UNKNOWN
    if promo.disabled:
        return Outcome.DISABLED
    if promo.expires_at is not None and promo.expires_at <= now:
        return Outcome.EXPIRED
    if promo.used >= promo.max_uses:
        return Outcome.USED_UP
    return None


def redeem(user_id: int, code: str) -> Redemption:
    """Credit the code to the user once, if it is on, in time and has uses left.

    Raises UnknownUserError (no such user), and ContentionError/LedgerUnavailableError when
    DynamoDB couldn't take the transaction (nothing was written: try again).
    """
    code = normalize(code)
    promo = get(code)
    for _ in range(_ATTEMPTS):
        if promo is None:
            return Redemption(Outcome.UNKNOWN, code)
        credits = int(promo.credits)
        now = int(time.time())
        condition = _redeemable(credits, now)
        try:
            applied = apply(
                Posting(user_id, op_id(code), credits, EntryKind.PROMO, note=code),
                extra=[_count_use(code, condition)],
            )
        except ConditionFailedError as exc:
            if exc.item != PROMO:
                raise
            promo = get(code)  # one read says which answer
            refusal = _refusal(promo, now)
            if refusal is not None:
                logger.info("promo code refused", extra={"code": code, "user_id": user_id, "why": refusal})
                return Redemption(refusal, code)
            continue  # on, in time, uses left: its credits changed under us; read again
        if not applied:
            return Redemption(Outcome.ALREADY_USED, code)
        metrics.add_metric(name="PromoRedeemed", unit="Count", value=1)
        user = get_user(user_id)
        return Redemption(
            Outcome.REDEEMED, code, credits=credits, balance=int(user.balance) if user else None
        )
    raise ConditionFailedError(PROMO, "credits keep changing")
