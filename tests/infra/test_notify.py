"""The notices (issue 11): the notify function, its schedules, the broadcast queue and table, and
the users table's sparse "due" indexes, as deployed.

The generic checks (every function, queue, table and alarm from the specs) live in the other
modules; these say what this feature in particular must have, so a spec change that weakens it
(a scan on the broadcasts table, a schedule in UTC, a queue without partial batch responses)
fails here by name.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from genbot.resources import DEFAULT_TIMEZONE, SCHEDULES
from infra.functions import ITEM_ACTIONS
from infra.schedules import MAX_EVENT_AGE_SECONDS, MAX_RETRIES, resolve
from infra.settings import SettingsError
from infra.stack import GenbotStack
from tests.infra.refs import alias_function_name

LogicalId = Callable[..., str]
Grants = dict[tuple[str, str], set[str]]  # (logical id or "*", suffix) -> actions

SCHEDULE = "AWS::Scheduler::Schedule"
MAPPING = "AWS::Lambda::EventSourceMapping"
TABLE = "AWS::DynamoDB::Table"
INDEX = "/index/*"
SCAN = "dynamodb:Scan"
NEVER = {"dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteTable", "dynamodb:PartiQLDelete"}
NOTIFY_SCHEDULES = {
    # name: (expression, time zone) with the default settings
    "offers": ("rate(15 minutes)", "UTC"),
    "bonus_reminders": ("cron(0/15 11-23 * * ? *)", DEFAULT_TIMEZONE),
    "subscription_notices": ("rate(1 hour)", "UTC"),
}


def _resource(value: Any) -> tuple[str, str]:
    match value:
        case "*":
            return ("*", "")
        case {"Ref": str(logical_id)} | {"Fn::GetAtt": [str(logical_id), "Arn"]}:
            return (logical_id, "")
        case {"Fn::Join": ["", [{"Fn::GetAtt": [str(logical_id), "Arn"]}, str(suffix)]]}:
            return (logical_id, suffix)
    raise AssertionError(f"a policy names a resource in an unexpected form: {value}")


def _grants(template: Template, role_id: str) -> Grants:
    """Resource -> actions the role's inline policies allow (all Allow, none conditional)."""
    policies = template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"Roles": Match.array_with([{"Ref": role_id}])}}
    )
    grants: Grants = defaultdict(set)
    for policy in policies.values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert set(statement) == {"Action", "Effect", "Resource"}, statement
            assert statement["Effect"] == "Allow", statement
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for resource in resources:
                grants[_resource(resource)] |= set(actions)
    return dict(grants)


def _role_grants(template: Template, stack: GenbotStack, logical_id: LogicalId, function: str) -> Grants:
    return _grants(template, logical_id(stack.functions.functions[function].role))


# --- the function and what it may touch --------------------------------------------------------


