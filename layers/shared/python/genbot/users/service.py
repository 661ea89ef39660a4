"""User registration and profile changes.

Registration is one transaction: the user item (balance = welcome credits), its welcome
ledger entry and, with a valid referrer, the referrer's reward entry and balance. A
repeated ``/start`` fails the user item's condition and changes nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist, UpdateError

from genbot.config import Settings
from genbot.observability import logger, metrics
from genbot.store.models import LedgerEntry, User, now_ms
from genbot.store.transaction import Transaction, TransactionCancelledError


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
        _create(settings, user, referrer_id).commit()
        rewarded = referrer_id
    except TransactionCancelledError as exc:
        if exc.failed("user"):
            existing = get_user(user_id)
            assert existing is not None
            return Registration(existing, created=False)
        if referrer_id is None or not exc.failed("referrer"):
            raise
        logger.info("unknown referrer ignored", extra={"referrer_id": referrer_id})
        return register(settings, user_id, language=language, first_name=first_name, username=username)
    metrics.add_metric(name="UsersRegistered", unit="Count", value=1)
    return Registration(user, created=True, referrer_rewarded=rewarded)


def _create(settings: Settings, user: User, referrer_id: int | None) -> Transaction:
    """The user, its welcome entry and the referral reward as one transaction.

    The welcome credits are the new item's starting balance, so both ledger entries are
    written here directly (the ledger's own ``apply`` moves an existing balance).
    """
    tx = Transaction().save("user", user, condition=User.user_id.does_not_exist())
    if settings.free_credits:
        welcome = LedgerEntry(
            user.user_id, "bonus#welcome", delta=settings.free_credits, kind="welcome", created_at=now_ms()
        )
        tx.save("welcome", welcome, condition=LedgerEntry.op_id.does_not_exist())
    if referrer_id is not None:
        reward = settings.referral_reward
        if reward:
            entry = LedgerEntry(
                referrer_id, f"ref#{user.user_id}", delta=reward, kind="referral", created_at=now_ms()
            )
            tx.save("referral", entry, condition=LedgerEntry.op_id.does_not_exist())
        tx.update(
            "referrer",
            User(referrer_id),
            actions=[User.balance.add(reward), User.referrals.add(1)],
            condition=User.user_id.exists(),
        )
    return tx


def set_language(user_id: int, language: str) -> None:
    User(user_id).update(actions=[User.language.set(language)], condition=User.user_id.exists())


def set_blocked(user_id: int, blocked: bool) -> None:
    """Remember that the user blocked (or unblocked) the bot, so we stop messaging them."""
    try:
        User(user_id).update(actions=[User.blocked.set(blocked)], condition=User.user_id.exists())
    except UpdateError:  # a user we never registered: nothing to remember
        logger.info("blocked flag for unknown user", extra={"user_id": user_id})
