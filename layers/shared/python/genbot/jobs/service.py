"""Jobs and their money: creating one debits its price, failing one refunds it, once.

State machine ``queued -> running -> succeeded | failed``; every move is a conditional
update, so a redelivered SQS message or a crash-and-retry can't move a job twice. Creation
is one transaction (ledger debit + user counters + the job item), keyed by the job id, which
derives from the Telegram update that asked for it: a redelivered update can't charge twice,
and a replay of a job still queued sends its message again (the webhook may have died between
the debit and the send).

A debited job always ends delivered or refunded:
- a *lease* (owner + expiry, conditional) lets one copy of a message work a job; another
  copy backs off;
- while a job is queued or running it carries ``sweep``/``sweep_at`` (a sparse index): if it
  hasn't moved on by ``sweep_at`` the sweeper (``genbot.jobs.sweeper``) re-sends its message,
  and refunds it once it is hopeless;
- only "this ledger entry already exists" counts as done; every other failure raises, so SQS
  retries.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from genbot import stats
from genbot.config import Settings
from genbot.jobs import queue
from genbot.jobs.messages import JobMessage
from genbot.ledger import ConditionFailedError, ExtraItem, Posting, apply
from genbot.observability import logger, metrics
from genbot.store.models import FAILED, Job, User, condition_failed, now_ms
from genbot.store.transaction import Transaction, TransactionCancelledError
from genbot.users.notices import offer_key_on_debit
from genbot.vocab import EntryKind, Funding, JobStatus, Mode, Tier

SWEEP = "active"
QUEUED_GRACE_MS = 10 * 60_000  # a queued job should have started well within this
LEASE_MS = 180_000  # longer than the worker's timeout (150 s): a dead worker's lease expires
STEP_GRACE_MS = 10 * 60_000  # a running job should have moved on within this after a step


def _sweep_at(after_ms: int) -> int:
    return now_ms() + after_ms


class JobError(Exception):
    """Base for job-creation refusals the user is told about."""


class TooManyJobsError(JobError):
    """The user already has MAX_USER_QUEUE jobs in flight."""


class StaleDraftError(JobError):
    """The confirmation is for a draft that was already used or replaced (double tap)."""


@dataclass(frozen=True)
class NewJob:
    job_id: str
    user_id: int
    chat_id: int
    mode: Mode
    tier: Tier
    prompt: str
    price: int
    language: str = "ru"
    input_file_id: str | None = None
    status_message_id: int | None = None
    variant: int = 0
    # chat jobs (genbot.chat): how the message is paid, its photo or voice, its conversation
    funding: Funding | None = None
    input_kind: str | None = None
    conv_id: str | None = None


def create(
    settings: Settings,
    new: NewJob,
    *,
    draft_id: str | None = None,
    user: User | None = None,
    user_actions: Sequence[Action] = (),
    user_condition: Condition | None = None,
    extra: Sequence[ExtraItem] = (),
    created_ms: int | None = None,
) -> Job | None:
    """Debit and create the job in one transaction, then queue it. None for a replay.

    ``user`` (the item as read for this update) lets the debit of a first generation that
    empties the balance put the user in the discount offer's due index. ``user_actions``,
    ``user_condition`` and ``extra`` join the transaction (an assistant message: the trial or
    the daily allowance it takes, the question it asks).

    Raises InsufficientFundsError, TooManyJobsError, StaleDraftError.
    """
    job = Job(
        new.job_id,
        user_id=new.user_id,
        chat_id=new.chat_id,
        mode=str(new.mode),
        tier=str(new.tier),
        prompt=new.prompt,
        variant=new.variant or None,
        price=new.price,
        language=new.language,
        input_file_id=new.input_file_id,
        status_message_id=new.status_message_id,
        status=JobStatus.QUEUED,
        created_at=created_ms or now_ms(),
        sweep=SWEEP,
        sweep_at=_sweep_at(QUEUED_GRACE_MS),
        funding=str(new.funding) if new.funding else None,
        input_kind=new.input_kind,
        conv_id=new.conv_id,
    )
    condition = User.active_jobs < settings.max_user_queue
    actions: list[Action] = [User.active_jobs.add(1), *user_actions]
    if new.mode != Mode.CHAT:
        # A started generation ends the draft it came from (and any other being set up).
        actions += [User.draft.remove(), User.draft_nonce.remove()]
    if user_condition is not None:
        condition &= user_condition
    if user is not None and new.mode != Mode.CHAT:
        actions += offer_key_on_debit(settings, user, new.price, int(time.time()))
    if draft_id is not None:
        condition &= User.draft_nonce == draft_id
    try:
        applied = apply(
            Posting(new.user_id, f"job#{new.job_id}#debit", -new.price, EntryKind.DEBIT, note=new.mode),
            user_actions=actions,
            user_condition=condition,
            extra=[lambda tx: tx.save("job", job, condition=Job.job_id.does_not_exist()), *extra],
        )
    except ConditionFailedError as exc:
        if exc.item == "job":  # the job exists already: a replay
            resume(new.job_id)
            return None
        user = User.get(new.user_id, consistent_read=True)
        if user.active_jobs >= settings.max_user_queue:
            raise TooManyJobsError(new.user_id) from exc
        raise StaleDraftError(new.user_id) from exc
    if not applied:
        resume(new.job_id)
        return None
    metrics.add_metric(name="JobsCreated", unit="Count", value=1)
    try:
        queue.send(JobMessage(job_id=job.job_id))
    except Exception:
        logger.exception("could not queue the job; refunding", extra={"job_id": job.job_id})
        # the draft this debit consumed comes back with the credits: Start works again
        fail(job, "queue_unavailable", restore=_draft_back(user, draft_id))
        raise
    return job


def _draft_back(user: User | None, draft_id: str | None) -> list[Action]:
    """Set the user's draft back as read before ``create`` took it (nothing when there was none)."""
    if user is None or draft_id is None or user.draft is None:
        return []
    return [User.draft.set(user.draft), User.draft_nonce.set(draft_id)]


