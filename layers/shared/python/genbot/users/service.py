"""User registration and profile changes.

Registration is one transaction: the user item (balance = welcome credits), its welcome
ledger entry and, with a valid referrer, the referrer's reward entry and balance. A
repeated ``/start`` fails the user item's condition and changes nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from genbot.config import Settings
from genbot.ledger import connection
from genbot.observability import logger, metrics
from genbot.store.models import LedgerEntry, User, now_ms


@dataclass(frozen=True)
class Registration:
    user: User
    created: bool
    referrer_rewarded: int | None = None


def get_user(user_id: int) -> User | None:
    """One strongly consistent GetItem (a /start just before must be visible)."""
    try:
        return User.get(user_id, consistent_read=True)
    except DoesNotExist:
        return None


def register(
    settings: Settings,
    user_id: int,
    *,
    language: str,
    first_name: str | None = None,
    username: str | None = None,
    referrer_id: int | None = None,
) -> Registration:
    """Create the user once, with welcome credits and the referral reward, atomically."""
    if referrer_id == user_id:
        referrer_id = None
    user = User(
        user_id,
        balance=settings.free_credits,
        language=language,
        first_name=first_name,
        username=username,
        referrer_id=referrer_id,
        created_at=int(time.time()),
    )
    try:
        _create(settings, user, referrer_id)
        rewarded = referrer_id
    except TransactWriteError as exc:
        codes = [r.code if r else None for r in exc.cancellation_reasons]
        if not codes or codes[0] != "ConditionalCheckFailed":
            if referrer_id is None or "ConditionalCheckFailed" not in codes:
                raise
            # The referrer is unknown: register without the referral.
            logger.info("unknown referrer ignored", extra={"referrer_id": referrer_id})
            user.referrer_id = None
            return register(settings, user_id, language=language, first_name=first_name, username=username)
        existing = get_user(user_id)
        assert existing is not None
        return Registration(existing, created=False)
    metrics.add_metric(name="UsersRegistered", unit="Count", value=1)
    return Registration(user, created=True, referrer_rewarded=rewarded)


def _create(settings: Settings, user: User, referrer_id: int | None) -> None:
    with TransactWrite(connection=connection()) as tw:
        tw.save(user, condition=User.user_id.does_not_exist())
        if settings.free_credits:
            tw.save(
                LedgerEntry(
                    user.user_id,
                    "bonus#welcome",
                    delta=settings.free_credits,
                    kind="welcome",
                    created_at=now_ms(),
                ),
                condition=LedgerEntry.op_id.does_not_exist(),
            )
        if referrer_id is not None:
            reward = settings.referral_reward
            if reward:
                tw.save(
                    LedgerEntry(
                        referrer_id,
                        f"ref#{user.user_id}",
                        delta=reward,
                        kind="referral",
                        created_at=now_ms(),
                    ),
                    condition=LedgerEntry.op_id.does_not_exist(),
                )
            tw.update(
                User(referrer_id),
                actions=[User.balance.add(reward), User.referrals.add(1)],
                condition=User.user_id.exists(),
            )


def set_language(user_id: int, language: str) -> None:
    User(user_id).update(actions=[User.language.set(language)], condition=User.user_id.exists())


def set_blocked(user_id: int, blocked: bool) -> None:
    """Remember that the user blocked (or unblocked) the bot, so we stop messaging them."""
    try:
        User(user_id).update(actions=[User.blocked.set(blocked)], condition=User.user_id.exists())
    except Exception:  # a user we never registered: nothing to remember
        logger.info("blocked flag for unknown user", extra={"user_id": user_id})
