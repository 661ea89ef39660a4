"""Lambda's SQS event source mapping, on this machine.

What AWS does for a queue whose consumer is a Lambda with ``ReportBatchItemFailures``:

- long-poll ``ReceiveMessage`` (``WaitTimeSeconds`` 20, up to the batch size, all system and
  message attributes); messages stay hidden for the queue's visibility timeout;
- with a batching window, keep receiving until the batch is full or the window is over;
- invoke the function with ``{"Records": [...]}`` in Lambda's record shape;
- the answer's ``batchItemFailures`` name the messages that failed: every other message is
  deleted, the failed ones are left to reappear when their visibility timeout ends (the
  handler may shorten or lengthen that itself with ``ChangeMessageVisibility``);
- a function error (the handler raised) fails the whole batch, as does a failure naming a
  message that was not in the batch;
- SQS counts receives (``ApproximateReceiveCount``) and, past the redrive policy's
  ``maxReceiveCount``, moves a message to the dead-letter queue instead of delivering it.
  moto does this itself (checked by the tests); ``SqsDriver`` doesn't have to.

``DelaySeconds`` on a message is SQS's business too: it isn't received before that.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from genbot.resources import QueueSpec

log = logging.getLogger("genbot-local.sqs")
Target = Callable[[dict[str, Any]], Any]
OnInvocation = Callable[..., None]


@dataclass
class BatchOutcome:
    """What one invocation did: the messages delivered and those left for redelivery."""

    message_ids: list[str]
    failed: list[str]
    error: BaseException | None = None
    result: Any = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed


def queue_arn(client: Any, url: str) -> str:
    attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attrs["QueueArn"])


DEPTH_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def queue_depth(client: Any, url: str) -> int:
    """Messages in the queue: waiting, in flight and delayed."""
    attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=list(DEPTH_ATTRIBUTES))["Attributes"]
    return sum(int(attrs.get(name, 0)) for name in DEPTH_ATTRIBUTES)


def to_record(message: dict[str, Any], arn: str, region: str) -> dict[str, Any]:
    """A received SQS message in the shape Lambda puts in ``event["Records"]``."""
    system = message.get("Attributes", {})
    attributes = {
        key: str(system[key])
        for key in (
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
            "SequenceNumber",
            "MessageGroupId",
            "MessageDeduplicationId",
            "AWSTraceHeader",
            "DeadLetterQueueSourceArn",
        )
        if key in system
    }
    message_attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType"),
        }
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


class SqsDriver:
    """Feeds one queue to one function like Lambda's event source mapping does.

    ``target`` is called with the SQS event and returns what the handler returned (the stack
    passes ``invoke(consumer, event)``; tests may pass any callable). ``on_invocation`` gets
    one call per invocation with keyword arguments (function, event_type, ident,
    duration_ms, outcome, error) for the stack's log.
    """

    def __init__(
        self,
        queue_url: str,
        target: Target,
        *,
        function: str = "",
        batch_size: int = 10,
        batching_window_seconds: float = 0,
        wait_seconds: int = 20,
        client: Any = None,
        on_invocation: OnInvocation | None = None,
        name: str = "",
    ) -> None:
        self.client: Any = client or boto3.client("sqs")
        self.queue_url = queue_url
        self.target = target
        self.function = function or getattr(target, "__name__", "target")
        self.batch_size = max(1, min(10, batch_size))
        self.batching_window_seconds = batching_window_seconds
        self.wait_seconds = max(0, min(20, wait_seconds))
        self.on_invocation = on_invocation
        self.arn = queue_arn(self.client, queue_url)
        self.region = self.arn.split(":")[3]
        self.name = name or self.arn.rsplit(":", 1)[-1]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.invocations = 0

    @classmethod
    def for_queue(
        cls, spec: QueueSpec, queue_url: str, target: Target, *, dead: bool = False, **kwargs: Any
    ) -> SqsDriver:
        """A driver with the batch settings AWS would use for this queue (or its DLQ)."""
        function = (spec.dlq_consumer if dead else spec.consumer) or spec.consumer
        return cls(
            queue_url,
            target,
            function=function,
            batch_size=spec.batch_size,
            batching_window_seconds=spec.max_batching_window_seconds,
            **kwargs,
        )

    # -- one step ---------------------------------------------------------------------------

    def receive(self, wait_seconds: int | None = None) -> list[dict[str, Any]]:
        wait = self.wait_seconds if wait_seconds is None else wait_seconds
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.batching_window_seconds
        while len(messages) < self.batch_size and not self._stop.is_set():
            answer = self.client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=self.batch_size - len(messages),
                WaitTimeSeconds=wait if not messages else 0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            got: list[dict[str, Any]] = list(answer.get("Messages", []))
            messages += got
            if not messages or time.monotonic() >= deadline:
                break
            if not got:
                self._stop.wait(min(0.2, max(0.0, deadline - time.monotonic())))
        return messages

    def process(self, messages: list[dict[str, Any]]) -> BatchOutcome:
        """Invoke the target with these messages; delete the ones that succeeded."""
        ids = [m["MessageId"] for m in messages]
        event = {"Records": [to_record(m, self.arn, self.region) for m in messages]}
        started = time.monotonic()
        outcome = BatchOutcome(ids, [])
        try:
            outcome.result = self.target(event)
        except Exception as exc:  # a function error: the whole batch comes back
            outcome.error, outcome.failed = exc, list(ids)
        else:
            outcome.failed = self._failures(outcome.result, ids)
        self.invocations += 1
        for message in messages:
            if message["MessageId"] not in outcome.failed:
                with contextlib.suppress(self.client.exceptions.ReceiptHandleIsInvalid):
                    self.client.delete_message(
                        QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                    )
        self._report(event, outcome, (time.monotonic() - started) * 1000)
        return outcome

    def _failures(self, result: Any, ids: list[str]) -> list[str]:
        if not isinstance(result, dict) or not result.get("batchItemFailures"):
            return []
        failed = []
        for item in result["batchItemFailures"]:
            identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not identifier or identifier not in ids:
                log.warning("batchItemFailures names %r, not in the batch: the whole batch fails", identifier)
                return list(ids)
            failed.append(identifier)
        return failed

    def _report(self, event: dict[str, Any], outcome: BatchOutcome, duration_ms: float) -> None:
        if self.on_invocation is None:
            return
        if outcome.error is not None:
            text = "error"
        elif outcome.failed:
            text = f"batch failures {len(outcome.failed)}/{len(outcome.message_ids)}"
        else:
            text = "ok"
        self.on_invocation(
            function=self.function,
            event_type=f"sqs {self.name}",
            ident=_idents(event),
            duration_ms=duration_ms,
            outcome=text,
            error=outcome.error,
        )

    def poll_once(self, wait_seconds: int | None = None) -> BatchOutcome | None:
        """One receive (long poll) and, if anything came, one invocation."""
        messages = self.receive(wait_seconds)
        return self.process(messages) if messages else None

    # -- running ----------------------------------------------------------------------------

    def run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self.poll_once()
                failures = 0
            except Exception as exc:
                if self._stop.is_set():
                    break
                failures += 1
                log.warning("polling %s failed (%s); retrying", self.name, exc)
                self._stop.wait(min(10.0, 0.5 * 2**failures))

    def start(self) -> SqsDriver:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name=f"sqs-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 25) -> None:
        """Stop after the current long poll and invocation finish (like disabling the mapping)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None


def _idents(event: dict[str, Any]) -> str:
    """The job ids (or message ids) a batch carries, for the log line."""
    found = []
    for record in event["Records"]:
        try:
            body = json.loads(record["body"])
        except ValueError:
            body = None
        job = body.get("job_id") if isinstance(body, dict) else None
        label = f"job {job}" if job else f"msg {record['messageId'][:8]}"
        count = record["attributes"].get("ApproximateReceiveCount", "1")
        found.append(label if count == "1" else f"{label} (receive {count})")
    return ", ".join(found)