def resume(job_id: str) -> None:
    """A replayed creation: if the job is still queued, send its message again.

    The first delivery may have died between the debit and the send; a duplicate message is
    harmless (the worker's moves are conditional and leased).
    """
    job = get(job_id)
    if job is not None and job.status == JobStatus.QUEUED:
        logger.info("replayed creation of a queued job: message sent again", extra={"job_id": job_id})
        queue.send(JobMessage(job_id=job_id))


def get(job_id: str) -> Job | None:
    try:
        return Job.get(job_id, consistent_read=True)
    except DoesNotExist:
        return None


def start(job: Job, owner: str) -> bool:
    """queued -> running with ``owner``'s lease (counting the attempt). False if not queued.

    False too when this very update landed and its SDK resend (the first answer lost) is what
    failed: the job is then running under ``owner``'s lease, which the worker's re-read sees.
    (The condition doesn't accept it: the resend would count the attempt twice.)
    """
    now = now_ms()
    try:
        job.update(
            actions=[
                Job.status.set(JobStatus.RUNNING),
                Job.attempts.add(1),
                Job.updated_at.set(now),
                Job.lease_owner.set(owner),
                Job.lease_until.set(now + LEASE_MS),
                Job.sweep_at.set(now + LEASE_MS + STEP_GRACE_MS),
            ],
            condition=Job.status == JobStatus.QUEUED,
        )
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def acquire(job: Job, owner: str, status: JobStatus = JobStatus.RUNNING) -> bool:
    """Take the lease on a running job (or a succeeded one still to deliver); False while
    another worker holds an unexpired one."""
    now = now_ms()
    free = Job.lease_until.does_not_exist() | (Job.lease_until < now) | (Job.lease_owner == owner)
    try:
        job.update(
            actions=[
                Job.lease_owner.set(owner),
                Job.lease_until.set(now + LEASE_MS),
                Job.sweep_at.set(now + LEASE_MS + STEP_GRACE_MS),
            ],
            condition=(Job.status == status) & free,
        )
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def release(job: Job, owner: str, *, next_look_ms: int = STEP_GRACE_MS) -> None:
    """Give the lease back (a retry or the next poll may take it at once)."""
    try:
        job.update(
            actions=[
                Job.lease_owner.remove(),
                Job.lease_until.remove(),
                Job.sweep_at.set(now_ms() + next_look_ms),
            ],
            condition=Job.status.is_in(JobStatus.RUNNING, JobStatus.SUCCEEDED) & (Job.lease_owner == owner),
        )
    except UpdateError as exc:
        if not condition_failed(exc):
            raise


def record_operation(
    job: Job, owner: str, provider: str, operation: str, key_id: str, model: str, poll_in_s: int
) -> None:
    """Remember a long-running provider operation so later polls resume it; the lease is given
    back (the next poll takes it) and the sweeper looks again if no poll comes.

    A failed condition is read once (that path only): the operation recorded at this call's
    ``updated_at`` means this very update landed and its SDK resend is what failed (the lease it
    gives back is gone), so the poll goes on; anything else raises (the lease was lost).
    """
    now = now_ms()
    try:
        job.update(
            actions=[
                Job.provider.set(provider),
                Job.provider_key_id.set(key_id),
                Job.provider_model.set(model),
                Job.operation.set(operation),
                Job.polls.add(1),
                Job.updated_at.set(now),
                Job.lease_owner.remove(),
                Job.lease_until.remove(),
                Job.sweep_at.set(now + poll_in_s * 1000 + STEP_GRACE_MS),
            ],
            condition=(Job.status == JobStatus.RUNNING) & (Job.lease_owner == owner),
        )
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        found = get(job.job_id)
        if found is None or (found.operation, found.updated_at) != (operation, now):
            raise


