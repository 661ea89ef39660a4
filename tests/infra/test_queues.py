"""SQS queues follow ``QUEUES``: visibility, DLQ redrive, encryption, event sources."""

from __future__ import annotations

from typing import Any

import pytest

from genbot.resources import FUNCTIONS, QUEUES, QueueSpec, visibility_timeout_seconds
from tests.infra.cfn import Synth

SPECS = list(QUEUES.values())


def _esms_on(s: Synth, queue: Any) -> list[dict[str, Any]]:
    arn = {"Fn::GetAtt": [s.logical_id(queue), "Arn"]}
    return [
        r["Properties"]
        for r in s.of_type("AWS::Lambda::EventSourceMapping").values()
        if r["Properties"]["EventSourceArn"] == arn
    ]


def _target_ref(s: Synth, function: str) -> dict[str, str]:
    fn = s.stack.functions.functions[function]
    return {"Ref": s.logical_id(fn.alias or fn.function)}


@pytest.mark.parametrize("spec", SPECS, ids=lambda q: q.name)
def test_queue_visibility_is_six_times_the_consumer_timeout(app_synth: Synth, spec: QueueSpec) -> None:
    queue = app_synth.resources[app_synth.logical_id(app_synth.stack.queues.queues[spec.name].queue)]
    visibility = queue["Properties"]["VisibilityTimeout"]
    assert visibility == visibility_timeout_seconds(spec)
    assert visibility >= 6 * FUNCTIONS[spec.consumer].timeout_seconds


@pytest.mark.parametrize("spec", SPECS, ids=lambda q: q.name)
def test_queue_redrives_to_its_encrypted_dlq(app_synth: Synth, spec: QueueSpec) -> None:
    s = app_synth
    q = s.stack.queues.queues[spec.name]
    props = s.resources[s.logical_id(q.queue)]["Properties"]
    dlq = s.resources[s.logical_id(q.dlq)]["Properties"]

    assert props["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [s.logical_id(q.dlq), "Arn"]},
        "maxReceiveCount": spec.max_receive_count,
    }
    assert props["RedrivePolicy"]["maxReceiveCount"] >= 5
    assert props["MessageRetentionPeriod"] == spec.retention_days * 86400
    assert props["SqsManagedSseEnabled"] is True
    assert dlq["SqsManagedSseEnabled"] is True
    assert dlq["MessageRetentionPeriod"] == 14 * 86400


@pytest.mark.parametrize("spec", SPECS, ids=lambda q: q.name)
def test_consumer_reads_the_queue_with_partial_batch_failures(app_synth: Synth, spec: QueueSpec) -> None:
    s = app_synth
    (mapping,) = _esms_on(s, s.stack.queues.queues[spec.name].queue)

    assert mapping["FunctionName"] == _target_ref(s, spec.consumer)
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == spec.batch_size
    assert mapping.get("MaximumBatchingWindowInSeconds", 0) == spec.max_batching_window_seconds
    reserved = FUNCTIONS[spec.consumer].reserved_concurrency
    if reserved:  # polling beyond the reserved concurrency would throttle messages into the DLQ
        assert mapping["ScalingConfig"]["MaximumConcurrency"] <= max(2, reserved)


@pytest.mark.parametrize("spec", SPECS, ids=lambda q: q.name)
def test_dlq_is_consumed_only_by_its_dlq_consumer(app_synth: Synth, spec: QueueSpec) -> None:
    s = app_synth
    mappings = _esms_on(s, s.stack.queues.queues[spec.name].dlq)

    if spec.dlq_consumer is None:
        assert mappings == []
        return
    (mapping,) = mappings
    assert mapping["FunctionName"] == _target_ref(s, spec.dlq_consumer)
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_queues_refuse_plain_http(app_synth: Synth) -> None:
    policies = app_synth.of_type("AWS::SQS::QueuePolicy").values()
    denied = [
        st
        for p in policies
        for st in p["Properties"]["PolicyDocument"]["Statement"]
        if st["Effect"] == "Deny" and st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(denied) == 2 * len(SPECS)  # each queue and each DLQ
