"""When a subscriber is next due for a subscription notice, from the facts on their item (pure).

Two notices a period (a period is one value of ``subscription_until``): a reminder
``SUB_REMINDER_DAYS`` before the end, for a subscription that won't renew by itself, and a
message once it has ended. ``sub_reminded`` / ``sub_ended`` hold the ``subscription_until``
each was sent for, so each goes once per period; a new ``subscription_until`` (a renewal, an
extension) is a new period.

The sparse key ``User.sub_at`` (index ``User.sub_due``) is set from ``next_notice`` by the
update that changes the facts (a subscription charge settled: ``genbot.payments.subscriptions``;
a refund that ends the subscription: ``genbot.payments.refunds``) and moved with it by the
``subscription_notices`` run (``genbot.notify.subscriptions``), so the two can't disagree. It
lives here, below both ``payments`` and ``notify``, so neither imports the other.

Whether the subscription renews is decided when a notice is due, from the item (cancelling or
resuming the renewal moves no key): the key sits at the reminder time for every subscriber;
the run skips the reminder of one that renews and, at the end, gives Telegram's renewal charge
``RENEWAL_GRACE_SECONDS`` to arrive before saying the subscription ended.
"""

from __future__ import annotations

from pynamodb.expressions.update import Action

from genbot.config import Settings
from genbot.store.models import DUE, User

DAY = 24 * 3600
# Telegram charges a renewing Stars subscription around its expiration date; its
# successful_payment may come a little late. Until this much after the end, a renewing
# subscription is not called ended.
RENEWAL_GRACE_SECONDS = 6 * 3600


def renews(user: User) -> bool:
    """Does Telegram renew this subscription by itself (a monthly plan, renewal not cancelled)?"""
    return bool(user.subscription_renews) and bool(user.subscription_charge_id)


def reminder_at(settings: Settings, until: int) -> int:
    return until - settings.sub_reminder_days * DAY


def ended_at(user: User, until: int) -> int:
    """When the subscription counts as ended: its end, plus the grace for a renewing one."""
    return until + (RENEWAL_GRACE_SECONDS if renews(user) else 0)


def sent_for(value: int | float | None, until: int) -> bool:
    """Was a notice (``sub_reminded`` / ``sub_ended``) sent for the period ending at ``until``?"""
    return value is not None and int(value) == until


def next_notice(settings: Settings, user: User, now: float) -> int | None:
    """The epoch second the user is next due for a subscription notice (it may be ``now`` or
    earlier: due at once), or None when nothing is left to say for this period.

    The reminder's time while its moment is still to come (now or later) and it wasn't sent for
    this period; else the end (the run then skips the reminder and says "ended"); past the end,
    the end (plus the grace for a renewing one).
    """
    if user.subscription_until is None:
        return None
    until = int(user.subscription_until)
    if sent_for(user.sub_ended, until):
        return None
    remind = reminder_at(settings, until)
    if not sent_for(user.sub_reminded, until) and now <= remind:
        return remind
    if now < until:
        return until
    return ended_at(user, until)


def sub_key(at: int | None) -> list[Action]:
    """Put the user in the subscription notices' index at ``at`` (None: out of it)."""
    if at is None:
        return [User.sub_at.remove(), User.sub_q.remove()]
    return [User.sub_at.set(at), User.sub_q.set(DUE)]


def sub_key_now(settings: Settings, user: User, now: float) -> list[Action]:
    """The key as the facts on ``user`` make it now (e.g. when /settings turns the notices back
    on, or the user comes back after blocking the bot)."""
    return sub_key(next_notice(settings, user, now))