def test_notify_runs_with_its_timeout_memory_and_reserved_concurrency(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    fn = app_stack.functions.functions["notify"]
    assert fn.spec.snapstart is False  # no SnapStart; schedules and the queue invoke its `live` alias
    matching = template.find_resources(
        "AWS::Lambda::Function",
        {"Properties": {"Timeout": 60, "MemorySize": 512, "ReservedConcurrentExecutions": 5}},
    )
    assert logical_id(fn.function) in matching


def test_notify_reaches_exactly_its_tables_queue_and_secret(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    grants = _role_grants(template, app_stack, logical_id, "notify")
    fn = app_stack.functions.functions["notify"]
    tables = {name: logical_id(table) for name, table in app_stack.tables.tables.items()}
    broadcasts_queue = logical_id(app_stack.queues.queues["broadcasts"].queue)

    # then it names these resources and nothing else: no jobs queue, no media bucket, no ledger
    assert set(grants) == {
        ("*", ""),  # X-Ray only
        (logical_id(fn.log_group), ""),
        (tables["users"], ""),
        (tables["users"], INDEX),
        (tables["settings"], ""),
        (tables["broadcasts"], ""),
        (tables["broadcasts"], INDEX),
        (broadcasts_queue, ""),
        (logical_id(app_stack.secret.secret), ""),
    }
    assert grants[("*", "")] == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    assert not any(a.startswith("s3:") for actions in grants.values() for a in actions)

    # users: items and Scan (a broadcast reads its segment), on the table and its due indexes
    for suffix in ("", INDEX):
        assert grants[(tables["users"], suffix)] == {*ITEM_ACTIONS, SCAN}
    # broadcasts: items, never a scan
    for suffix in ("", INDEX):
        assert grants[(tables["broadcasts"], suffix)] == set(ITEM_ACTIONS)
    # settings: read-only ("read": get, batch get, query; never a scan)
    settings = grants[(tables["settings"], "")]
    assert "dynamodb:GetItem" in settings
    assert not settings & {"dynamodb:PutItem", "dynamodb:UpdateItem", SCAN, *NEVER}
    # Scan: on users only (a broadcast's segment)
    scanned = {resource for resource, actions in grants.items() if SCAN in actions}
    assert scanned == {(tables["users"], ""), (tables["users"], INDEX)}
    # nothing deletes or batch-writes, anywhere
    assert not any(actions & NEVER for actions in grants.values())

    # SQS: send (the fan-out) and consume, on the broadcasts queue only; no DLQ access
    sqs = {r: {a for a in actions if a.startswith("sqs:")} for r, actions in grants.items()}
    assert {r for r, a in sqs.items() if a} == {(broadcasts_queue, "")}
    assert {"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage"} <= sqs[(broadcasts_queue, "")]


def test_notify_environment_names_its_tables_and_the_broadcast_queue(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    env = template.find_resources("AWS::Lambda::Function")[
        logical_id(app_stack.functions.functions["notify"].function)
    ]["Properties"]["Environment"]["Variables"]
    tables = app_stack.tables.tables
    assert env["USERS_TABLE"] == {"Ref": logical_id(tables["users"])}
    assert env["SETTINGS_TABLE"] == {"Ref": logical_id(tables["settings"])}
    assert env["BROADCASTS_TABLE"] == {"Ref": logical_id(tables["broadcasts"])}
    assert env["BROADCASTS_QUEUE_URL"] == {"Ref": logical_id(app_stack.queues.queues["broadcasts"].queue)}
    assert env["POWERTOOLS_SERVICE_NAME"] == "notify"
    assert not {"JOBS_QUEUE_URL", "MEDIA_BUCKET", "LEDGER_TABLE", "JOBS_DLQ_ARN"} & set(env)


def test_the_webhook_starts_broadcasts_send_and_items_only(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    # an admin's /broadcast: the broadcast's items, then its first message on the queue
    grants = _role_grants(template, app_stack, logical_id, "webhook")
    table = logical_id(app_stack.tables.tables["broadcasts"])
    queue = logical_id(app_stack.queues.queues["broadcasts"].queue)
    assert grants[(table, "")] == set(ITEM_ACTIONS)
    assert "sqs:SendMessage" in grants[(queue, "")]
    assert not grants[(queue, "")] & {"sqs:ReceiveMessage", "sqs:DeleteMessage"}  # notify consumes
    users = logical_id(app_stack.tables.tables["users"])
    assert SCAN not in grants[(users, "")]  # the webhook's users access stays "items"
    env = template.find_resources("AWS::Lambda::Function")[
        logical_id(app_stack.functions.functions["webhook"].function)
    ]["Properties"]["Environment"]["Variables"]
    assert env["BROADCASTS_QUEUE_URL"] == {"Ref": queue}
    assert env["BROADCASTS_TABLE"] == {"Ref": table}


# --- the schedules -------------------------------------------------------------------------------


def _schedule(template: Template, stack: GenbotStack, logical_id: LogicalId, name: str) -> dict[str, Any]:
    return template.find_resources(SCHEDULE)[logical_id(stack.schedules.schedules[name])]["Properties"]


@pytest.mark.parametrize("name", list(NOTIFY_SCHEDULES))
def test_each_notice_schedule_invokes_notify_with_its_task_on_time(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, name: str
) -> None:
    expression, timezone = NOTIFY_SCHEDULES[name]
    notify = logical_id(app_stack.functions.functions["notify"].alias)
    schedule = _schedule(template, app_stack, logical_id, name)

    assert schedule["ScheduleExpression"] == expression
    assert schedule["ScheduleExpressionTimezone"] == timezone
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}  # "at 11:00" means then
    assert schedule["State"] == "ENABLED"
    target = schedule["Target"]
    assert target["Arn"] == {"Ref": notify}
    assert json.loads(target["Input"]) == {"task": name}
    assert target["RetryPolicy"] == {
        "MaximumEventAgeInSeconds": MAX_EVENT_AGE_SECONDS,
        "MaximumRetryAttempts": MAX_RETRIES,
    }


def test_exactly_these_schedules_invoke_notify(app_stack: GenbotStack) -> None:
    assert {s.name for s in app_stack.specs.schedules.values() if s.function == "notify"} == set(
        NOTIFY_SCHEDULES
    )


def test_the_bonus_reminder_follows_the_deployed_timezone_and_hour(
    variant_template: Template,
    variant_stack: GenbotStack,
    variant_context: dict[str, str],
    logical_id: LogicalId,
) -> None:
    # given -c functionEnv='{"TIMEZONE": "Asia/Yekaterinburg", "BONUS_REMINDER_HOUR": "10", ...}'
    env = json.loads(variant_context["functionEnv"])
    assert env["TIMEZONE"] == "Asia/Yekaterinburg" and env["BONUS_REMINDER_HOUR"] == "10"

    # then the reminder runs from 10:00 Yekaterinburg time...
    schedule = _schedule(variant_template, variant_stack, logical_id, "bonus_reminders")
    assert schedule["ScheduleExpression"] == "cron(0/15 10-23 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "Asia/Yekaterinburg"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    # ...the rates stay as they are...
    for name in ("offers", "subscription_notices"):
        other = _schedule(variant_template, variant_stack, logical_id, name)
        assert (other["ScheduleExpression"], other["ScheduleExpressionTimezone"]) == NOTIFY_SCHEDULES[name]
    # ...and notify, deciding "after 10:00 in TIMEZONE", gets the same values
    notify = variant_template.find_resources("AWS::Lambda::Function")[
        logical_id(variant_stack.functions.functions["notify"].function)
    ]["Properties"]["Environment"]["Variables"]
    assert notify["TIMEZONE"] == "Asia/Yekaterinburg" and notify["BONUS_REMINDER_HOUR"] == "10"


def test_the_default_bonus_reminder_zone_is_the_apps_default(template: Template) -> None:
    # no TIMEZONE in functionEnv: the functions use genbot.config's default, the schedule too
    from genbot.config import Settings

    assert Settings.model_fields["timezone"].default == DEFAULT_TIMEZONE == "Europe/Moscow"
    assert Settings.model_fields["bonus_reminder_hour"].default == 11
    template.has_resource_properties(
        SCHEDULE,
        {"ScheduleExpression": "cron(0/15 11-23 * * ? *)", "ScheduleExpressionTimezone": "Europe/Moscow"},
    )


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"TIMEZONE": "Mars/Olympus"}, "TIMEZONE"),
        ({"BONUS_REMINDER_HOUR": "24"}, "BONUS_REMINDER_HOUR"),
        ({"BONUS_REMINDER_HOUR": "eleven"}, "BONUS_REMINDER_HOUR"),
    ],
)
def test_a_bad_timezone_or_hour_fails_the_synth_naming_it(env: dict[str, str], problem: str) -> None:
    with pytest.raises(SettingsError, match=problem):
        resolve(SCHEDULES["bonus_reminders"], env)


