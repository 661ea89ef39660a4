"""Alarms (DLQ depth, function errors and throttles, API 5xx, the jobs queue's age, the webhook's
latency, the money and statistics signals), all notifying one SNS topic, and the dashboard."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from genbot.resources import FUNCTIONS, QUEUES
from infra.monitoring import (
    DASHBOARD_METRICS,
    JOB_ALARMS,
    JOBS_MAX_AGE_SECONDS,
    PAYMENT_ALARMS,
    STATS_FAILURES_PER_HOUR,
    WEBHOOK_P99_SECONDS,
)
from infra.stack import GenbotStack

ALARM = "AWS::CloudWatch::Alarm"
SUBSCRIPTION = "AWS::SNS::Subscription"

LogicalId = Callable[..., str]


def _on(dimension: str, value: Any) -> dict[str, Any]:
    """Alarm properties that pick the alarm on one metric dimension."""
    return {"Dimensions": Match.array_with([{"Name": dimension, "Value": value}])}


@pytest.mark.parametrize("name", list(QUEUES))
def test_each_dlq_alarms_when_it_holds_any_message(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, name: str
) -> None:
    dlq = _on("QueueName", {"Fn::GetAtt": [logical_id(app_stack.queues.queues[name].dlq), "QueueName"]})
    template.resource_properties_count_is(ALARM, dlq, 1)
    template.has_resource_properties(
        ALARM,
        {
            **dlq,
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0,
        },
    )


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_each_function_alarms_on_errors(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, name: str
) -> None:
    function = _on("FunctionName", {"Ref": logical_id(app_stack.functions.functions[name].function)})
    template.resource_properties_count_is(ALARM, {**function, "MetricName": "Errors"}, 1)
    template.has_resource_properties(
        ALARM,
        {
            **function,
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0,
        },
    )


def test_api_alarms_on_5xx(template: Template, app_stack: GenbotStack, logical_id: LogicalId) -> None:
    api = _on("ApiId", {"Ref": logical_id(app_stack.api.api)})
    template.resource_properties_count_is(ALARM, api, 1)
    template.has_resource_properties(
        ALARM,
        {
            **api,
            "Namespace": "AWS/ApiGateway",
            "MetricName": "5xx",
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0,
        },
    )


def test_every_alarm_notifies_the_topic(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    # per queue: its DLQ; per function: errors and throttles; the API's 5xx; the generate and
    # payment signals and the providers' error rate; the jobs queue's age; the webhook's latency;
    # the audit; the statistics
    expected = (
        len(QUEUES)
        + 2 * len(FUNCTIONS)
        + 1
        + len(JOB_ALARMS)
        + ("generate" in FUNCTIONS)
        + len(PAYMENT_ALARMS)
        + ("jobs" in QUEUES)
        + ("webhook" in FUNCTIONS)
        + ("audit" in FUNCTIONS)
        + 1
    )
    template.resource_count_is(ALARM, expected)
    topic = Match.exact([{"Ref": logical_id(app_stack.monitoring.topic)}])
    template.resource_properties_count_is(ALARM, {"AlarmActions": topic, "OKActions": topic}, expected)


def test_alarm_email_is_subscribed_only_when_given(
    template: Template,
    variant_template: Template,
    variant_stack: GenbotStack,
    variant_context: dict[str, str],
    logical_id: LogicalId,
) -> None:
    # given no alarmEmail / then no subscription
    template.resource_count_is(SUBSCRIPTION, 0)
    # given -c alarmEmail=... / then that address is subscribed to the alarm topic
    variant_template.resource_count_is(SUBSCRIPTION, 1)
    variant_template.has_resource_properties(
        SUBSCRIPTION,
        {
            "Protocol": "email",
            "Endpoint": variant_context["alarmEmail"],
            "TopicArn": {"Ref": logical_id(variant_stack.monitoring.topic)},
        },
    )


@pytest.mark.parametrize(("metric", "threshold"), [(m, t) for m, t, _ in JOB_ALARMS])
def test_the_generate_functions_money_signals_are_alarmed(
    template: Template, metric: str, threshold: int
) -> None:
    # the worker counts these (Powertools EMF, dimension service=generate): each has an alarm
    template.has_resource_properties(
        ALARM,
        {
            "Namespace": "genbot",
            "MetricName": metric,
            "Dimensions": [{"Name": "service", "Value": "generate"}],
            "Statistic": "Sum",
            "Threshold": threshold,
            "ComparisonOperator": "GreaterThanThreshold",
        },
    )


@pytest.mark.parametrize(
    ("metric", "service"), [("PaymentsExpired", "payment_poll"), ("PaymentsUnmatched", "webhook")]
)
def test_payments_that_stay_pending_or_match_nothing_are_alarmed(
    template: Template, metric: str, service: str
) -> None:
    template.has_resource_properties(
        ALARM,
        {"MetricName": metric, "Dimensions": [{"Name": "service", "Value": service}], "Threshold": 0},
    )


def _alarm_named(template: Template, app_stack: GenbotStack, construct_id: str) -> dict[str, Any]:
    alarm = app_stack.monitoring.node.find_child(construct_id)
    found = template.find_resources(ALARM, {"Properties": {"AlarmName": f"GenbotStack-{construct_id}"}})
    assert len(found) == 1, f"no alarm {construct_id}"
    (props,) = (r["Properties"] for r in found.values())
    assert alarm is not None
    return props


def test_every_alarm_is_named_after_the_stack_and_says_what_to_do(template: Template) -> None:
    alarms = template.find_resources(ALARM)
    for alarm in alarms.values():
        props = alarm["Properties"]
        assert str(props["AlarmName"]).startswith("GenbotStack-")
        assert len(props["AlarmDescription"]) > 40, props["AlarmName"]


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_each_function_alarms_on_throttles(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, name: str
) -> None:
    function = _on("FunctionName", {"Ref": logical_id(app_stack.functions.functions[name].function)})
    template.has_resource_properties(
        ALARM,
        {
            **function,
            "AlarmName": f"GenbotStack-{name.title().replace('_', '')}Throttles",
            "Namespace": "AWS/Lambda",
            "MetricName": "Throttles",
            "Statistic": "Sum",
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
        },
    )


def test_the_jobs_queue_alarms_when_its_oldest_message_is_too_old(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    queue = {"Fn::GetAtt": [logical_id(app_stack.queues.queues["jobs"].queue), "QueueName"]}
    props = _alarm_named(template, app_stack, "JobsQueueOldestMessage")
    assert props["Namespace"] == "AWS/SQS"
    assert props["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert props["Dimensions"] == [{"Name": "QueueName", "Value": queue}]
    assert props["Statistic"] == "Maximum"
    assert props["Threshold"] == JOBS_MAX_AGE_SECONDS
    assert JOBS_MAX_AGE_SECONDS < 3600  # before the sweep refunds the job


def test_the_webhook_alarms_when_its_p99_duration_stays_high(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    props = _alarm_named(template, app_stack, "WebhookLatency")
    webhook = {"Ref": logical_id(app_stack.functions.functions["webhook"].function)}
    assert props["Namespace"] == "AWS/Lambda" and props["MetricName"] == "Duration"
    assert props["Dimensions"] == [{"Name": "FunctionName", "Value": webhook}]
    assert props["ExtendedStatistic"] == "p99"
    assert props["Threshold"] == WEBHOOK_P99_SECONDS * 1000
    assert props["EvaluationPeriods"] == 3
    assert FUNCTIONS["webhook"].timeout_seconds > WEBHOOK_P99_SECONDS


@pytest.mark.skipif("audit" not in FUNCTIONS, reason="no audit function in the specs")
def test_a_ledger_mismatch_found_by_the_audit_is_alarmed(template: Template, app_stack: GenbotStack) -> None:
    props = _alarm_named(template, app_stack, "LedgerMismatches")
    assert props["Namespace"] == "genbot" and props["MetricName"] == "LedgerMismatches"
    assert props["Dimensions"] == [{"Name": "service", "Value": "audit"}]
    assert props["Statistic"] == "Sum" and props["Period"] == 3600
    assert props["Threshold"] == 0 and props["ComparisonOperator"] == "GreaterThanThreshold"


def test_failed_statistics_writes_are_alarmed_over_every_writer(
    template: Template, app_stack: GenbotStack
) -> None:
    props = _alarm_named(template, app_stack, "StatsWriteFailed")
    assert props["Threshold"] == STATS_FAILURES_PER_HOUR
    queries = props["Metrics"]
    (expression,) = [q["Expression"] for q in queries if "Expression" in q]
    stats = [q["MetricStat"] for q in queries if "MetricStat" in q]
    # every function that writes the stats table, summed (a function with no point counts 0)
    writers = sorted(name for name, spec in FUNCTIONS.items() if "stats" in spec.tables)
    assert writers, "no function writes the stats table"
    assert sorted(s["Metric"]["Dimensions"][0]["Value"] for s in stats) == writers
    assert {s["Metric"]["MetricName"] for s in stats} == {"StatsWriteFailed"}
    assert all(s["Period"] == 3600 and s["Stat"] == "Sum" for s in stats)
    assert expression.count("FILL(") == len(writers)


# --- the dashboard ---------------------------------------------------------------------------


def _dashboard(template: Template) -> tuple[dict[str, Any], set[str]]:
    """The dashboard's body (CloudFormation references written as ``"<ref>"``) and those references."""
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    body = json.loads("".join(p if isinstance(p, str) else "<ref>" for p in parts))
    refs = {json.dumps(p, sort_keys=True) for p in parts if not isinstance(p, str)}
    return body, refs


