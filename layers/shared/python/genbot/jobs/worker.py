"""The generate Lambda's logic: one SQS message moves one job one step.

Steps: start (queued -> running, taking the job's lease), call the provider, check its
output, store it in S3, mark the job succeeded (claiming delivery), send it. A long video is
a provider operation: its id is stored on the job and the job re-queued with a delay to poll
it, never slept on. Permanent failures (refusal, bad input, bad output) refund at once;
transient ones back off and retry through SQS; after ``maxReceiveCount`` receives the message
lands in the DLQ, whose consumer (this same code, ``dead=True``) refunds. A result Telegram
refuses in every form is refunded once; a chat that is gone marks the user and refunds; a
revoked token retries and alarms. Every move is conditional and leased: a redelivered
message, two copies of one, or a crash between steps can't call the provider twice, send
twice or refund twice.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.base import FailureResponse
from aws_lambda_powertools.utilities.batch.exceptions import ExceptionInfo
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from botocore.exceptions import ClientError
from pydantic import Json

from genbot import runtime
from genbot.config import Settings, get_settings
from genbot.jobs import delivery, media, queue, service
from genbot.jobs.inputs import RetryLaterError, download
from genbot.jobs.media_check import BadOutputError, Form, forms, inspect
from genbot.jobs.messages import JobMessage, JobStep
from genbot.observability import adopt_trace, logger, metrics
from genbot.providers.base import (
    GenerationRequest,
    InvalidInputError,
    MediaResult,
    Pending,
    RefusedError,
    TransientError,
    sniff_mime,
)
from genbot.providers.router import ProviderRouter
from genbot.store.models import Job
from genbot.telegram.sending import Disposition, SendFailure
from genbot.users import get_user, set_blocked
from genbot.vocab import JobStatus, Mode, Tier

_local = threading.local()


class JobRecord(SqsRecordModel):
    """An SQS record of the jobs queue (or its DLQ), its body parsed as a ``JobMessage``."""

    body: Json[JobMessage]


def providers() -> ProviderRouter:
    """This thread's router, rebuilt when the settings change (the local stack reloads them)."""
    settings = get_settings()
    current: ProviderRouter | None = getattr(_local, "router", None)
    if current is None or current.settings is not settings:
        current = _local.router = ProviderRouter(settings)
    return current


def backoff(receive_count: int) -> int:
    return min(300, 15 * 2 ** max(0, receive_count - 1))


class JobBatchProcessor(BatchProcessor):
    """Powertools' SQS batch processor that logs every failed record at ERROR and counts it."""

    def failure_handler(self, record: Any, exception: ExceptionInfo) -> FailureResponse:
        body = getattr(record, "body", None)
        job_id = getattr(body, "job_id", None)
        logger.error(
            "job record failed",
            extra={"job_id": job_id, "error": f"{type(exception[1]).__name__}: {exception[1]}"[:500]},
        )
        metrics.add_metric(name="JobRecordFailures", unit="Count", value=1)
        return super().failure_handler(record, exception)


def processor() -> JobBatchProcessor:
    # Batch size is 1: a failed record is the whole batch. Report it as a batch item failure (the
    # worker already set its backoff) rather than a function error that would trip the alarm.
    return JobBatchProcessor(event_type=EventType.SQS, model=JobRecord, raise_on_entire_batch_failure=False)


def handle_record(record: JobRecord) -> None:
    """Powertools BatchProcessor's record handler: raise to have this one message retried."""
    settings = get_settings()
    message = record.body
    dead = bool(settings.jobs_dlq_arn) and record.eventSourceARN == settings.jobs_dlq_arn
    adopt_trace(record.messageAttributes)  # the update (and API request) that made the job
    logger.append_keys(job_id=message.job_id, dead_letter=dead)
    try:
        runtime.run(process(message, dead=dead))
    except RetryLaterError as exc:
        receive_count = int(record.attributes.ApproximateReceiveCount or 1)
        delay = max(exc.delay, backoff(receive_count))
        logger.warning("retrying later", extra={"reason": str(exc), "delay": delay, "receive": receive_count})
        metrics.add_metric(name="JobRetries", unit="Count", value=1)
        if not dead:
            queue.retry_later(settings.jobs_queue_url, record.receiptHandle, delay)
        raise


