"""SQS queues follow ``QUEUES``: visibility, DLQ redrive, encryption, event sources."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aws_cdk.assertions import Capture, Match, Template

from genbot.resources import FUNCTIONS, QUEUES, QueueSpec, visibility_timeout_seconds
from infra.stack import GenbotStack
from tests.infra.refs import alias_function_name

QUEUE = "AWS::SQS::Queue"
MAPPING = "AWS::Lambda::EventSourceMapping"
SPECS = list(QUEUES.values())

LogicalId = Callable[..., str]


def _arn(logical_id: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def _target_ref(stack: GenbotStack, logical_id: LogicalId, function: str) -> dict[str, str]:
    """What an event source invokes: the function's ``live`` alias."""
    return alias_function_name(logical_id(stack.functions.functions[function].alias))


@pytest.mark.parametrize("spec", SPECS, ids=lambda q: q.name)
def test_queue_visibility_is_six_times_the_consumer_timeout(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, spec: QueueSpec
) -> None:
    assert visibility_timeout_seconds(spec) >= 6 * FUNCTIONS[spec.consumer].timeout_seconds
    matching = template.find_resources(
        QUEUE, {"Properties": {"VisibilityTimeout": visibility_timeout_seconds(spec)}}
    )
    assert logical_id(app_stack.queues.queues[spec.name].queue) in matching


@pytest.mark.parametrize("spec", SPECS, ids=lambda q: q.name)
def test_queue_redrives_to_its_encrypted_dlq(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, spec: QueueSpec
) -> None:
    q = app_stack.queues.queues[spec.name]
    dlq_id = logical_id(q.dlq)
    assert spec.max_receive_count >= 5  # throttled receives count too

    queues = template.find_resources(
        QUEUE,
        {
            "Properties": {
                "RedrivePolicy": Match.object_equals(
                    {"deadLetterTargetArn": _arn(dlq_id), "maxReceiveCount": spec.max_receive_count}
                ),
                "MessageRetentionPeriod": spec.retention_days * 86400,
                "SqsManagedSseEnabled": True,
            }
        },
    )
    assert logical_id(q.queue) in queues
    dlqs = template.find_resources(
        QUEUE,
        {
            "Properties": {
                "RedrivePolicy": Match.absent(),
                "MessageRetentionPeriod": 14 * 86400,  # the maximum, to settle dead letters
                "SqsManagedSseEnabled": True,
            }
        },
    )
    assert dlq_id in dlqs


@pytest.mark.parametrize("spec", SPECS, ids=lambda q: q.name)
def test_consumer_reads_the_queue_with_partial_batch_failures(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, spec: QueueSpec
) -> None:
    source = {"EventSourceArn": _arn(logical_id(app_stack.queues.queues[spec.name].queue))}
    template.resource_properties_count_is(MAPPING, source, 1)

    expected = {
        **source,
        "FunctionName": _target_ref(app_stack, logical_id, spec.consumer),
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "BatchSize": spec.batch_size,
        "MaximumBatchingWindowInSeconds": spec.max_batching_window_seconds or Match.absent(),
    }
    concurrency = Capture()
    reserved = FUNCTIONS[spec.consumer].reserved_concurrency
    if reserved:
        expected["ScalingConfig"] = {"MaximumConcurrency": concurrency}
    template.has_resource_properties(MAPPING, expected)
    if reserved:  # polling beyond the reserved concurrency would throttle messages into the DLQ
        assert concurrency.as_number() <= max(2, reserved)


@pytest.mark.parametrize("spec", SPECS, ids=lambda q: q.name)
def test_dlq_is_consumed_only_by_its_dlq_consumer(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, spec: QueueSpec
) -> None:
    source = {"EventSourceArn": _arn(logical_id(app_stack.queues.queues[spec.name].dlq))}

    if spec.dlq_consumer is None:
        template.resource_properties_count_is(MAPPING, source, 0)
        return
    template.resource_properties_count_is(MAPPING, source, 1)
    template.has_resource_properties(
        MAPPING,
        {
            **source,
            "FunctionName": _target_ref(app_stack, logical_id, spec.dlq_consumer),
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )


@pytest.mark.parametrize("spec", SPECS, ids=lambda q: q.name)
@pytest.mark.parametrize("which", ["queue", "dlq"])
def test_queue_refuses_plain_http(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, spec: QueueSpec, which: str
) -> None:
    queue_id = logical_id(getattr(app_stack.queues.queues[spec.name], which))
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [{"Ref": queue_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Effect": "Deny",
                            "Action": "sqs:*",
                            "Principal": {"AWS": "*"},
                            "Resource": _arn(queue_id),
                            "Condition": Match.object_equals({"Bool": {"aws:SecureTransport": "false"}}),
                        }
                    ]
                )
            },
        },
    )
