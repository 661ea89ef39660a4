"""Schedules from ``SCHEDULES`` become EventBridge Scheduler schedules (no CDK change needed)."""

from __future__ import annotations

import json

from genbot.resources import SCHEDULES
from tests.infra.cfn import SCHEDULE_FUNCTION, Synth, as_list, refs, role_statements


def test_no_schedule_no_scheduler_resources(app_synth: Synth) -> None:
    # given the current specs (update this if SCHEDULES gains entries)
    assert len(app_synth.of_type("AWS::Scheduler::Schedule")) == len(SCHEDULES)
    if not SCHEDULES:
        assert not any(
            "scheduler.amazonaws.com" in json.dumps(r["Properties"].get("AssumeRolePolicyDocument", {}))
            for r in app_synth.of_type("AWS::IAM::Role").values()
        )


def test_a_schedule_spec_becomes_a_schedule_with_time_zone_and_input(variant_synth: Synth) -> None:
    # given a ScheduleSpec added to the specs (no CDK change)
    s = variant_synth
    (schedule,) = [
        r["Properties"]
        for r in s.of_type("AWS::Scheduler::Schedule").values()
        if r["Properties"]["ScheduleExpression"] == "cron(0/15 * * * ? *)"
    ]
    fn = s.stack.functions.functions[SCHEDULE_FUNCTION]
    target_id = s.logical_id(fn.alias or fn.function)

    # then it targets the function with the spec's input, in the spec's time zone
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Moscow"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert json.loads(schedule["Target"]["Input"]) == {"task": "offers", "dry_run": False}
    assert refs(schedule["Target"]["Arn"]) == {target_id}

    # and its role, assumable by Scheduler only, may invoke only that target
    role_id = schedule["Target"]["RoleArn"]["Fn::GetAtt"][0]
    trust = s.resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    statements = role_statements(s, role_id)
    assert {a for st in statements for a in as_list(st["Action"])} == {"lambda:InvokeFunction"}
    assert set().union(*(refs(st["Resource"]) for st in statements)) == {target_id}
