"""What every notice shares: who may get one, the clock in the app's time zone, the sending.

The scheduled rules read their candidates from a sparse "due" index (``User.offer_due``,
``User.bonus_due``, ``User.sub_due``: partition ``DUE``, sort key the epoch second the user is
due), and move a user's key with a conditional update on the key's old value: two overlapping
runs, or a retried one, can't both take the same user, so each notice goes once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiogram import Bot
from aiogram.methods import TelegramMethod
from pynamodb.attributes import NumberAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from genbot import runtime
from genbot.config import Settings, get_settings
from genbot.i18n import N_, translate
from genbot.observability import logger, metrics
from genbot.store.models import DUE, User, condition_failed
from genbot.telegram.pacing import Pacer, pacer
from genbot.telegram.sending import Disposition, SendFailure, send
from genbot.users import set_blocked, took
from genbot.vocab import NoticeKind

PAGE = 100  # due users read per query page
RUN_BUDGET_SECONDS = 45.0  # of the function's 60 s

# the line under every notice: how to turn its kind off
HOW_TO_MUTE = N_("🔕 Turn these messages off: /settings")


class Outcome(StrEnum):
    SENT = "sent"
    SKIPPED = "skipped"  # opted out, blocked, no longer eligible
    BLOCKED = "blocked"  # Telegram said the user blocked the bot (or the chat is gone)
    FAILED = "failed"  # Telegram refused this message
    RETRY = "retry"  # flood control or an outage: try again later


@dataclass
class RunReport:
    """What one scheduled run did, returned by the handler (and logged)."""

    task: str
    read: int = 0  # items read from the due index
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: Outcome) -> None:
        self.outcomes[str(outcome)] = self.outcomes.get(str(outcome), 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {"task": self.task, "read": self.read, **self.outcomes}


def wants(user: User, kind: NoticeKind) -> bool:
    """May the user get this kind of notice? Not if they blocked the bot, are banned or turned
    it off."""
    return not user.blocked and not user.banned and str(kind) not in (user.muted or set())


def with_footer(text: str, language: str) -> str:
    return f"{text}\n\n{translate(HOW_TO_MUTE, language)}"


async def deliver(
    bot: Bot, user: User, method: TelegramMethod[Any], *, kind: str, pace: Pacer | None = None
) -> tuple[Outcome, int]:
    """Send one notice through the one sending path, paced (``genbot.telegram.pacing``: this
    thread's share of ``BROADCAST_RATE``); (outcome, retry_after seconds).

    A 403 (or a deleted chat) marks the user blocked: nothing is sent to them again until
    they come back (``genbot.bot.chat_member``). A 429 pauses the pacer for its retry_after.
    """
    user_id = int(user.user_id)
    pace = pace or pacer(get_settings())
    await pace.wait()
    try:
        await send(bot, method, user_id=user_id, notice=kind)
    except SendFailure as failure:
        if failure.disposition == Disposition.RETRY:
            pace.pause(failure.retry_after)
        if failure.disposition == Disposition.CHAT_GONE:
            set_blocked(user_id, True)
            metrics.add_metric(name="NoticesBlocked", unit="Count", value=1)
            return Outcome.BLOCKED, 0
        if failure.retryable:
            return Outcome.RETRY, failure.retry_after
        return Outcome.FAILED, 0
    metrics.add_metric(name="NoticesSent", unit="Count", value=1)
    return Outcome.SENT, 0


def due(index: Any, now: int, *, limit: int | None = None) -> Iterator[User]:
    """Users whose key in the sparse ``index`` is due (<= ``now``), earliest first."""
    range_key = next(a for a in index.Meta.attributes.values() if a.is_range_key)
    sort_attr: NumberAttribute = getattr(User, range_key.attr_name)
    yield from index.query(DUE, sort_attr <= now, page_size=PAGE, limit=limit)


def move_key(
    user: User,
    attr: NumberAttribute,
    queue_attr: Any,
    new_at: int | None,
    extra: list[Action] | None = None,
    condition: Condition | None = None,
) -> bool:
    """Take this user's turn: move their due key from its value as read to ``new_at`` (None:
    out of the index), with ``extra`` actions, in one conditional update. False when another
    run moved it first (that run sends the notice, this one doesn't), or when ``condition``
    (the facts the notice rests on, checked on the table: index reads may lag) no longer holds.

    The update writes a token: when its condition fails, one read (that path only) tells this
    update's own SDK resend (the first attempt landed, its answer was lost) from another run's
    move, so the notice is not left unsent.
    """
    old = getattr(user, attr.attr_name)
    token = uuid.uuid4().hex  # the same bytes in every SDK attempt of this one UpdateItem
    actions: list[Action] = [*(extra or []), User.taken_by.set(token)]
    if new_at is None:
        actions += [attr.remove(), queue_attr.remove()]
    else:
        actions += [attr.set(new_at), queue_attr.set(DUE)]
    check = attr == old
    if condition is not None:
        check &= condition
    try:
        User(user.user_id).update(actions=actions, condition=check)
    except UpdateError as exc:
        if condition_failed(exc):
            return took(int(user.user_id), token)
        raise
    return True


Decide = Callable[[Settings, Bot, User, int], Coroutine[Any, Any, Outcome]]


def run_due(task: str, index: Any, settings: Settings, now: float | None, decide: Decide) -> dict[str, Any]:
    """One scheduled run at ``now`` (default: the clock): each user due in ``index`` (earliest
    first) through ``decide``, within the run's time budget; a flood-control answer ends the
    run (the rest stay due for the next one)."""
    at = int(time.time() if now is None else now)
    report = RunReport(task)
    started = time.monotonic()
    bot = runtime.bot()
    for user in due(index, at):
        report.read += 1
        outcome = runtime.run(decide(settings, bot, user, at))
        report.add(outcome)
        if outcome == Outcome.RETRY:
            logger.warning("notify run paused by Telegram", extra={"task": task})
            break
        if time.monotonic() - started > RUN_BUDGET_SECONDS:
            logger.warning("notify run out of time; the rest stay due", extra={"task": task})
            break
    return log_run(report)


def log_run(report: RunReport) -> dict[str, Any]:
    logger.info("notify run", extra=report.as_dict())
    return report.as_dict()
