"""SQS queues, one per ``QueueSpec``, each with a dead-letter queue.

Visibility is six times the consumer's timeout (AWS advice, so a slow invocation's messages are
not handed to a second consumer); after ``max_receive_count`` receives a message moves to the DLQ,
which keeps it for 14 days, the maximum, for the DLQ consumer (refunds) or a human to settle.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from genbot.resources import QueueSpec
from infra.naming import pascal
from infra.specs import AppSpecs

DLQ_RETENTION = Duration.days(14)


class Queue(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, spec: QueueSpec, specs: AppSpecs) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        dlq_visibility = 6 * specs.functions[spec.dlq_consumer].timeout_seconds if spec.dlq_consumer else 30
        self.dlq = sqs.Queue(
            self,
            "Dlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
            visibility_timeout=Duration.seconds(dlq_visibility),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(spec.retention_days),
            visibility_timeout=Duration.seconds(specs.visibility_timeout_seconds(spec)),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=spec.max_receive_count, queue=self.dlq),
        )


class Queues(Construct):
    """All queues; ``queues[name]`` is the ``Queue`` (with ``.queue`` and ``.dlq``) for a spec."""

    def __init__(self, scope: Construct, construct_id: str, *, specs: AppSpecs) -> None:
        super().__init__(scope, construct_id)
        self.queues = {
            spec.name: Queue(self, pascal(spec.name), spec=spec, specs=specs)
            for spec in specs.queues.values()
        }
