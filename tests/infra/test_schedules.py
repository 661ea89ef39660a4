"""Schedules from ``SCHEDULES`` become EventBridge Scheduler schedules (no CDK change needed)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aws_cdk.assertions import Capture, Match, Template

from genbot.resources import ScheduleSpec
from infra.schedules import MAX_EVENT_AGE_SECONDS, MAX_RETRIES
from infra.stack import GenbotStack

SCHEDULE = "AWS::Scheduler::Schedule"
# a role that EventBridge Scheduler may assume (used both ways below: absent, then present)
TRUSTED_BY_SCHEDULER = {
    "AssumeRolePolicyDocument": {
        "Statement": Match.array_with(
            [Match.object_like({"Principal": {"Service": "scheduler.amazonaws.com"}})]
        )
    }
}

LogicalId = Callable[..., str]


@pytest.mark.parametrize(
    ("name", "function", "expression", "task"),
    [
        ("sweep_jobs", "generate", "rate(5 minutes)", "sweep_jobs"),  # stuck jobs: resent or refunded
        ("poll_payments", "payment_poll", "rate(1 minute)", "poll_payments"),  # pending YooKassa payments
    ],
)
def test_the_current_schedules_invoke_their_functions_with_their_task(
    template: Template,
    app_stack: GenbotStack,
    logical_id: LogicalId,
    name: str,
    function: str,
    expression: str,
    task: str,
) -> None:
    # given the current specs: the stuck-job sweep and the payment poll
    assert set(app_stack.specs.schedules) == {"sweep_jobs", "poll_payments"}
    fn = app_stack.functions.functions[function]

    # then each invokes its function with the task as its input, and one role may do it
    template.resource_count_is(SCHEDULE, 2)
    template.has_resource_properties(
        SCHEDULE,
        {
            "ScheduleExpression": expression,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": Match.object_like(
                {
                    "Arn": {"Fn::GetAtt": [logical_id(fn.function), "Arn"]},
                    "Input": Match.serialized_json({"task": task}),
                }
            ),
        },
    )
    template.resource_properties_count_is("AWS::IAM::Role", TRUSTED_BY_SCHEDULER, 1)


def test_event_sources_and_schedules_fit_the_reserved_concurrency(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    # throttled polls count as receives: 3 (jobs) + 2 (DLQ) + 1 (sweep) must fit in 6
    fn = app_stack.functions.functions["generate"]
    template.has_resource_properties("AWS::Lambda::Function", {"ReservedConcurrentExecutions": 6})
    mappings = template.find_resources("AWS::Lambda::EventSourceMapping")
    limits = sorted(m["Properties"]["ScalingConfig"]["MaximumConcurrency"] for m in mappings.values())
    on_generate = [s for s in app_stack.specs.schedules.values() if s.function == "generate"]
    assert limits == [2, 3] and sum(limits) + len(on_generate) <= 6
    assert fn.spec.reserved_concurrency == 6


def test_a_schedule_spec_becomes_a_schedule_with_time_zone_and_input(
    variant_template: Template,
    variant_stack: GenbotStack,
    extra_schedule: ScheduleSpec,
    logical_id: LogicalId,
) -> None:
    # given a ScheduleSpec added to the specs (no CDK change), for a SnapStart function
    spec = extra_schedule
    fn = variant_stack.functions.functions[spec.function]
    assert fn.alias is not None
    target = {"Ref": logical_id(fn.alias)}  # the `live` alias, never the unsnapshotted $LATEST

    # then it targets the function with the spec's input, in the spec's time zone, on time
    variant_template.resource_count_is(SCHEDULE, len(variant_stack.specs.schedules))
    role = Capture()
    variant_template.has_resource_properties(
        SCHEDULE,
        {
            "ScheduleExpression": spec.expression,
            "ScheduleExpressionTimezone": spec.timezone,
            "FlexibleTimeWindow": Match.object_equals({"Mode": "OFF"}),
            "State": "ENABLED",
            "Target": Match.object_equals(
                {
                    "Arn": target,
                    "Input": Match.serialized_json(Match.object_equals(spec.input)),
                    "RoleArn": {"Fn::GetAtt": [role, "Arn"]},
                    "RetryPolicy": {
                        "MaximumEventAgeInSeconds": MAX_EVENT_AGE_SECONDS,
                        "MaximumRetryAttempts": MAX_RETRIES,
                    },
                }
            ),
        },
    )
    role_id = role.as_string()

    # and its role is assumable by Scheduler only (for this account), with no managed policies...
    variant_template.resource_properties_count_is("AWS::IAM::Role", TRUSTED_BY_SCHEDULER, 1)
    roles = variant_template.find_resources(
        "AWS::IAM::Role",
        {
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Statement": Match.exact(
                        [
                            {
                                "Action": "sts:AssumeRole",
                                "Effect": "Allow",
                                "Principal": {"Service": "scheduler.amazonaws.com"},
                                "Condition": {
                                    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
                                },
                            }
                        ]
                    )
                },
                "ManagedPolicyArns": Match.absent(),
                "Policies": Match.absent(),
            }
        },
    )
    assert set(roles) == {role_id}

    # ...which may invoke only the scheduled targets: this one, generate (sweep) and payment_poll
    attached = {"Roles": Match.array_with([{"Ref": role_id}])}
    variant_template.resource_properties_count_is("AWS::IAM::Policy", attached, 1)
    resources = Capture()
    variant_template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            **attached,
            "PolicyDocument": {
                "Statement": Match.exact(
                    [{"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": resources}]
                )
            },
        },
    )
    others = [logical_id(variant_stack.functions.functions[f].function) for f in ("generate", "payment_poll")]
    granted = resources.as_array()
    assert target in granted and len(granted) == 5  # each function: its ARN and its versions
    assert all(r == target or any(o in str(r) for o in others) for r in granted)