async def process(message: JobMessage, *, dead: bool = False) -> None:
    settings = get_settings()
    job = service.get(message.job_id)
    if job is None:
        logger.warning("message for an unknown job dropped")
        return
    if message.action == JobStep.ORIGINAL:
        await _original(job, message.user_id)
        return
    owner = uuid.uuid4().hex  # this copy of the message
    if dead:
        await _give_up(job, "unavailable")
        return
    if job.status == JobStatus.SUCCEEDED:
        if job.delivered:
            return
        # stored but not sent (a send failed, or its worker died): send it, one copy at a time
        if not service.acquire(job, owner, JobStatus.SUCCEEDED):
            raise RetryLaterError(30, "another worker is delivering the job")
        try:
            await _deliver(job, _stored(job), str(job.result_mime), job.result_text, owner)
        except BaseException:
            service.release(job, owner)
            raise
        return
    if job.status == JobStatus.FAILED:
        return
    if job.status == JobStatus.QUEUED and service.start(job, owner):
        job.status = JobStatus.RUNNING
        await delivery.status(runtime.bot(), job)
    else:
        job = service.get(job.job_id) or job
        if job.status != JobStatus.RUNNING:
            return
        # our lease already: this copy's start landed and its SDK resend (the answer lost) is
        # what failed; the job is ours and has just started
        started = job.lease_owner == owner
        if not started and not service.acquire(job, owner):
            raise RetryLaterError(30, "another worker holds the job's lease")
        if job.operation or started:
            await delivery.status(runtime.bot(), job)  # each poll: the user sees it's still going
    try:
        await _run(settings, job, owner)
    except BaseException:
        service.release(job, owner)  # the retry may take the job at once
        raise


def _stored(job: Job) -> bytes:
    return media.get(str(job.result_key)) if job.result_key else b""


async def _chat(settings: Settings, job: Job, owner: str) -> None:
    """An assistant message: answered, or explained and refunded once."""
    from genbot.chat.answer import answer  # the chat stack only where chat jobs run

    user = get_user(int(job.user_id))
    language = str(user.chat_language) if user is not None and user.chat_language else None
    trial_left = int(user.chat_trial_left) if user is not None and user.chat_trial_left is not None else None
    try:
        await answer(settings, job, owner, language, providers().pool, trial_left)
    except RefusedError:
        await _give_up(job, "refused")
    except InvalidInputError as exc:
        logger.warning("chat input refused", extra={"error": str(exc)[:300]})
        await _give_up(job, "invalid_input")
    except TransientError as exc:  # retried inside the job already: the user is waiting
        logger.error("the assistant is unavailable", extra={"error": str(exc)[:300]})
        await _give_up(job, "unavailable")
    except SendFailure as failure:
        if failure.retryable:
            raise RetryLaterError(failure.retry_after, f"telegram: {failure}") from failure
        if failure.disposition == Disposition.CHAT_GONE:
            set_blocked(int(job.user_id), True)
            service.fail(job, "chat_gone")
            return
        await _give_up(job, "undeliverable")


async def _run(settings: Settings, job: Job, owner: str) -> None:
    if job.mode == Mode.CHAT:
        await _chat(settings, job, owner)
        return
    router = providers()
    try:
        if job.operation:
            if int(job.polls) >= settings.video_max_polls:
                await _give_up(job, "timeout")
                return
            pending = Pending(
                str(job.operation), str(job.provider), str(job.provider_key_id), str(job.provider_model)
            )
            outcome = await router.poll(pending)
        else:
            outcome = await router.run(await _request(settings, job))
    except RefusedError as exc:
        await _give_up(job, f"refused:{getattr(exc, 'reason', 'safety')}")
        return
    except InvalidInputError:
        await _give_up(job, "invalid_input")
        return
    except TransientError as exc:
        raise RetryLaterError(int(getattr(exc, "retry_after", None) or 0), f"provider: {exc}") from exc

    if isinstance(outcome, Pending):
        service.record_operation(
            job,
            owner,
            outcome.provider,
            outcome.operation,
            outcome.key_id,
            outcome.model,
            settings.video_poll_seconds,
        )
        queue.send(JobMessage(job_id=job.job_id), delay_seconds=settings.video_poll_seconds)
        return
    await _succeed(job, outcome, owner)


async def _request(settings: Settings, job: Job) -> GenerationRequest:
    image, mime = None, None
    if job.input_file_id:
        image, mime = await _download(settings, str(job.input_file_id))
    return GenerationRequest(
        mode=Mode(job.mode),
        tier=Tier(job.tier),
        prompt=str(job.prompt or ""),
        image=image,
        image_mime=mime,
        language=str(job.language),
        variant=int(job.variant or 0),
    )


