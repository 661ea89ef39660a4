"""Who pays for an assistant message, in order: the subscription's daily allowance, the free
trial, then ``COST_CHAT`` credits. ``choose`` decides from the user item as read; the update
that charges (``genbot.chat.service``) re-checks the same facts in its conditions, so two
messages racing for the last trial message can't both take it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from genbot.config import Settings
from genbot.payments.subscriptions import terms
from genbot.store.models import User
from genbot.users.notices import local_day
from genbot.vocab import Funding


@dataclass(frozen=True)
class Allowance:
    """What the user has for the assistant right now."""

    subscribed: bool
    daily_cap: int
    used_today: int
    trial_left: int | None  # None: never activated
    balance: int
    cost: int

    @property
    def subscription_left(self) -> int:
        return max(0, self.daily_cap - self.used_today) if self.subscribed else 0


def allowance(settings: Settings, user: User, now: float | None = None) -> Allowance:
    at = time.time() if now is None else now
    subscribed = user.subscription_until is not None and int(user.subscription_until) > at
    today = local_day(settings, at).isoformat()
    used = int(user.chat_day_count or 0) if user.chat_day == today else 0
    return Allowance(
        subscribed=subscribed,
        daily_cap=terms(settings).chat_per_day if subscribed else 0,
        used_today=used,
        trial_left=int(user.chat_trial_left) if user.chat_trial_left is not None else None,
        balance=int(user.balance),
        cost=settings.cost_chat,
    )


def choose(settings: Settings, user: User, now: float | None = None) -> Funding | None:
    """The first way to pay that applies, or None (then the message is not sent anywhere)."""
    have = allowance(settings, user, now)
    if have.subscription_left > 0:
        return Funding.SUBSCRIPTION
    if (have.trial_left or 0) > 0:
        return Funding.TRIAL
    if have.balance >= have.cost:
        return Funding.CREDITS
    return None


def charge(
    settings: Settings, user: User, funding: Funding, now: float | None = None
) -> tuple[list[Action], Condition | None]:
    """The user update's actions and condition for a non-credit charge (credits go through the
    ledger: ``genbot.jobs.service`` debits ``COST_CHAT``)."""
    at = time.time() if now is None else now
    if funding == Funding.TRIAL:
        return [User.chat_trial_left.add(-1)], User.chat_trial_left > 0
    if funding == Funding.SUBSCRIPTION:
        today = local_day(settings, at).isoformat()
        cap = terms(settings).chat_per_day
        active = User.subscription_until > int(at)
        if user.chat_day == today:
            return [User.chat_day_count.add(1)], active & (User.chat_day == today) & (
                User.chat_day_count < cap
            )
        # the first message of the day: the count starts again (two racing first messages may
        # both start it: the allowance is fair use, not money)
        return [User.chat_day.set(today), User.chat_day_count.set(1)], active & (
            User.chat_day.does_not_exist() | (User.chat_day != today)
        )
    return [], None