def _graphs(body: dict[str, Any]) -> dict[str, list[Any]]:
    """Graph title -> its metric rows."""
    return {
        w["properties"]["title"]: w["properties"]["metrics"] for w in body["widgets"] if w["type"] == "metric"
    }


def test_the_dashboard_graphs_the_custom_metrics_the_code_emits(template: Template, repo_root: Any) -> None:
    import re

    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    template.has_resource_properties(
        "AWS::CloudWatch::Dashboard", {"DashboardName": "GenbotStack-operations"}
    )
    body, _ = _dashboard(template)
    sources = "\n".join(
        p.read_text() for p in (repo_root / "layers" / "shared" / "python" / "genbot").rglob("*.py")
    )
    emitted = set(re.findall(r'add_metric\(\s*name="(\w+)"', sources))
    searches = [  # the per-function searches (provider latency and update types have their own)
        row[0]["expression"]
        for rows in _graphs(body).values()
        for row in rows
        if isinstance(row[0], dict) and '{genbot,service} MetricName="' in row[0].get("expression", "")
    ]
    graphed = [name for _, names in DASHBOARD_METRICS for name in names]

    # only metrics the code really emits (add_metric(name=...) in genbot), each drawn per emitting
    # function: a search over the genbot namespace's service dimension
    assert set(graphed) <= emitted, set(graphed) - emitted
    assert sorted(searches) == sorted(
        f"SEARCH('{{genbot,service}} MetricName=\"{name}\"', 'Sum', 300)" for name in graphed
    )
    for name in ("Updates", "JobsSucceeded", "JobsFailed", "PaymentsSettled", "PaymentsRefunded"):
        assert name in graphed
    assert {"CreditsSold", "ChatAnswered", "LedgerMismatches", "StatsWriteFailed"} <= set(graphed)


