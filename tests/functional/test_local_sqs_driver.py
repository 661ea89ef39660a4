"""The local SQS event source mapping against moto's SQS: AWS's delivery semantics, end to end.

Each test makes its own queue pair with a short visibility timeout (seconds, not the 15
minutes the jobs queue has) and a plain callable as the "function".
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from genbot.resources import QueueSpec
from genbot_local.sqs_driver import SqsDriver, queue_arn


class Queues:
    def __init__(self, endpoint: str, visibility: int = 1, max_receive_count: int = 5) -> None:
        self.sqs = boto3.client("sqs", endpoint_url=endpoint)
        name = f"t-{uuid.uuid4().hex[:10]}"
        self.dlq_url = self.sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        self.dlq_arn = queue_arn(self.sqs, self.dlq_url)
        self.url = self.sqs.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": str(visibility),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": self.dlq_arn, "maxReceiveCount": str(max_receive_count)}
                ),
            },
        )["QueueUrl"]
        self.arn = queue_arn(self.sqs, self.url)

    def send(self, body: Any, delay: int = 0, **kwargs: Any) -> str:
        text = body if isinstance(body, str) else json.dumps(body)
        return self.sqs.send_message(QueueUrl=self.url, MessageBody=text, DelaySeconds=delay, **kwargs)[
            "MessageId"
        ]

    def depth(self, dead: bool = False) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.dlq_url if dead else self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


class Recorder:
    """A function: records every event; ``decide(record)`` True means the record failed."""

    def __init__(self, decide: Callable[[dict[str, Any]], bool] = lambda r: False) -> None:
        self.events: list[dict[str, Any]] = []
        self.decide = decide

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        failed = [r["messageId"] for r in event["Records"] if self.decide(r)]
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}

    def bodies(self) -> list[str]:
        return [r["body"] for e in self.events for r in e["Records"]]


def poll_until(driver: SqsDriver, done: Callable[[], bool], limit: int = 30, wait: int = 2) -> None:
    for _ in range(limit):
        if done():
            return
        driver.poll_once(wait_seconds=wait)
    assert done(), "the condition never came true"


@pytest.fixture
def queues(moto_endpoint: str) -> Queues:
    return Queues(moto_endpoint)


def test_the_event_has_lambdas_record_shape(queues: Queues, load_event) -> None:
    function = Recorder()
    driver = SqsDriver(queues.url, function, client=queues.sqs, batch_size=5, wait_seconds=1)
    queues.send(
        {"job_id": "j1"},
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "start"}},
    )

    outcome = driver.poll_once()

    assert outcome is not None and outcome.ok
    reference = load_event("sqs_jobs.json")["Records"][0]
    (record,) = function.events[0]["Records"]
    assert set(reference) <= set(record)
    assert set(reference["attributes"]) <= set(record["attributes"])
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == queues.arn
    assert record["awsRegion"] == "us-east-1"
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()  # noqa: S324
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert int(record["attributes"]["SentTimestamp"]) <= int(
        record["attributes"]["ApproximateFirstReceiveTimestamp"]
    )
    assert record["messageAttributes"]["kind"]["stringValue"] == "start"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"
    assert queues.depth() == 0  # a success is deleted


def test_a_partial_batch_failure_redelivers_only_the_failed_message(queues: Queues) -> None:
    for n in range(3):
        queues.send({"n": n})
    function = Recorder(
        lambda r: json.loads(r["body"])["n"] == 1 and r["attributes"]["ApproximateReceiveCount"] == "1"
    )
    driver = SqsDriver(queues.url, function, client=queues.sqs, batch_size=10, wait_seconds=1)

    poll_until(driver, lambda: len(function.bodies()) >= 3)
    first = sorted(json.loads(b)["n"] for b in function.bodies())
    assert first == [0, 1, 2]
    poll_until(driver, lambda: len(function.bodies()) >= 4)  # after the 1 s visibility timeout

    redelivered = function.events[-1]["Records"]
    assert [json.loads(r["body"])["n"] for r in redelivered] == [1]
    assert redelivered[0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert queues.depth() == 0


def test_a_function_error_fails_the_whole_batch(queues: Queues) -> None:
    queues.send("a")
    queues.send("b")
    calls: list[int] = []

    def broken(event: dict[str, Any]) -> None:
        calls.append(len(event["Records"]))
        raise RuntimeError("crash")

    lines: list[dict[str, Any]] = []
    driver = SqsDriver(
        queues.url,
        broken,
        client=queues.sqs,
        batch_size=10,
        wait_seconds=1,
        on_invocation=lambda **fields: lines.append(fields),
    )
    poll_until(driver, lambda: sum(calls) >= 2)
    assert [line["outcome"] for line in lines] == ["error"] * len(calls)
    assert all(isinstance(line["error"], RuntimeError) for line in lines)
    assert queues.depth() == 2  # nothing deleted


def test_a_failure_naming_an_unknown_message_fails_the_batch(queues: Queues) -> None:
    queues.send("a")
    driver = SqsDriver(
        queues.url,
        lambda e: {"batchItemFailures": [{"itemIdentifier": "not-in-the-batch"}]},
        client=queues.sqs,
        wait_seconds=1,
    )
    poll_until(driver, lambda: driver.invocations >= 1)
    assert queues.depth() == 1


def test_a_message_failing_five_times_reaches_the_dlq_and_its_consumer(queues: Queues) -> None:
    spec = QueueSpec(name="t", env_var="T_URL", consumer="worker", batch_size=1, dlq_consumer="refunder")
    worker = Recorder(lambda r: True)  # always fails
    refunder = Recorder()
    lines: list[dict[str, Any]] = []
    driver = SqsDriver.for_queue(
        spec, queues.url, worker, client=queues.sqs, wait_seconds=1, on_invocation=lambda **f: lines.append(f)
    )
    dead = SqsDriver.for_queue(spec, queues.dlq_url, refunder, dead=True, client=queues.sqs, wait_seconds=1)
    assert (driver.function, dead.function, driver.batch_size) == ("worker", "refunder", 1)
    queues.send({"job_id": "doomed"})

    poll_until(driver, lambda: queues.depth(dead=True) == 1)
    poll_until(dead, lambda: bool(refunder.events))

    counts = [r["attributes"]["ApproximateReceiveCount"] for e in worker.events for r in e["Records"]]
    assert counts == ["1", "2", "3", "4", "5"]
    (record,) = refunder.events[0]["Records"]
    assert record["eventSourceARN"] == queues.dlq_arn != queues.arn
    assert json.loads(record["body"]) == {"job_id": "doomed"}
    assert queues.depth() == 0 and queues.depth(dead=True) == 0
    assert lines[0]["function"] == "worker" and lines[0]["outcome"] == "batch failures 1/1"
    assert "job doomed" in lines[0]["ident"] and "(receive 5)" in lines[-1]["ident"]


def test_a_delayed_message_is_not_delivered_early(queues: Queues) -> None:
    function = Recorder()
    driver = SqsDriver(queues.url, function, client=queues.sqs, wait_seconds=1)
    queues.send({"job_id": "later"}, delay=5)

    assert driver.poll_once(wait_seconds=1) is None  # still inside its 5 s delay
    assert function.events == []
    poll_until(driver, lambda: bool(function.events))
    assert function.bodies() == [json.dumps({"job_id": "later"})]


def test_the_handler_can_shorten_the_visibility_timeout_itself(moto_endpoint: str) -> None:
    queues = Queues(moto_endpoint, visibility=600)  # a failure would hide for 10 minutes...
    seen: list[str] = []

    def backoff(event: dict[str, Any]) -> dict[str, Any]:
        record = event["Records"][0]
        seen.append(record["attributes"]["ApproximateReceiveCount"])
        if len(seen) == 1:  # ...unless the handler says when to retry, as genbot's worker does
            queues.sqs.change_message_visibility(
                QueueUrl=queues.url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=1
            )
            return {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
        return {"batchItemFailures": []}

    driver = SqsDriver(queues.url, backoff, client=queues.sqs, wait_seconds=2)
    queues.send("retry me")
    poll_until(driver, lambda: len(seen) >= 2)
    assert seen == ["1", "2"] and queues.depth() == 0


def test_a_batching_window_collects_messages(queues: Queues) -> None:
    function = Recorder()
    driver = SqsDriver(
        queues.url, function, client=queues.sqs, batch_size=3, batching_window_seconds=1, wait_seconds=1
    )
    for n in range(3):
        queues.send(str(n))
    poll_until(driver, lambda: len(function.bodies()) >= 3)
    assert sorted(function.bodies()) == ["0", "1", "2"]


def test_the_driver_thread_keeps_polling_until_stopped(queues: Queues) -> None:
    got = threading.Event()

    def function(event: dict[str, Any]) -> None:
        got.set()

    driver = SqsDriver(queues.url, function, client=queues.sqs, wait_seconds=1).start()
    try:
        queues.send("x")
        assert got.wait(15)
    finally:
        driver.stop()
    assert driver._thread is None
