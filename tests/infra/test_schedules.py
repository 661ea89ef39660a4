"""Schedules from ``SCHEDULES`` become EventBridge Scheduler schedules (no CDK change needed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Capture, Match, Template

from genbot.resources import ScheduleSpec
from infra.schedules import MAX_EVENT_AGE_SECONDS, MAX_RETRIES
from infra.stack import GenbotStack
from tests.infra.refs import alias_function_name

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


CURRENT = {
    # name: (function, expression as deployed, time zone) with the default settings
    "sweep_jobs": ("generate", "rate(5 minutes)", "UTC"),  # stuck jobs: resent or refunded
    "poll_payments": ("payment_poll", "rate(1 minute)", "UTC"),  # pending YooKassa payments
    "offers": ("notify", "rate(15 minutes)", "UTC"),  # the discount offer
    # "after 11:00" Moscow time (TIMEZONE, BONUS_REMINDER_HOUR defaults), every 15 min till midnight
    "bonus_reminders": ("notify", "cron(0/15 11-23 * * ? *)", "Europe/Moscow"),
    "subscription_notices": ("notify", "rate(1 hour)", "UTC"),
    "ledger_audit": ("audit", "rate(1 hour)", "UTC"),  # balances against their ledger, incrementally
}


@pytest.mark.parametrize("name", list(CURRENT))
def test_the_current_schedules_invoke_their_functions_with_their_task(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, name: str
) -> None:
    # given the current specs: the stuck-job sweep, the payment poll and the three notices
    assert set(app_stack.specs.schedules) == set(CURRENT)
    function, expression, timezone = CURRENT[name]
    fn = app_stack.functions.functions[function]

    # then each invokes its function with the task as its input, on time, and one role may do it
    template.resource_count_is(SCHEDULE, len(CURRENT))
    template.has_resource_properties(
        SCHEDULE,
        {
            "ScheduleExpression": expression,
            "ScheduleExpressionTimezone": timezone,
            "FlexibleTimeWindow": Match.object_equals({"Mode": "OFF"}),
            "Target": Match.object_like(
                {
                    "Arn": {"Ref": logical_id(fn.alias)},
                    "Input": Match.serialized_json(Match.object_equals({"task": name})),
                }
            ),
        },
    )
    template.resource_properties_count_is("AWS::IAM::Role", TRUSTED_BY_SCHEDULER, 1)


def _event_source_limits(template: Template, target: dict[str, Any]) -> list[int]:
    """MaximumConcurrency of every SQS event source invoking ``target`` (all must have one)."""
    mappings = template.find_resources(
        "AWS::Lambda::EventSourceMapping", {"Properties": {"FunctionName": target}}
    )
    return sorted(m["Properties"]["ScalingConfig"]["MaximumConcurrency"] for m in mappings.values())


@pytest.mark.parametrize(
    ("function", "reserved", "limits", "schedules"),
    [
        # 3 (jobs) + 2 (jobs DLQ, refunds) + 1 (sweep) must fit in 6
        ("generate", 6, [2, 3], 1),
        # 2 (broadcasts; its DLQ has no consumer) + 3 (offers, bonus reminders, subscription notices)
        ("notify", 5, [2], 3),
    ],
)
def test_event_sources_and_schedules_fit_the_reserved_concurrency(
    template: Template,
    app_stack: GenbotStack,
    logical_id: LogicalId,
    function: str,
    reserved: int,
    limits: list[int],
    schedules: int,
) -> None:
    # throttled polls count as receives: everything that may invoke the function at once fits
    fn = app_stack.functions.functions[function]
    assert fn.spec.reserved_concurrency == reserved
    function_id = logical_id(fn.function)
    assert function_id in template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"ReservedConcurrentExecutions": reserved}}
    )
    assert _event_source_limits(template, alias_function_name(logical_id(fn.alias))) == limits
    on_it = [s for s in app_stack.specs.schedules.values() if s.function == function]
    assert len(on_it) == schedules
    assert sum(limits) + schedules <= reserved


def test_every_function_with_reserved_concurrency_fits_it(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    # the same arithmetic over every function, so a new consumer or schedule can't slip past
    for name, fn in app_stack.functions.functions.items():
        if fn.spec.reserved_concurrency is None:
            continue
        limits = _event_source_limits(template, alias_function_name(logical_id(fn.alias)))
        scheduled = sum(1 for s in app_stack.specs.schedules.values() if s.function == name)
        assert sum(limits) + scheduled <= fn.spec.reserved_concurrency, name


def test_a_schedule_spec_becomes_a_schedule_with_time_zone_and_input(
    variant_template: Template,
    variant_stack: GenbotStack,
    extra_schedule: ScheduleSpec,
    logical_id: LogicalId,
) -> None:
    # given a ScheduleSpec added to the specs (no CDK change), for a SnapStart function
    spec = extra_schedule
    fn = variant_stack.functions.functions[spec.function]
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

    # ...which may invoke only the scheduled targets: this one, generate (sweep), payment_poll,
    # notify (offers, bonus reminders, subscription notices) and audit (the ledger audit)
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
    others = [
        logical_id(variant_stack.functions.functions[f].alias)
        for f in ("generate", "payment_poll", "notify", "audit")
    ]
    granted = resources.as_array()
    # exactly the ARNs Scheduler calls: no "<arn>:*" reaching every version
    assert target in granted and len(granted) == 5
    assert sorted(r["Ref"] for r in granted if r != target) == sorted(others)
    assert not any(":*" in str(r) for r in granted)
