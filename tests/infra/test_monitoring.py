"""Alarms on DLQ depth, function errors and API 5xx, all notifying one SNS topic."""

from __future__ import annotations

from typing import Any

from genbot.resources import FUNCTIONS, QUEUES
from tests.infra.cfn import Synth


def _alarms(s: Synth) -> list[dict[str, Any]]:
    return [r["Properties"] for r in s.of_type("AWS::CloudWatch::Alarm").values()]


def _dims(alarm: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}


def test_each_dlq_alarms_when_it_holds_any_message(app_synth: Synth) -> None:
    s = app_synth
    for name in QUEUES:
        dlq_name = {"Fn::GetAtt": [s.logical_id(s.stack.queues.queues[name].dlq), "QueueName"]}
        (alarm,) = [a for a in _alarms(s) if _dims(a).get("QueueName") == dlq_name]
        assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["Threshold"] == 0


def test_each_function_alarms_on_errors(app_synth: Synth) -> None:
    s = app_synth
    for name in FUNCTIONS:
        function_ref = {"Ref": s.logical_id(s.stack.functions.functions[name].function)}
        (alarm,) = [a for a in _alarms(s) if _dims(a).get("FunctionName") == function_ref]
        assert alarm["MetricName"] == "Errors"
        assert alarm["Namespace"] == "AWS/Lambda"
        assert alarm["Threshold"] == 0


def test_api_alarms_on_5xx(app_synth: Synth) -> None:
    api_ref = {"Ref": app_synth.logical_id(app_synth.stack.api.api)}
    (alarm,) = [a for a in _alarms(app_synth) if _dims(a).get("ApiId") == api_ref]
    assert alarm["MetricName"] == "5xx"
    assert alarm["Namespace"] == "AWS/ApiGateway"


def test_every_alarm_notifies_the_topic(app_synth: Synth) -> None:
    topic_ref = {"Ref": app_synth.logical_id(app_synth.stack.monitoring.topic)}
    alarms = _alarms(app_synth)
    assert len(alarms) == len(QUEUES) + len(FUNCTIONS) + 1
    assert all(a["AlarmActions"] == [topic_ref] for a in alarms)


def test_alarm_email_is_subscribed_only_when_given(app_synth: Synth, variant_synth: Synth) -> None:
    assert app_synth.of_type("AWS::SNS::Subscription") == {}
    (sub,) = variant_synth.of_type("AWS::SNS::Subscription").values()
    assert sub["Properties"]["Protocol"] == "email"
    assert sub["Properties"]["Endpoint"] == "ops@example.com"
