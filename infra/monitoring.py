"""Alarms that page the operator, and the operator's dashboard.

Alarms: a DLQ holding anything, a function erroring or throttled, the API's 5xx (one per queue and
function in the specs, so the broadcasts DLQ and notify's errors too), the jobs queue not draining
(its oldest message too old), the webhook slow, the generate function's own signals that a paid
credit is at risk (failed job records, a bot token Telegram rejects, results refunded because
Telegram took them in no form, stuck jobs the sweep had to refund), payments that expired or
matched no order, the hourly ledger audit finding a balance that differs from its ledger, and
(low severity) the operator's statistics counters failing to write. Each alarm is named
``<stack>-<id>`` (e.g. ``GenbotStack-JobsDlqNotEmpty``) and its description says what to do;
``docs/operations.md`` has the runbook entry for each.

The dashboard (``<stack>-operations``) graphs only what the code emits: the custom metrics
(namespace ``genbot``, dimension ``service`` = the function that emitted them; ``DASHBOARD_METRICS``
names each; a search expression draws one line per emitting function), the functions' errors,
throttles and duration, the queues' depth and oldest message, and the API's requests, 4xx/5xx and
latency.

All go to one SNS topic; ``-c alarmEmail=ops@example.com`` subscribes an address (confirm the
email AWS sends). The topic is not KMS-encrypted because CloudWatch cannot publish to a topic
encrypted with the AWS-managed key, and alarm texts hold no secrets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.functions import METRICS_NAMESPACE, AppFunction
from infra.naming import pascal
from infra.queues import Queue

PERIOD = Duration.minutes(5)
HOUR = Duration.hours(1)
JOBS_QUEUE = "jobs"
# The oldest job message: retries back off 15 s to 5 min over five receives (~20 minutes with the
# runs), so half an hour means the queue is not draining; the sweep refunds at an hour.
JOBS_MAX_AGE_SECONDS = 1800
BOT_FUNCTION = "webhook"
# the webhook's p99 duration, three 5-minute periods running (its timeout is 25 s; Telegram waits
# ~60 s before retrying, and holds the chat's next updates meanwhile)
WEBHOOK_P99_SECONDS = 10
AUDIT_FUNCTION = "audit"
STATS_TABLE = "stats"  # the functions writing the operator's counters (genbot.stats)
STATS_FAILURES_PER_HOUR = 10

# The dashboard's custom metrics (each emitted with add_metric(name=...) in genbot; a test checks
# the names against the sources): (title, metric names)
DASHBOARD_METRICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Telegram updates",
        ("Updates", "DuplicateUpdates", "ForgedWebhooks", "UpdateErrors", "UsersRegistered"),
    ),
    (
        "Jobs by outcome",
        (
            "JobsCreated",
            "JobsSucceeded",
            "JobsFailed",
            "JobRetries",
            "JobRecordFailures",
            "JobsRefundedUndelivered",
            "StuckJobsResent",
            "StuckJobsRefunded",
        ),
    ),
    (
        "Providers",
        (
            "ProviderCalls",
            "ProviderErrors",
            "ProviderBadOutput",
            "ChatProviderRetries",
            "ChatProviderQuota",
            "TelegramAuthFailures",
        ),
    ),
    ("Chat", ("ChatAnswered", "ChatPlainFallback", "ChatContextTrimmed")),
    ("Chat tokens", ("ChatTokensIn", "ChatTokensOut")),
    (
        "Payments",
        (
            "PaymentsSettled",
            "PaymentsRefunded",
            "PaymentsExpired",
            "PaymentsUnmatched",
            "PaymentsCanceled",
            "SubscriptionCharges",
            "PromoRedeemed",
        ),
    ),
    (
        "Credits sold, spent, refunded, taken back",
        ("CreditsSold", "CreditsSpent", "CreditsRefunded", "CreditsTakenBack"),
    ),
    (
        "Notices and broadcasts",
        ("NoticesSent", "NoticesBlocked", "BroadcastsStarted", "BroadcastsDone", "BroadcastRecordFailures"),
    ),
    (
        "Checks",
        ("LedgerMismatches", "StatsWriteFailed", "CabinetErrors", "CabinetUnavailable", "YooKassaTimeout"),
    ),
)

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
        api: apigw.IHttpApi,
        alarm_email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "AlarmTopic", display_name="genbot alarms", enforce_ssl=True)
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.alarms: list[cloudwatch.Alarm] = []
        self._prefix = Stack.of(self).stack_name

        for name, queue in queues.items():
            self._alarm(
                f"{pascal(name)}DlqNotEmpty",
                queue.dlq.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(1), statistic="Maximum"
                ),
                threshold=0,
                description=dlq_description(name, queue.spec.dlq_consumer),
            )
        if JOBS_QUEUE in queues:
            self._alarm(
                f"{pascal(JOBS_QUEUE)}QueueOldestMessage",
                queues[JOBS_QUEUE].queue.metric_approximate_age_of_oldest_message(
                    period=PERIOD, statistic="Maximum"
                ),
                threshold=JOBS_MAX_AGE_SECONDS,
                description=(
                    f"A job has waited over {JOBS_MAX_AGE_SECONDS // 60} minutes in the jobs queue: the "
                    "worker is not draining it. Check the generate function's errors, throttles and "
                    "logs, and the providers; the sweep refunds jobs older than an hour."
                ),
            )
        for name, fn in functions.items():
            self._alarm(
                f"{pascal(name)}Errors",
                fn.function.metric_errors(period=PERIOD, statistic="Sum"),
                threshold=0,
                description=f"The {name} function raised errors (uncaught exceptions or timeouts).",
            )
            self._alarm(
                f"{pascal(name)}Throttles",
                fn.function.metric_throttles(period=PERIOD, statistic="Sum"),
                threshold=0,
                description=(
                    f"Lambda throttled the {name} function: its reserved concurrency or the account's "
                    "limit is exhausted. Webhook throttles are retried by Telegram, queue messages "
                    "move towards the DLQ. Check ConcurrentExecutions and the Service Quotas."
                ),
            )
        if BOT_FUNCTION in functions:
            self._alarm(
                "WebhookLatency",
                functions[BOT_FUNCTION].function.metric_duration(period=PERIOD, statistic="p99"),
                threshold=WEBHOOK_P99_SECONDS * 1000,
                evaluation_periods=3,
                description=(
                    f"The webhook's p99 duration has been over {WEBHOOK_P99_SECONDS} s for 15 minutes: "
                    "users wait, and Telegram holds their next updates. Look at the webhook's X-Ray "
                    "traces and logs for the slow call (DynamoDB throttling, the Bot API, SQS)."
                ),
            )
        if "generate" in functions:
            calls, errors = _custom("ProviderCalls", "generate"), _custom("ProviderErrors", "generate")
            self._alarm(
                "ProviderErrorRate",
                cloudwatch.MathExpression(
                    expression="IF(calls >= 5, errors / calls, 0)",
                    using_metrics={"calls": calls, "errors": errors},
                    label="provider error rate",
                    period=PERIOD,
                ),
                threshold=0.5,
                evaluation_periods=2,
                description=(
                    "More than half the provider calls failed (timeouts, 5xx, quota) for 10 minutes: "
                    "jobs retry and fall back, but users wait. See 'A provider outage' in docs/operations.md."
                ),
            )
            for metric_name, threshold, description in JOB_ALARMS:
                self._alarm(
                    metric_name,
                    _custom(metric_name, "generate"),
                    threshold=threshold,
                    description=description,
                )
        for function, alarms in (("payment_poll", PAYMENT_ALARMS[:1]), ("webhook", PAYMENT_ALARMS[1:])):
            if function not in functions:
                continue
            for metric_name, threshold, description in alarms:
                self._alarm(
                    metric_name, _custom(metric_name, function), threshold=threshold, description=description
                )
        if AUDIT_FUNCTION in functions:
            self._alarm(
                "LedgerMismatches",
                _custom("LedgerMismatches", AUDIT_FUNCTION, period=HOUR),
                threshold=0,
                description=(
                    "The hourly ledger audit found a balance that differs from the sum of its ledger "
                    "entries: money moved outside the ledger. Run genbot audit to list the users, find "
                    "the write in the logs; correct with a ledger entry (genbot grant), never by hand."
                ),
            )
        writers = sorted(name for name, fn in functions.items() if STATS_TABLE in fn.spec.tables)
        if writers:
            self._alarm(
                "StatsWriteFailed",
                _sum_over(writers, "StatsWriteFailed", HOUR),
                threshold=STATS_FAILURES_PER_HOUR,
                description=(
                    f"Low severity: over {STATS_FAILURES_PER_HOUR} writes of the operator's statistics "
                    "counters failed in an hour (users and money are unaffected; only the admin's "
                    "numbers undercount). Check the stats table's throttling and the functions' logs."
                ),
            )
        self._alarm(
            "ApiServerErrors",
            api.metric_server_error(period=PERIOD, statistic="Sum"),
            threshold=0,
            description="The HTTP API answered 5xx (Telegram retries those; the cabinet shows errors).",
        )
        self.dashboard = self._dashboard(functions, queues, api)

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        evaluation_periods: int = 1,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=f"{self._prefix}-{construct_id}",
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=evaluation_periods,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        self.alarms.append(alarm)

    def _dashboard(
        self, functions: Mapping[str, AppFunction], queues: Mapping[str, Queue], api: apigw.IHttpApi
    ) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{self._prefix}-operations",
            default_interval=Duration.hours(24),
        )
        dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=(
                    "# genbot\nCustom metrics: namespace `genbot`, one line per emitting function "
                    "(`service`). Alarms and what to do: `docs/operations.md`."
                ),
                width=24,
                height=2,
            )
        )
        graphs = [_graph(title, names) for title, names in DASHBOARD_METRICS]
        graphs += [
            # genbot.observability.provider_call: one line per provider call, dimensions provider
            # and outcome (ok, refused, invalid, quota, transient, error)
            _graph_of(
                "Provider latency p50 / p99 (ms)",
                [
                    cloudwatch.MathExpression(
                        expression=provider_search(stat),
                        label=f"{stat} ${{PROP('Dim.provider')}} ${{PROP('Dim.outcome')}}",
                        using_metrics={},
                        period=PERIOD,
                    )
                    for stat in ("p50", "p99")
                ],
            ),
            _graph_of(
                "Provider calls by outcome",
                [
                    cloudwatch.MathExpression(
                        expression=provider_search("SampleCount"),
                        label="${PROP('Dim.provider')} ${PROP('Dim.outcome')}",
                        using_metrics={},
                        period=PERIOD,
                    )
                ],
            ),
            # the webhook's Updates_<type> (message, callback_query, pre_checkout_query, ...)
            _graph_of(
                "Updates by type",
                [
                    cloudwatch.MathExpression(
                        expression=UPDATES_BY_TYPE,
                        label="${PROP('MetricName')}",
                        using_metrics={},
                        period=PERIOD,
                    )
                ],
            ),
        ]
        fns = list(functions.items())
        graphs += [
            _graph_of("Lambda errors", [fn.function.metric_errors(label=n, period=PERIOD) for n, fn in fns]),
            _graph_of(
                "Lambda throttles", [fn.function.metric_throttles(label=n, period=PERIOD) for n, fn in fns]
            ),
            _graph_of(
                "Lambda duration p99 (ms)",
                [fn.function.metric_duration(label=n, period=PERIOD, statistic="p99") for n, fn in fns],
            ),
            _graph_of(
                "Lambda invocations",
                [fn.function.metric_invocations(label=n, period=PERIOD) for n, fn in fns],
            ),
        ]
        depth: list[cloudwatch.IMetric] = []
        age: list[cloudwatch.IMetric] = []
        for name, q in queues.items():
            for label, queue in ((name, q.queue), (f"{name} DLQ", q.dlq)):
                depth.append(
                    queue.metric_approximate_number_of_messages_visible(
                        label=label, period=PERIOD, statistic="Maximum"
                    )
                )
                age.append(
                    queue.metric_approximate_age_of_oldest_message(
                        label=label, period=PERIOD, statistic="Maximum"
                    )
                )
        graphs += [
            _graph_of("Queue depth (visible messages)", depth),
            _graph_of("Queue oldest message (s)", age),
            _graph_of(
                "API requests, 4xx, 5xx",
                [
                    api.metric_count(label="requests", period=PERIOD),
                    api.metric_client_error(label="4xx", period=PERIOD),
                    api.metric_server_error(label="5xx", period=PERIOD),
                ],
            ),
            _graph_of(
                "API latency (ms)",
                [
                    api.metric_latency(label="latency p50", period=PERIOD, statistic="p50"),
                    api.metric_latency(label="latency p99", period=PERIOD, statistic="p99"),
                    api.metric_integration_latency(label="integration p99", period=PERIOD, statistic="p99"),
                ],
            ),
        ]
        for i in range(0, len(graphs), 3):
            dashboard.add_widgets(*graphs[i : i + 3])
        return dashboard


def _custom(metric_name: str, service: str, period: Duration = PERIOD) -> cloudwatch.Metric:
    """A genbot metric as one function emits it (Powertools EMF: dimension ``service``)."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=metric_name,
        dimensions_map={"service": service},
        period=period,
        statistic="Sum",
    )