def succeed(
    job: Job,
    *,
    owner: str,
    result_key: str,
    mime: str,
    provider: str,
    model: str = "",
    text: str | None = None,
) -> bool:
    """running -> succeeded (the result stored, to be sent); frees the user's slot. False if
    another copy got there first."""
    now = int(time.time())
    tx = Transaction()
    tx.update(
        "job",
        job,
        actions=[
            Job.status.set(JobStatus.SUCCEEDED),
            Job.result_key.set(result_key),
            Job.result_mime.set(mime),
            Job.result_text.set(text) if text else Job.result_text.remove(),
            Job.provider.set(provider),
            Job.provider_model.set(model) if model else Job.provider_model.remove(),
            Job.delivered.set(False),
            Job.updated_at.set(now_ms()),
            # the lease goes on: this worker sends the result next; if it dies doing so, the
            # lease runs out and the message's next delivery (or the sweep) sends it
            Job.lease_until.set(now_ms() + LEASE_MS),
            Job.sweep_at.set(now_ms() + LEASE_MS + STEP_GRACE_MS),
        ],
        condition=(Job.status == JobStatus.RUNNING) & (Job.lease_owner == owner),
    )
    tx.update(
        "user",
        User(job.user_id),
        actions=[
            User.active_jobs.add(-1),
            User.generations.add(1),
            User.first_generation_at.set(User.first_generation_at | now),
        ],
        condition=User.user_id.exists(),
    )
    try:
        tx.commit()
    except TransactionCancelledError as exc:
        if exc.failed("job"):
            logger.info("job already finished", extra={"job_id": job.job_id})
            return False
        raise
    metrics.add_metric(name="JobsSucceeded", unit="Count", value=1)
    metrics.add_metric(name="CreditsSpent", unit="Count", value=int(job.price))
    stats.bump(
        stats.generation_key(str(job.mode), provider),
        _created(job),
        jobs=1,
        succeeded=1,
        credits=int(job.price),
    )
    return True


def _created(job: Job) -> float:
    """The job's creation, in epoch seconds: the day its statistics count on."""
    return int(job.created_at) / 1000


def _refund(job: Job, reason: str, *, user_actions: list[Action], condition: Condition) -> bool:
    """Refund the job's price and mark it failed in one transaction, once (``job#<id>#refund``).

    False when the job's own condition failed (it finished otherwise) or the refund exists.
    """
    try:
        return apply(
            Posting(
                int(job.user_id), f"job#{job.job_id}#refund", int(job.price), EntryKind.REFUND, note=reason
            ),
            user_actions=user_actions,
            extra=[
                lambda tx: tx.update(
                    "job",
                    job,
                    actions=[
                        Job.status.set(JobStatus.FAILED),
                        Job.failed_q.set(FAILED),
                        Job.error_code.set(reason),
                        Job.delivered.set(False),
                        Job.updated_at.set(now_ms()),
                        Job.lease_owner.remove(),
                        Job.lease_until.remove(),
                        Job.sweep.remove(),
                        Job.sweep_at.remove(),
                    ],
                    condition=condition,
                )
            ],
        )
    except ConditionFailedError:
        return False


# what a failed assistant message gives back besides its credits (once, with the refund entry)
GIVE_BACK: dict[str, list[Action]] = {
    Funding.TRIAL: [User.chat_trial_left.add(1)],
    Funding.SUBSCRIPTION: [User.chat_day_count.add(-1)],
}


def fail(job: Job, reason: str, *, restore: Sequence[Action] = ()) -> bool:
    """Refund and mark failed, exactly once. False when the job had already finished.

    ``restore``: more of the user's item to set back with the refund (the draft a job that
    never reached the queue consumed)."""
    applied = _refund(
        job,
        reason,
        user_actions=[User.active_jobs.add(-1), *GIVE_BACK.get(str(job.funding or ""), []), *restore],
        condition=Job.status.is_in(JobStatus.QUEUED, JobStatus.RUNNING),
    )
    if applied:
        metrics.add_metric(name="JobsFailed", unit="Count", value=1)
        metrics.add_metric(name="CreditsRefunded", unit="Count", value=int(job.price))
        if job.mode == Mode.CHAT:
            stats.bump(stats.CHAT, _created(job), failed=1)
        else:
            stats.bump(stats.generation_key(str(job.mode), job.provider), _created(job), jobs=1, failed=1)
        logger.info("job failed and refunded", extra={"job_id": job.job_id, "reason": reason})
    return applied