async def _download(settings: Settings, file_id: str) -> tuple[bytes, str]:
    """The user's photo, checked to be an image by its bytes."""
    data = await download(settings, file_id)
    mime = sniff_mime(data)  # Telegram's mime_type is only the sender's word
    if mime is None or not mime.startswith("image/"):
        raise InvalidInputError("input is not a JPEG, PNG or WebP image")
    return data, mime


async def _succeed(job: Job, result: MediaResult, owner: str) -> None:
    if job.mode == Mode.DESCRIBE:
        if not (result.text or "").strip():
            await _give_up(job, "bad_output")
            return
        mime, payload = "text/plain", (result.text or "").encode()
    else:
        try:
            info = inspect(result.data)  # the provider's word on the type is not enough
        except BadOutputError as exc:
            logger.error("provider output refused", extra={"provider": result.provider, "reason": str(exc)})
            metrics.add_metric(name="ProviderBadOutput", unit="Count", value=1)
            await _give_up(job, "bad_output")
            return
        expected = "video/" if job.mode == Mode.VIDEO else "image/"
        if not info.mime.startswith(expected):
            logger.error("provider output of the wrong kind", extra={"mime": info.mime, "mode": job.mode})
            await _give_up(job, "bad_output")
            return
        mime, payload = info.mime, result.data
    key = media.put(int(job.user_id), job.job_id, payload, mime)
    stored = service.succeed(
        job,
        owner=owner,
        result_key=key,
        mime=mime,
        provider=result.provider,
        model=result.model,
        text=result.text,
    )
    if not stored:
        return  # another delivery of this message got there first
    job.status = JobStatus.SUCCEEDED
    await _deliver(job, payload, mime, result.text, owner)


async def _deliver(job: Job, data: bytes, mime: str, text: str | None, owner: str) -> None:
    """Send the result in the best form Telegram takes; what it never takes is refunded once."""
    bot = runtime.bot()
    candidates: list[Form | None] = [None]
    if job.mode != Mode.DESCRIBE:
        try:
            candidates = list(forms(inspect(data)))
        except BadOutputError:
            candidates = [Form.DOCUMENT, Form.LINK]
    last: SendFailure | None = None
    for form in candidates:
        try:
            message = await delivery.send_result(bot, job, data, mime, text, form)
        except SendFailure as failure:
            last = failure
            if failure.disposition == Disposition.REJECTED:
                continue  # another form may pass (a document, then a link)
            await _undelivered(job, failure, owner)
            return
        file_id = None
        if message is not None and message.photo:
            file_id = message.photo[-1].file_id
        elif message is not None and message.video:
            file_id = message.video.file_id
        service.delivered(job, file_id)
        await delivery.finish_status(bot, job)
        return
    assert last is not None
    await _undelivered(job, last, owner)


async def _undelivered(job: Job, failure: SendFailure, owner: str) -> None:
    """A send failed: retry what may pass later, refund what never will."""
    if failure.retryable:
        service.release(job, owner)
        if failure.disposition == Disposition.AUTH:
            logger.error(
                "Telegram rejects the bot token: result kept, retrying", extra={"job_id": job.job_id}
            )
            metrics.add_metric(name="TelegramAuthFailures", unit="Count", value=1)
        raise RetryLaterError(failure.retry_after, f"telegram: {failure}")
    if failure.disposition == Disposition.CHAT_GONE:
        set_blocked(int(job.user_id), True)
        service.refund_undelivered(job, "chat_gone")
        return
    if service.refund_undelivered(job, "undeliverable"):
        await delivery.send_failure(runtime.bot(), job, "undeliverable")


async def _give_up(job: Job, reason: str) -> None:
    """Refund once and tell the user; a job already finished is left alone."""
    if service.fail(job, reason):
        await delivery.send_failure(runtime.bot(), job, reason)


async def _original(job: Job, user_id: int | None) -> None:
    """The stored result as a file; an expired one gets a clear answer, never a retry loop."""
    if int(job.user_id) != user_id or job.status != JobStatus.SUCCEEDED or not job.result_key:
        logger.warning("original file refused", extra={"user_id": user_id})
        return
    bot = runtime.bot()
    try:
        data = media.get(str(job.result_key))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
            raise
        service.original_done(job)
        await delivery.send_notice(bot, job, delivery.ORIGINAL_EXPIRED)
        return
    try:
        await delivery.send_original(bot, job, data)
    except SendFailure as failure:
        if failure.retryable:
            raise RetryLaterError(failure.retry_after, f"telegram: {failure}") from failure
        if failure.disposition == Disposition.CHAT_GONE:
            set_blocked(int(job.user_id), True)
        else:
            await delivery.send_notice(bot, job, delivery.ORIGINAL_REFUSED)
    service.original_done(job)
