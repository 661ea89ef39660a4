"""Alarms that page the operator: a DLQ holding anything, a function erroring, the API's 5xx
(one per queue and function in the specs, so the broadcasts DLQ and notify's errors too),
and the generate function's own signals that a paid credit is at risk: failed job records,
a bot token Telegram rejects, results refunded because Telegram took them in no form, and
stuck jobs the sweep had to refund.

All go to one SNS topic; ``-c alarmEmail=ops@example.com`` subscribes an address (confirm the
email AWS sends). The topic is not KMS-encrypted because CloudWatch cannot publish to a topic
encrypted with the AWS-managed key, and alarm texts hold no secrets.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.functions import METRICS_NAMESPACE, AppFunction
from infra.naming import pascal
from infra.queues import Queue

PERIOD = Duration.minutes(5)

# (metric emitted by the payment_poll function, threshold per 5 minutes, what it means)
PAYMENT_ALARMS = (
    ("PaymentsExpired", 0, "A YooKassa payment stayed pending past its expiry: check YooKassa and the poll."),
    ("PaymentsUnmatched", 0, "A payment matched no order and was not credited: refund it (genbot refund)."),
)
# (metric emitted by the generate function, threshold per 5 minutes, what it means)
JOB_ALARMS = (
    (
        "JobRecordFailures",
        10,
        "Many job records failed (retries or errors): look at the generate logs (ERROR).",
    ),
    (
        "TelegramAuthFailures",
        0,
        "Telegram rejects the bot token: results are kept and retried. Rotate BOT_TOKEN.",
    ),
    ("JobsRefundedUndelivered", 0, "Results Telegram refused in every form were refunded: check the logs."),
    ("StuckJobsRefunded", 0, "The sweep refunded jobs that never ran: check the jobs queue and the worker."),
)


def dlq_description(queue: str, dlq_consumer: str | None) -> str:
    """What a message in the queue's DLQ means and what to do about it."""
    if dlq_consumer:
        return (
            f"Messages in the {queue} DLQ: they exhausted their retries; {dlq_consumer} settles them "
            "(jobs: refunds). Anything staying there failed that too: check its logs."
        )
    return (
        f"Messages in the {queue} DLQ: they exhausted their retries and nothing consumes the DLQ. "
        "Read the consumer's logs, fix the cause, then redrive (SQS StartMessageMoveTask)."
    )


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, AppFunction],
        queues: Mapping[str, Queue],
        api_server_errors: cloudwatch.IMetric,
        alarm_email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "AlarmTopic", display_name="genbot alarms", enforce_ssl=True)
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.alarms: list[cloudwatch.Alarm] = []

        for name, queue in queues.items():
            self._alarm(
                f"{pascal(name)}DlqNotEmpty",
                queue.dlq.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(1), statistic="Maximum"
                ),
                threshold=0,
                description=dlq_description(name, queue.spec.dlq_consumer),
            )
        for name, fn in functions.items():
            self._alarm(
                f"{pascal(name)}Errors",
                fn.function.metric_errors(period=PERIOD, statistic="Sum"),
                threshold=0,
                description=f"The {name} function raised errors (uncaught exceptions or timeouts).",
            )
        if "generate" in functions:
            for metric_name, threshold, description in JOB_ALARMS:
                self._alarm(
                    metric_name,
                    cloudwatch.Metric(
                        namespace=METRICS_NAMESPACE,
                        metric_name=metric_name,
                        dimensions_map={"service": "generate"},
                        period=PERIOD,
                        statistic="Sum",
                    ),
                    threshold=threshold,
                    description=description,
                )
        for function, alarms in (("payment_poll", PAYMENT_ALARMS[:1]), ("webhook", PAYMENT_ALARMS[1:])):
            if function not in functions:
                continue
            for metric_name, threshold, description in alarms:
                self._alarm(
                    metric_name,
                    cloudwatch.Metric(
                        namespace=METRICS_NAMESPACE,
                        metric_name=metric_name,
                        dimensions_map={"service": function},
                        period=PERIOD,
                        statistic="Sum",
                    ),
                    threshold=threshold,
                    description=description,
                )
        self._alarm(
            "ApiServerErrors",
            api_server_errors,
            threshold=0,
            description="The HTTP API answered 5xx (Telegram retries those; the cabinet shows errors).",
        )

    def _alarm(
        self, construct_id: str, metric: cloudwatch.IMetric, *, threshold: float, description: str
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        self.alarms.append(alarm)