def test_the_dashboard_graphs_functions_queues_and_the_api(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    body, refs = _dashboard(template)
    rows = [row for metrics in _graphs(body).values() for row in metrics]
    named = {(row[0], row[1]) for row in rows if isinstance(row[0], str)}
    for metric in ("Errors", "Throttles", "Duration", "Invocations"):
        assert ("AWS/Lambda", metric) in named, metric
    for fn in app_stack.functions.functions.values():
        assert json.dumps({"Ref": logical_id(fn.function)}, sort_keys=True) in refs, fn.spec.name
    for metric in ("ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"):
        assert ("AWS/SQS", metric) in named, metric
    for queue in app_stack.queues.queues.values():
        for q in (queue.queue, queue.dlq):
            assert json.dumps({"Fn::GetAtt": [logical_id(q), "QueueName"]}, sort_keys=True) in refs
    for metric in ("Count", "4xx", "5xx", "Latency", "IntegrationLatency"):
        assert ("AWS/ApiGateway", metric) in named, metric


def test_the_providers_error_rate_alarms_past_half_with_enough_calls(template: Template) -> None:
    (alarm,) = [
        a["Properties"]
        for a in template.find_resources(ALARM).values()
        if a["Properties"].get("AlarmName", "").endswith("-ProviderErrorRate")
    ]
    assert alarm["Threshold"] == 0.5 and alarm["EvaluationPeriods"] == 2
    (expression,) = [m for m in alarm["Metrics"] if "Expression" in m]
    assert expression["Expression"] == "IF(calls >= 5, errors / calls, 0)"
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert names == {"ProviderCalls", "ProviderErrors"}


def test_the_dashboard_graphs_provider_latency_and_updates_by_type(template: Template) -> None:
    body, _ = _dashboard(template)
    text = json.dumps(body)
    assert "ProviderLatency" in text and "{genbot,outcome,provider}" in text
    assert "MetricName=Updates_" in text
