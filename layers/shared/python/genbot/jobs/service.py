"""Jobs and their money: creating one debits its price, failing one refunds it, once.

State machine ``queued -> running -> succeeded | failed``; every move is a conditional
update, so a redelivered SQS message or a crash-and-retry can't move a job twice. Creation
is one transaction (ledger debit + user counters + the job item), keyed by the job id, which
derives from the Telegram update that asked for it: a redelivered update can't charge twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.update import Action

from genbot.config import Settings
from genbot.jobs import queue
from genbot.jobs.messages import JobMessage
from genbot.ledger import ConditionFailedError, Posting, apply
from genbot.observability import logger, metrics
from genbot.store.models import Job, User, now_ms
from genbot.store.transaction import Transaction, TransactionCancelledError
from genbot.vocab import EntryKind, JobStatus, Mode, Tier


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


def create(settings: Settings, new: NewJob, *, draft_id: str | None = None) -> Job | None:
    """Debit and create the job in one transaction, then queue it. None for a replay.

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
        created_at=now_ms(),
    )
    condition = User.active_jobs < settings.max_user_queue
    # A started job ends the draft it came from (and any other being set up).
    actions: list[Action] = [User.active_jobs.add(1), User.draft.remove(), User.draft_nonce.remove()]
    if draft_id is not None:
        condition &= User.draft_nonce == draft_id
    try:
        applied = apply(
            Posting(new.user_id, f"job#{new.job_id}#debit", -new.price, EntryKind.DEBIT, note=new.mode),
            user_actions=actions,
            user_condition=condition,
            extra=[lambda tx: tx.save("job", job, condition=Job.job_id.does_not_exist())],
        )
    except ConditionFailedError as exc:
        if exc.item == "job":  # the job exists already: a replay
            return None
        user = User.get(new.user_id, consistent_read=True)
        if user.active_jobs >= settings.max_user_queue:
            raise TooManyJobsError(new.user_id) from exc
        raise StaleDraftError(new.user_id) from exc
    if not applied:
        return None
    metrics.add_metric(name="JobsCreated", unit="Count", value=1)
    try:
        queue.send(JobMessage(job_id=job.job_id))
    except Exception:
        logger.exception("could not queue the job; refunding", extra={"job_id": job.job_id})
        fail(job, "queue_unavailable")
        raise
    return job


def get(job_id: str) -> Job | None:
    try:
        return Job.get(job_id, consistent_read=True)
    except DoesNotExist:
        return None


def start(job: Job) -> bool:
    """queued -> running (counting the attempt). False when it isn't queued any more."""
    try:
        job.update(
            actions=[Job.status.set(JobStatus.RUNNING), Job.attempts.add(1), Job.updated_at.set(now_ms())],
            condition=Job.status == JobStatus.QUEUED,
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def record_operation(job: Job, provider: str, operation: str, key_id: str, model: str) -> None:
    """Remember a long-running provider operation so later polls resume it."""
    job.update(
        actions=[
            Job.provider.set(provider),
            Job.provider_key_id.set(key_id),
            Job.provider_model.set(model),
            Job.operation.set(operation),
            Job.polls.add(1),
            Job.updated_at.set(now_ms()),
        ],
        condition=Job.status == JobStatus.RUNNING,
    )


def succeed(
    job: Job, *, result_key: str, mime: str, provider: str, model: str = "", text: str | None = None
) -> bool:
    """running -> succeeded, claiming delivery; frees the user's slot. False if already moved."""
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
            Job.delivered.set(True),
            Job.updated_at.set(now_ms()),
        ],
        condition=Job.status == JobStatus.RUNNING,
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
    return True


def fail(job: Job, reason: str) -> bool:
    """Refund and mark failed, exactly once. False when the job had already finished."""
    try:
        applied = apply(
            Posting(
                int(job.user_id), f"job#{job.job_id}#refund", int(job.price), EntryKind.REFUND, note=reason
            ),
            user_actions=[User.active_jobs.add(-1)],
            extra=[
                lambda tx: tx.update(
                    "job",
                    job,
                    actions=[
                        Job.status.set(JobStatus.FAILED),
                        Job.error_code.set(reason),
                        Job.updated_at.set(now_ms()),
                    ],
                    condition=Job.status.is_in(JobStatus.QUEUED, JobStatus.RUNNING),
                )
            ],
        )
    except ConditionFailedError:
        return False
    if applied:
        metrics.add_metric(name="JobsFailed", unit="Count", value=1)
        logger.info("job failed and refunded", extra={"job_id": job.job_id, "reason": reason})
    return applied


def set_delivered(job: Job, delivered: bool, result_file_id: str | None = None) -> None:
    actions: list[Action] = [Job.delivered.set(delivered)]
    if result_file_id:
        actions.append(Job.result_file_id.set(result_file_id))
    job.update(actions=actions)