def _sum_over(services: Sequence[str], metric_name: str, period: Duration) -> cloudwatch.MathExpression:
    """The metric summed over the functions that emit it (a missing point counts as 0)."""
    metrics = {f"m{i}": _custom(metric_name, s, period) for i, s in enumerate(services)}
    return cloudwatch.MathExpression(
        expression=" + ".join(f"FILL({m}, 0)" for m in metrics),
        using_metrics=metrics,
        label=f"{metric_name} (all functions)",
        period=period,
    )


SERVICE_LABEL = "${PROP('Dim.service')}"  # a dynamic label: the function that emitted the line


def search(metric_name: str) -> str:
    """A search expression: the metric's sum per emitting function (``service``)."""
    return (
        f"SEARCH('{{{METRICS_NAMESPACE},service}} MetricName=\"{metric_name}\"', 'Sum', "
        f"{int(PERIOD.to_seconds())})"
    )


def provider_search(statistic: str) -> str:
    """``ProviderLatency`` per provider and outcome (its own dimensions, not ``service``)."""
    return (
        f"SEARCH('{{{METRICS_NAMESPACE},outcome,provider}} MetricName=\"ProviderLatency\"', "
        f"'{statistic}', {int(PERIOD.to_seconds())})"
    )


UPDATES_BY_TYPE = (
    f"SEARCH('{{{METRICS_NAMESPACE},service}} service=\"webhook\" MetricName=Updates_', 'Sum', "
    f"{int(PERIOD.to_seconds())})"
)


def _graph(title: str, names: Sequence[str]) -> cloudwatch.GraphWidget:
    return _graph_of(
        title,
        [
            cloudwatch.MathExpression(
                expression=search(n), label=f"{n} {SERVICE_LABEL}", using_metrics={}, period=PERIOD
            )
            for n in names
        ],
    )


def _graph_of(title: str, metrics: Sequence[cloudwatch.IMetric]) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(metrics), width=8, height=6)
