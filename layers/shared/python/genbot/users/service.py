"""User registration and profile changes: the only place that writes user items.

Registration is one transaction: the user item (balance = welcome credits), its welcome
ledger entry and, with a valid referrer, the referrer's reward entry and balance (both
entries written by the ledger). A repeated ``/start`` fails the user item's condition and
changes nothing. Handlers change drafts, languages and bonuses through the functions here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.update import Action

from genbot import stats
from genbot.config import Settings
from genbot.ledger import Posting, UnknownUserError, apply, credit_existing, entry_for_new_account
from genbot.observability import logger, metrics
from genbot.store.models import DUE, User, condition_failed
from genbot.store.transaction import Transaction, TransactionCancelledError
from genbot.users.drafts import Draft
from genbot.users.notices import (
    bonus_key,
    bonus_key_now,
    bonus_open,
    local_day,
    local_moment,
    next_bonus_reminder,
)
from genbot.vocab import EntryKind, NoticeKind

SEEN_EVERY_SECONDS = 12 * 3600


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
    now: int | None = None,
) -> Registration:
    """Create the user once, with welcome credits and the referral reward, atomically."""
    if referrer_id == user_id:
        referrer_id = None
    now = int(time.time()) if now is None else now
    user = User(
        user_id,
        balance=settings.free_credits,
        language=language,
        first_name=first_name,
        username=username,
        referrer_id=referrer_id,
        created_at=now,
        seen_at=now,
    )
    reminder = next_bonus_reminder(settings, now, now)
    if reminder is not None:  # the daily bonus reminder's due index (genbot.notify.bonus)
        user.bonus_q, user.bonus_at = DUE, reminder
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
        return register(
            settings, user_id, language=language, first_name=first_name, username=username, now=now
        )
    metrics.add_metric(name="UsersRegistered", unit="Count", value=1)
    stats.bump(stats.USERS, now, new_users=1, active_users=1)
    if settings.referral_trigger != "registration":
        rewarded = None  # the referrer hears when the friend first pays
    return Registration(user, created=True, referrer_rewarded=rewarded)


def _create(settings: Settings, user: User, referrer_id: int | None) -> Transaction:
    """The user, its welcome entry and the referral reward as one transaction.

    The welcome credits are the new item's starting balance, so the welcome entry goes in
    without a balance update; the referrer's reward is an ordinary credit.
    """
    tx = Transaction().save("user", user, condition=User.user_id.does_not_exist())
    if settings.free_credits:
        entry_for_new_account(
            tx,
            "welcome",
            Posting(int(user.user_id), "bonus#welcome", settings.free_credits, EntryKind.WELCOME),
        )
    if referrer_id is not None:
        if settings.referral_trigger == "registration":
            reward = Posting(referrer_id, f"ref#{user.user_id}", settings.referral_reward, EntryKind.REFERRAL)
            credit_existing(tx, "referral", "referrer", reward, user_actions=[User.referrals.add(1)])
        else:  # rewarded on the friend's first payment (genbot.payments); now only counted
            tx.update(
                "referrer",
                User(referrer_id),
                actions=[User.referrals.add(1)],
                condition=User.user_id.exists(),
            )
    return tx


def set_language(user_id: int, language: str) -> None:
    User(user_id).update(actions=[User.language.set(language)], condition=User.user_id.exists())


def set_blocked(user_id: int, blocked: bool, *, resume: list[Action] | None = None) -> None:
    """Remember that the user blocked (or unblocked) the bot, so we stop messaging them;
    ``resume``: the due keys to put back when they return (``genbot.users.notices``)."""
    try:
        User(user_id).update(
            actions=[User.blocked.set(blocked), *(resume or [])], condition=User.user_id.exists()
        )
    except UpdateError:  # a user we never registered: nothing to remember
        logger.info("blocked flag for unknown user", extra={"user_id": user_id})


def set_banned(user_id: int, banned: bool) -> None:
    """An operator's ban (or its end): a banned user's updates get one short answer and nothing
    else (``genbot.bot.banned``), the cabinet refuses them, notices and broadcasts skip them."""
    action = User.banned.set(True) if banned else User.banned.remove()
    User(user_id).update(actions=[action], condition=User.user_id.exists())


class BonusClaim(StrEnum):
    CLAIMED = "claimed"
    ALREADY = "already"  # today's is claimed (a double tap, a second device)
    CLOSED = "closed"  # outside the user's bonus window (genbot.users.notices)


def claim_daily_bonus(settings: Settings, user: User, now: float | None = None) -> BonusClaim:
    """+DAILY_BONUS once per calendar day of the window (ledger key ``bonus#daily#<day>``).

    The same transaction moves the reminder's due key past today, so a claimed day gets no
    reminder, and out of the index after the window's last day.
    """
    at = time.time() if now is None else now
    created = int(user.created_at)
    if not bonus_open(settings, created, at):
        return BonusClaim.CLOSED
    day = local_day(settings, at)
    applied = apply(
        Posting(int(user.user_id), f"bonus#daily#{day.isoformat()}", settings.daily_bonus, EntryKind.DAILY),
        user_actions=[
            User.last_daily_bonus.set(day.isoformat()),
            *bonus_key(next_bonus_reminder(settings, created, at, skip_day=day)),
        ],
    )
    return BonusClaim.CLAIMED if applied else BonusClaim.ALREADY


def set_notice(settings: Settings, user: User, kind: NoticeKind, on: bool) -> None:
    """Turn a kind of notice on or off (/settings). Turning the bonus reminder back on puts the
    user back in its due index (a reminder run removed them when it found it off)."""
    actions: list[Action] = [User.muted.delete({str(kind)}) if on else User.muted.add({str(kind)})]
    if on and kind == NoticeKind.BONUS:
        actions += bonus_key_now(settings, user, time.time())
    User(user.user_id).update(actions=actions, condition=User.user_id.exists())
    muted = set(user.muted or set())
    user.muted = (muted - {str(kind)}) if on else (muted | {str(kind)})


def set_chat_language(user: User, language: str | None) -> None:
    """The assistant's answer language (None: the question's)."""
    action = User.chat_language.set(language) if language else User.chat_language.remove()
    User(user.user_id).update(actions=[action], condition=User.user_id.exists())
    user.chat_language = language


def touch(settings: Settings, user: User, now: int) -> None:
    """Remember the user was here (``seen_at``: broadcasts' "active in the last N days"): one
    write on the first update of each day in ``TIMEZONE`` (which counts the user active that
    day, once: the write's condition is "not yet seen today") and otherwise at most one per
    ``SEEN_EVERY_SECONDS``."""
    today = local_day(settings, now)
    first_today = user.seen_at is None or local_day(settings, int(user.seen_at)) != today
    if not first_today and now - int(user.seen_at) < SEEN_EVERY_SECONDS:
        return
    condition = User.user_id.exists()
    if first_today:
        condition &= User.seen_at.does_not_exist() | (User.seen_at < local_moment(settings, today, 0))
    try:
        User(user.user_id).update(actions=[User.seen_at.set(now)], condition=condition)
    except UpdateError as exc:
        if not condition_failed(exc):
            logger.warning("could not record the user's visit", extra={"user_id": int(user.user_id)})
        first_today = False  # another update of today's counted the visit (or the user is gone)
    user.seen_at = now
    if first_today:
        stats.bump(stats.USERS, now, active_users=1)


def took(user_id: int, token: str) -> bool:
    """After a conditional write that set ``taken_by`` to ``token`` failed its condition: did
    that write land all the same (the SDK resent it after its answer was lost, and the resend
    met its own result)? One strongly consistent read, on that failure path only."""
    try:
        found = User.get(user_id, consistent_read=True, attributes_to_get=["taken_by"])
    except DoesNotExist:
        return False
    return found.taken_by == token


def save_draft(user_id: int, draft: Draft) -> Draft:
    """Store the draft; its id is the condition that confirming consumes."""
    User(user_id).update(actions=[User.draft.set(draft.dump()), User.draft_nonce.set(draft.id)])
    return draft


def clear_draft(user_id: int) -> None:
    User(user_id).update(actions=[User.draft.remove(), User.draft_nonce.remove()])


def draft_of(user: User | None) -> Draft | None:
    return Draft.load(user.draft) if user is not None else None


def reward_referrer_on_first_payment(settings: Settings, user: User) -> int | None:
    """The invited user's payment settled: the referrer's reward, once ever (``ref#<user>``).

    Returns the referrer's id when this call rewarded them (tell them), else None.
    """
    if (
        settings.referral_trigger != "first_payment"
        or user.referrer_id is None
        or not settings.referral_reward
    ):
        return None
    referrer_id = int(user.referrer_id)
    if referrer_id == int(user.user_id):
        return None
    try:
        applied = apply(
            Posting(referrer_id, f"ref#{user.user_id}", settings.referral_reward, EntryKind.REFERRAL)
        )
    except UnknownUserError:
        return None
    return referrer_id if applied else None