# --- the broadcast queue ------------------------------------------------------------------------


def test_the_broadcast_queue_redrives_to_its_dlq_and_feeds_notify_one_at_a_time(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    queue = app_stack.queues.queues["broadcasts"]
    queue_id, dlq_id = logical_id(queue.queue), logical_id(queue.dlq)
    notify = logical_id(app_stack.functions.functions["notify"].alias)

    # the queue: dead letters after 5 receives, to a DLQ kept 14 days
    props = template.find_resources("AWS::SQS::Queue")[queue_id]["Properties"]
    assert props["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": 5,
    }
    assert props["VisibilityTimeout"] == 6 * 60  # six times notify's timeout
    assert (
        template.find_resources("AWS::SQS::Queue")[dlq_id]["Properties"]["MessageRetentionPeriod"]
        == 14 * 86400
    )

    # the event source: notify, one message per invocation, partial batch responses, 2 pollers
    template.resource_properties_count_is(MAPPING, {"EventSourceArn": {"Fn::GetAtt": [queue_id, "Arn"]}}, 1)
    template.has_resource_properties(
        MAPPING,
        {
            "EventSourceArn": {"Fn::GetAtt": [queue_id, "Arn"]},
            "FunctionName": alias_function_name(notify),
            "BatchSize": 1,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": Match.object_equals({"MaximumConcurrency": 2}),
        },
    )
    # nothing consumes the DLQ: a person reads it (the alarm below) and redrives
    template.resource_properties_count_is(MAPPING, {"EventSourceArn": {"Fn::GetAtt": [dlq_id, "Arn"]}}, 0)


def test_the_broadcast_dlq_and_notify_errors_page_the_operator(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    topic = [{"Ref": logical_id(app_stack.monitoring.topic)}]
    dlq = logical_id(app_stack.queues.queues["broadcasts"].dlq)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}],
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
            "AlarmDescription": Match.string_like_regexp("broadcasts DLQ.*nothing consumes"),
            "AlarmActions": topic,
        },
    )
    notify = logical_id(app_stack.functions.functions["notify"].function)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": notify}}],
            "Threshold": 0,
            "AlarmActions": topic,
        },
    )


