"""The jobs queue: one ``JobMessage`` per step of a job (start, poll, deliver, original)."""

from __future__ import annotations

from typing import Any

from genbot.config import get_settings
from genbot.jobs.messages import JobMessage
from genbot.observability import trace_attributes
from genbot.store.clients import client

MAX_DELAY_SECONDS = 900  # SQS's limit for DelaySeconds on a standard queue


def _sqs() -> Any:
    return client("sqs")


def send(message: JobMessage, delay_seconds: int = 0) -> None:
    attributes = trace_attributes()
    attributes["job_id"] = {"DataType": "String", "StringValue": message.job_id}
    _sqs().send_message(
        QueueUrl=get_settings().jobs_queue_url,
        MessageBody=message.model_dump_json(exclude_defaults=True),
        DelaySeconds=max(0, min(MAX_DELAY_SECONDS, delay_seconds)),
        MessageAttributes=attributes,  # the update and request it came from, for the worker's logs
    )


def retry_later(queue_url: str, receipt_handle: str, delay_seconds: int) -> None:
    """Back off a failed message: it reappears after ``delay_seconds`` (then counts a receive)."""
    _sqs().change_message_visibility(
        QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=max(0, min(43_200, delay_seconds))
    )
