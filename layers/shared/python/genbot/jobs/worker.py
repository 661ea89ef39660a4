"""The generate Lambda's logic: one SQS message moves one job one step.

Steps: start (queued -> running), call the provider, store the result in S3, mark it
succeeded (claiming delivery), send it. A long video is a provider operation: its id is
stored on the job and the job re-queued with a delay to poll it, never slept on. Permanent
failures (refusal, bad input) refund at once; transient ones back off and retry through
SQS; after ``maxReceiveCount`` receives the message lands in the DLQ, whose consumer (this
same code, ``dead=True``) refunds. Every move is conditional: a redelivered message, two
racing poll chains or a crash between steps can't send twice or refund twice.
"""

from __future__ import annotations

import threading

from aiogram.exceptions import (
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import Json

from genbot import runtime
from genbot.config import Settings, get_settings
from genbot.jobs import delivery, media, queue, service
from genbot.jobs.messages import JobMessage, JobStep
from genbot.observability import logger, metrics
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
from genbot.users import set_blocked
from genbot.vocab import JobStatus, Mode, Tier

_local = threading.local()


class JobRecord(SqsRecordModel):
    """An SQS record of the jobs queue (or its DLQ), its body parsed as a ``JobMessage``."""

    body: Json[JobMessage]


class RetryLaterError(Exception):
    """Transient trouble: make SQS deliver this message again after ``delay`` seconds."""

    def __init__(self, delay: int, reason: str) -> None:
        super().__init__(reason)
        self.delay = delay


def providers() -> ProviderRouter:
    """This thread's router, rebuilt when the settings change (the local stack reloads them)."""
    settings = get_settings()
    current: ProviderRouter | None = getattr(_local, "router", None)
    if current is None or current.settings is not settings:
        current = _local.router = ProviderRouter(settings)
    return current


def backoff(receive_count: int) -> int:
    return min(300, 15 * 2 ** max(0, receive_count - 1))


def handle_record(record: JobRecord) -> None:
    """Powertools BatchProcessor's record handler: raise to have this one message retried."""
    settings = get_settings()
    message = record.body
    dead = bool(settings.jobs_dlq_arn) and record.eventSourceARN == settings.jobs_dlq_arn
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
    if dead:
        await _give_up(job, "unavailable")
        return
    if job.status == JobStatus.SUCCEEDED:
        if not job.delivered:  # an earlier send failed after the result was stored
            await _deliver(job, media.get(str(job.result_key)), str(job.result_mime), job.result_text)
        return
    if job.status == JobStatus.FAILED:
        return
    if job.status == JobStatus.QUEUED:
        if not service.start(job):
            job = service.get(job.job_id) or job
            if job.status != JobStatus.RUNNING:
                return
        else:
            job.status = JobStatus.RUNNING
            await delivery.status(runtime.bot(), job)
    elif job.operation:
        await delivery.status(runtime.bot(), job)  # each poll: the user sees it's still going
    await _run(settings, job)


async def _run(settings: Settings, job: Job) -> None:
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
        service.record_operation(job, outcome.provider, outcome.operation, outcome.key_id, outcome.model)
        queue.send(JobMessage(job_id=job.job_id), delay_seconds=settings.video_poll_seconds)
        return
    await _succeed(job, outcome)


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
    """The user's photo through the Bot API (getFile, then the file URL; bots get <= 20 MB)."""
    bot = runtime.bot()
    try:
        file = await bot.get_file(file_id)
        if (file.file_size or 0) > settings.max_input_bytes or not file.file_path:
            raise InvalidInputError("input too large or unavailable")
        buffer = await bot.download_file(file.file_path)
    except (TelegramNetworkError, TelegramServerError) as exc:
        raise RetryLaterError(10, f"telegram download: {exc}") from exc
    data = buffer.read() if buffer is not None else b""
    mime = sniff_mime(data)  # Telegram's mime_type is only the sender's word
    if mime is None or not mime.startswith("image/"):
        raise InvalidInputError("input is not a JPEG, PNG or WebP image")
    return data, mime


async def _succeed(job: Job, result: MediaResult) -> None:
    mime = result.mime or "text/plain"
    payload = result.data if result.data else (result.text or "").encode()
    key = media.put(int(job.user_id), job.job_id, payload, mime if result.data else "text/plain")
    stored = service.succeed(
        job, result_key=key, mime=mime, provider=result.provider, model=result.model, text=result.text
    )
    if not stored:
        return  # another delivery of this message got there first
    await _deliver(job, result.data, mime, result.text)


async def _deliver(job: Job, data: bytes, mime: str, text: str | None) -> None:
    bot = runtime.bot()
    try:
        message = await delivery.send_result(bot, job, data, mime, text)
    except TelegramForbiddenError:
        set_blocked(int(job.user_id), True)
        return  # the result stays in S3 for the cabinet
    except TelegramRetryAfter as exc:
        service.set_delivered(job, False)
        raise RetryLaterError(exc.retry_after, "telegram flood control") from exc
    except (TelegramNetworkError, TelegramServerError) as exc:
        service.set_delivered(job, False)
        raise RetryLaterError(10, f"telegram: {exc}") from exc
    file_id = None
    if message.photo:
        file_id = message.photo[-1].file_id
    elif message.video:
        file_id = message.video.file_id
    service.set_delivered(job, True, file_id)
    await delivery.finish_status(bot, job)


async def _give_up(job: Job, reason: str) -> None:
    """Refund once and tell the user; a job already finished is left alone."""
    if service.fail(job, reason):
        await delivery.send_failure(runtime.bot(), job, reason)


async def _original(job: Job, user_id: int | None) -> None:
    if int(job.user_id) != user_id or job.status != JobStatus.SUCCEEDED or not job.result_key:
        logger.warning("original file refused", extra={"user_id": user_id})
        return
    try:
        await delivery.send_original(runtime.bot(), job, media.get(str(job.result_key)))
    except TelegramRetryAfter as exc:
        raise RetryLaterError(exc.retry_after, "telegram flood control") from exc
