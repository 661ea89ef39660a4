"""Schedules from ``SCHEDULES`` become EventBridge Scheduler schedules (no CDK change needed)."""

from __future__ import annotations

from collections.abc import Callable

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


def test_the_current_specs_have_no_schedule_so_no_scheduler_resources(
    template: Template, app_stack: GenbotStack
) -> None:
    # given the current specs (SCHEDULES is empty for now: update this test when it gains entries)
    assert app_stack.specs.schedules == {}

    # then there is no schedule, and no role Scheduler could assume
    template.resource_count_is(SCHEDULE, 0)
    template.resource_properties_count_is("AWS::IAM::Role", TRUSTED_BY_SCHEDULER, 0)


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

    # ...which may invoke only that target
    attached = {"Roles": Match.array_with([{"Ref": role_id}])}
    variant_template.resource_properties_count_is("AWS::IAM::Policy", attached, 1)
    variant_template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            **attached,
            "PolicyDocument": {
                "Statement": Match.exact(
                    [{"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": target}]
                )
            },
        },
    )