def look_again(job: Job, after_ms: int) -> None:
    """The sweeper re-sent this job's message: don't look at it again before ``after_ms``."""
    try:
        job.update(actions=[Job.sweep_at.set(now_ms() + after_ms)], condition=Job.sweep.exists())
    except UpdateError as exc:
        if not condition_failed(exc):  # finished meanwhile: nothing to look at
            raise


def refund_undelivered(job: Job, reason: str) -> bool:
    """A stored result Telegram will never take (the chat is gone, the file refused): refund once.

    The job succeeded (its slot was freed then), so only the money and the status move:
    ``succeeded -> failed``. False when it was already refunded.
    """
    applied = _refund(
        job,
        reason,
        user_actions=[User.generations.add(-1)],
        condition=(Job.status == JobStatus.SUCCEEDED) & (Job.delivered == False),  # noqa: E712
    )
    if applied:
        metrics.add_metric(name="JobsRefundedUndelivered", unit="Count", value=1)
        metrics.add_metric(name="CreditsRefunded", unit="Count", value=int(job.price))
        stats.bump(
            stats.generation_key(str(job.mode), job.provider),
            _created(job),
            succeeded=-1,
            failed=1,
            credits=-int(job.price),
        )
        logger.error("result undeliverable: refunded", extra={"job_id": job.job_id, "reason": reason})
    return applied


def claim_original(job: Job, window_ms: int = 120_000) -> bool:
    """One "original file" request per job in flight: False while one is pending."""
    now = now_ms()
    try:
        job.update(
            actions=[Job.original_requested_at.set(now)],
            condition=Job.original_requested_at.does_not_exist()
            | (Job.original_requested_at < now - window_ms)
            # this update's own SDK resend (the first attempt landed, its answer was lost)
            | (Job.original_requested_at == now),
        )
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def original_done(job: Job) -> None:
    job.update(actions=[Job.original_requested_at.remove()])


@dataclass(frozen=True)
class ChatUsage:
    tokens_in: int
    tokens_out: int
    cost_micro_usd: int
    latency_ms: int
    first_piece_ms: int | None
    model: str


def answered(job: Job, owner: str, usage: ChatUsage) -> bool:
    """An assistant message answered and sent: running -> succeeded, delivered, its slot freed
    and what it cost recorded for the operator, in one transaction. False if another copy did."""
    tx = Transaction()
    tx.update(
        "job",
        job,
        actions=[
            Job.status.set(JobStatus.SUCCEEDED),
            Job.delivered.set(True),
            Job.provider.set("openai"),
            Job.provider_model.set(usage.model),
            Job.tokens_in.set(usage.tokens_in),
            Job.tokens_out.set(usage.tokens_out),
            Job.cost_micro_usd.set(usage.cost_micro_usd),
            Job.latency_ms.set(usage.latency_ms),
            *([Job.first_piece_ms.set(usage.first_piece_ms)] if usage.first_piece_ms is not None else []),
            Job.updated_at.set(now_ms()),
            Job.lease_owner.remove(),
            Job.lease_until.remove(),
            Job.sweep.remove(),
            Job.sweep_at.remove(),
        ],
        condition=(Job.status == JobStatus.RUNNING) & (Job.lease_owner == owner),
    )
    tx.update("user", User(job.user_id), actions=[User.active_jobs.add(-1)], condition=User.user_id.exists())
    try:
        tx.commit()
    except TransactionCancelledError as exc:
        if exc.failed("job"):
            return False
        raise
    metrics.add_metric(name="ChatAnswered", unit="Count", value=1)
    metrics.add_metric(name="CreditsSpent", unit="Count", value=int(job.price))
    stats.bump(
        stats.CHAT,
        _created(job),
        messages=1,
        tokens_in=usage.tokens_in,
        tokens_out=usage.tokens_out,
        cost_micro_usd=usage.cost_micro_usd,
        credits=int(job.price),
    )
    return True


def delivered(job: Job, result_file_id: str | None = None) -> None:
    """The result reached the user: the job is done (lease and sweep keys go)."""
    actions: list[Action] = [
        Job.delivered.set(True),
        Job.lease_owner.remove(),
        Job.lease_until.remove(),
        Job.sweep.remove(),
        Job.sweep_at.remove(),
    ]
    if result_file_id:
        actions.append(Job.result_file_id.set(result_file_id))
    job.update(actions=actions)
