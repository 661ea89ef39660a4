"""EventBridge Scheduler schedules, one per ``ScheduleSpec``.

Scheduler (not EventBridge rules) because it takes a time zone: the daily bonus reminder runs
"after 11:00" local time, DST included. The target input is ``json(spec.input)``: exactly the
event the function receives. One role, assumable only by Scheduler on behalf of this account,
may invoke only the scheduled functions' targets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from genbot.resources import ScheduleSpec
from infra.functions import AppFunction
from infra.naming import pascal

MAX_EVENT_AGE_SECONDS = 300  # a late poll or offer run is worthless; the next tick does the work
MAX_RETRIES = 2


class Schedules(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        specs: Mapping[str, ScheduleSpec],
        functions: Mapping[str, AppFunction],
    ) -> None:
        super().__init__(scope, construct_id)
        self.schedules: dict[str, scheduler.CfnSchedule] = {}
        if not specs:
            return
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            ),
            description="genbot: EventBridge Scheduler invoking the scheduled functions",
        )
        for spec in specs.values():
            target = functions[spec.function].target
            target.grant_invoke(self.role)
            self.schedules[spec.name] = scheduler.CfnSchedule(
                self,
                pascal(spec.name),
                description=f"genbot {spec.name} -> {spec.function}",
                schedule_expression=spec.expression,
                schedule_expression_timezone=spec.timezone,
                flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
                state="ENABLED",
                target=scheduler.CfnSchedule.TargetProperty(
                    arn=target.function_arn,
                    role_arn=self.role.role_arn,
                    input=json.dumps(spec.input),
                    retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                        maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS,
                        maximum_retry_attempts=MAX_RETRIES,
                    ),
                ),
            )
