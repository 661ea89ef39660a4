"""EventBridge Scheduler schedules, one per ``ScheduleSpec``.

Scheduler (not EventBridge rules) because it takes a time zone: the daily bonus reminder runs
"after 11:00" local time, DST included. Expression and time zone come from
``ScheduleSpec.resolve(function_env)``, the deployment's ``-c functionEnv`` that every function
also gets: a spec with ``timezone=APP_TIMEZONE`` runs in that ``TIMEZONE`` and a
``{bonus_reminder_hour}`` becomes its ``BONUS_REMINDER_HOUR``, so the schedule and the code
deciding "after 11:00 in TIMEZONE" agree. Without them both use the same defaults
(``genbot.resources.DEFAULT_TIMEZONE``, Europe/Moscow, and 11), which ``genbot.config`` shares.
A bad value fails the synth naming ``functionEnv`` rather than the deploy.

The flexible time window is off (a reminder "at 11:00" means then). The target input is
``json(spec.input)``: exactly the event the function receives. One role, assumable only by
Scheduler on behalf of this account, may invoke only the scheduled functions' targets (their exact
ARNs: the ``live`` alias or the unqualified function, no version wildcard).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from genbot.resources import ScheduleSpec
from infra.functions import AppFunction
from infra.naming import pascal
from infra.settings import SettingsError

MAX_EVENT_AGE_SECONDS = 300  # a late poll or offer run is worthless; the next tick does the work
MAX_RETRIES = 2


def resolve(spec: ScheduleSpec, env: Mapping[str, str]) -> tuple[str, str]:
    """``spec.resolve(env)``, checked: (expression, time zone) as Scheduler will get them."""
    hour = env.get("BONUS_REMINDER_HOUR")
    if hour and not (hour.strip().isdigit() and 0 <= int(hour) <= 23):
        raise SettingsError(f"context functionEnv: BONUS_REMINDER_HOUR={hour!r}: expected an hour, 0-23")
    expression, timezone = spec.resolve(env)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"schedule {spec.name}: time zone {timezone!r} (context functionEnv TIMEZONE) is not an "
            "IANA zone name such as Europe/Moscow"
        ) from None
    return expression, timezone


class Schedules(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        specs: Mapping[str, ScheduleSpec],
        functions: Mapping[str, AppFunction],
        env: Mapping[str, str],
    ) -> None:
        """``env``: the functions' deploy-time environment (``DeploySettings.function_env``)."""
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
            expression, timezone = resolve(spec, env)
            target = functions[spec.function].target
            # the exact ARN Scheduler calls (grant_invoke would add "<arn>:*", every version)
            self.role.add_to_principal_policy(
                iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[target.function_arn])
            )
            self.schedules[spec.name] = scheduler.CfnSchedule(
                self,
                pascal(spec.name),
                description=f"genbot {spec.name} -> {spec.function}",
                schedule_expression=expression,
                schedule_expression_timezone=timezone,
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
