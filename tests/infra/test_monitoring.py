"""Alarms on DLQ depth, function errors and API 5xx, all notifying one SNS topic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from genbot.resources import FUNCTIONS, QUEUES
from infra.monitoring import JOB_ALARMS, PAYMENT_ALARMS
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
    template.resource_properties_count_is(ALARM, function, 1)
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
    expected = len(QUEUES) + len(FUNCTIONS) + 1 + len(JOB_ALARMS) + len(PAYMENT_ALARMS)
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
