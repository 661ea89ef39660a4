"""Runs the generate Lambda on the real (moto) jobs queue, one message per invocation.

Like Lambda's SQS event source with batch size 1 and ReportBatchItemFailures: receive,
invoke with the real event shape, delete what succeeded, leave what failed. Backoff is the
worker's business (ChangeMessageVisibility); ``fast_forward`` plays the waiting.
"""

from __future__ import annotations

from typing import Any

import boto3

from genbot_local.invoke import invoke
from tests.helpers import sqs_event


class JobsQueue:
    def __init__(self, env: dict[str, str]) -> None:
        self.sqs = boto3.client("sqs")
        self.url = env["JOBS_QUEUE_URL"]
        self.dlq_arn = env["JOBS_DLQ_ARN"]
        self.arn = self._arn(self.url)
        self.dlq_url = self.sqs.get_queue_url(QueueName=self.dlq_arn.rsplit(":", 1)[1])["QueueUrl"]
        self.failures: list[dict[str, Any]] = []

    def _arn(self, url: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    def receive(self, dead: bool = False) -> list[dict[str, Any]]:
        answer = self.sqs.receive_message(
            QueueUrl=self.dlq_url if dead else self.url,
            MaxNumberOfMessages=1,
            AttributeNames=["All"],
            WaitTimeSeconds=0,
        )
        return answer.get("Messages", [])

    def run_once(self, *, dead: bool = False, fast_forward: bool = True) -> int:
        """Process at most one message; returns how many were processed (0 or 1)."""
        messages = self.receive(dead)
        if not messages:
            return 0
        message = messages[0]
        result = invoke("generate", sqs_event(messages, self.dlq_arn if dead else self.arn))
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        queue = self.dlq_url if dead else self.url
        if message["MessageId"] in failed:
            self.failures.append(message)
            if fast_forward:
                self.sqs.change_message_visibility(
                    QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
        else:
            self.sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        return 1

    def redeliver(self, message: dict[str, Any]) -> dict[str, Any]:
        """Hand the handler a message it already saw (SQS delivers at least once)."""
        result: dict[str, Any] = invoke("generate", sqs_event([message], self.arn))
        return result

    def drain(self, limit: int = 30) -> int:
        done = 0
        while done < limit and self.run_once():
            done += 1
        return done

    def depth(self, dead: bool = False) -> dict[str, int]:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.dlq_url if dead else self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return {k: int(v) for k, v in attrs.items()}