# --- the tables ---------------------------------------------------------------------------------


def test_the_broadcasts_table_has_its_keys_and_expires_recipients(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    props = template.find_resources(TABLE)[logical_id(app_stack.tables.tables["broadcasts"])]["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "broadcast_id", "KeyType": "HASH"},
        {"AttributeName": "part", "KeyType": "RANGE"},
    ]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"  # its indexes: as the model says (test_data)


def test_the_users_table_has_the_three_sparse_due_indexes(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    props = template.find_resources(TABLE)[logical_id(app_stack.tables.tables["users"])]["Properties"]
    indexes = {i["IndexName"]: i for i in props["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"offer_due", "bonus_due", "sub_due"}
    for name, prefix in (("offer_due", "offer"), ("bonus_due", "bonus"), ("sub_due", "sub")):
        assert indexes[name]["KeySchema"] == [
            {"AttributeName": f"{prefix}_q", "KeyType": "HASH"},
            {"AttributeName": f"{prefix}_at", "KeyType": "RANGE"},
        ]
        assert indexes[name]["Projection"] == {"ProjectionType": "ALL"}
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types == {
        "user_id": "N",
        **{f"{p}_q": "S" for p in ("offer", "bonus", "sub")},
        **{f"{p}_at": "N" for p in ("offer", "bonus", "sub")},
    }


def test_a_table_access_the_cdk_app_does_not_know_fails_the_specs() -> None:
    # "write" is for buckets; on a table it must not fall through to a wider grant
    from dataclasses import replace

    from infra.specs import AppSpecs, SpecError

    base = AppSpecs.load()
    notify = replace(base.functions["notify"], tables={**base.functions["notify"].tables, "users": "write"})
    with pytest.raises(SpecError, match=r"notify: table 'users' has access 'write'"):
        replace(base, functions={**base.functions, "notify": notify}).validate()
