"""Lambda functions, one per ``FunctionSpec``, each wired to exactly what its spec names.

Every function gets its own role holding only: its log group, its tables (indexes included) at
the access its spec names ("read", "items" and "items_scan" are the exact ``TABLE_ACTIONS``;
"read_write" is CDK's data grant), send on the queues in ``sends_to``, consume on the
queue(s) it consumes, the object access its spec gives on buckets, and ``GetSecretValue`` on the
app secret. X-Ray's own actions are the only ``*`` (X-Ray has no resource-level permissions).

Every function is invoked through its alias ``live`` on a published version (SnapStart only
applies to published versions; the others get one too, so that rolling back is moving aliases).
Versions are retained on update and carry the deploy's release (``GENBOT_RELEASE``): a new
release publishes a new version of every function, ``genbot release rollback`` points each
``live`` alias back at the previous release's version, and ``genbot release prune`` deletes the
old ones (Lambda bills every published SnapStart version's cached snapshot).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Annotations, Duration, RemovalPolicy, Tags
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from constructs import Construct

from genbot.resources import FUNCTION_TAG, LIVE_ALIAS, RELEASE_ENV, FunctionSpec
from infra.data import Tables
from infra.layer import ARCHITECTURE, RUNTIME
from infra.media import MediaBuckets
from infra.naming import pascal
from infra.queues import Queues
from infra.secrets import AppSecret
from infra.settings import DeploySettings
from infra.specs import AppSpecs

HANDLER = "handler.handler"
# "read": items by key or query, never a scan (nothing in the functions scans a read-only table;
# CDK's grant_read_data would add Scan and the stream reads)
READ_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
]
# "items" access: one item at a time or in transactions; no scan, delete or batch write
ITEM_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:ConditionCheckItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DescribeTable",
]
# "items_scan": "items" and Scan (a broadcast reads its segment); still no delete or batch write
ITEM_SCAN_ACTIONS = [*ITEM_ACTIONS, "dynamodb:Scan"]
# table access -> the exact actions, on the table and its indexes ("read_write" is CDK's
# grant_read_write_data)
TABLE_ACTIONS = {"read": READ_ACTIONS, "items": ITEM_ACTIONS, "items_scan": ITEM_SCAN_ACTIONS}
# writes limited to items whose partition key has one of the spec's prefixes
KEYED_WRITE_ACTIONS = ["dynamodb:UpdateItem", "dynamodb:PutItem"]
METRICS_NAMESPACE = "genbot"

_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


class MissingHandlerError(FileNotFoundError):
    """A spec names a function whose ``functions/<name>/handler.py`` does not exist."""


def retention(days: int) -> logs.RetentionDays:
    try:
        return _RETENTION[days]
    except KeyError:
        raise ValueError(
            f"log retention of {days} days is not offered; use one of {sorted(_RETENTION)}"
        ) from None


def code_dir(root: Path, name: str) -> Path:
    directory = root / "functions" / name
    if not (directory / "handler.py").is_file():
        raise MissingHandlerError(
            f"function {name!r} is in genbot.resources.FUNCTIONS but {directory}/handler.py does not exist; "
            "write it (def handler(event, context)) or remove the spec"
        )
    return directory


class AppFunction(Construct):
    """One function with its role, log group and (for SnapStart) the ``live`` alias."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: FunctionSpec,
        code: Path,
        layer: lambda_.ILayerVersion,
        environment: Mapping[str, str],
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"genbot {spec.name}: only what FUNCTIONS[{spec.name!r}] names",
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description=f"genbot {spec.name}",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(code), exclude=["__pycache__", "*.pyc"]),
            layers=[layer],
            role=self.role,
            timeout=Duration.seconds(spec.timeout_seconds),
            memory_size=spec.memory_mb,
            reserved_concurrent_executions=spec.reserved_concurrency,
            environment=dict(environment),
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if spec.snapstart else None,
            # kept on update: the previous release's version is what a rollback points back at
            current_version_options=lambda_.VersionOptions(removal_policy=RemovalPolicy.RETAIN),
        )
        Tags.of(self.function).add(FUNCTION_TAG, spec.name)  # how `genbot release` finds it
        self.alias = lambda_.Alias(self, "Live", alias_name=LIVE_ALIAS, version=self.function.current_version)
        if spec.snapstart:
            Annotations.of(self.function).acknowledge_warning(
                "@aws-cdk/aws-lambda:snapStartRequirePublish",
                "published via current_version behind the alias",
            )

    @property
    def target(self) -> lambda_.IFunction:
        """What callers invoke: the ``live`` alias (never ``$LATEST``)."""
        return self.alias


@dataclass(frozen=True)
class Wiring:
    """The resources functions may be given access to."""

    tables: Tables
    queues: Queues
    buckets: MediaBuckets
    secret: AppSecret
    layer: lambda_.ILayerVersion


class Functions(Construct):
    """All functions; ``functions[name]`` is the ``AppFunction`` for ``FunctionSpec.name``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        specs: AppSpecs,
        wiring: Wiring,
        settings: DeploySettings,
        root: Path,
    ) -> None:
        super().__init__(scope, construct_id)
        self._wiring = wiring
        self.functions: dict[str, AppFunction] = {}
        for spec in specs.functions.values():
            fn = AppFunction(
                self,
                pascal(spec.name),
                spec=spec,
                code=code_dir(root, spec.name),
                layer=wiring.layer,
                environment=self._environment(spec, settings),
                log_retention=retention(settings.log_retention_days),
            )
            self._grant(fn)
            self.functions[spec.name] = fn
        self._consume(specs)

    def _environment(self, spec: FunctionSpec, settings: DeploySettings) -> dict[str, str]:
        w = self._wiring
        env = dict(settings.function_env)
        if settings.telegram_api_url:
            env["TELEGRAM_API_URL"] = settings.telegram_api_url
        if settings.release:
            env[RELEASE_ENV] = settings.release
        env |= {
            "POWERTOOLS_SERVICE_NAME": spec.name,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "LOG_LEVEL": "INFO",
        }
        for name in spec.tables:
            env[w.tables.specs[name].env_var] = w.tables.tables[name].table_name
        for name in spec.sends_to:
            env[w.queues.queues[name].spec.env_var] = w.queues.queues[name].queue.queue_url
        for name in spec.buckets:
            env[w.buckets.specs[name].env_var] = w.buckets.buckets[name].bucket_name
        for queue in w.queues.queues.values():
            # the DLQ consumer tells dead letters from fresh records by their eventSourceARN
            if queue.spec.dlq_consumer == spec.name and queue.spec.dlq_arn_env_var:
                env[queue.spec.dlq_arn_env_var] = queue.dlq.queue_arn
        if spec.secrets:
            env["SECRET_ID"] = w.secret.secret.secret_arn
        return env

    def _grant(self, fn: AppFunction) -> None:
        w, spec = self._wiring, fn.spec
        for name, access in spec.tables.items():
            table = w.tables.tables[name]
            if access in TABLE_ACTIONS:
                indexes = [f"{table.table_arn}/index/*"] if w.tables.specs[name].indexes else []
                fn.role.add_to_principal_policy(
                    iam.PolicyStatement(actions=TABLE_ACTIONS[access], resources=[table.table_arn, *indexes])
                )
            elif access == "read_write":
                table.grant_read_write_data(fn.role)
            else:  # AppSpecs.validate() says so first; never fall through to more than was asked
                raise ValueError(f"function {spec.name}: table {name!r} has unknown access {access!r}")
        for name, prefixes in spec.write_prefixes.items():
            fn.role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=KEYED_WRITE_ACTIONS,
                    resources=[w.tables.tables[name].table_arn],
                    conditions={
                        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{p}*" for p in prefixes]}
                    },
                )
            )
        for name in spec.sends_to:
            w.queues.queues[name].queue.grant_send_messages(fn.role)
        for name, access in spec.buckets.items():
            w.buckets.grant(name, access, fn.role)
        if spec.secrets:
            w.secret.grant_get_value(fn.role)

    def _consume(self, specs: AppSpecs) -> None:
        """SQS event sources with partial batch failures; the DLQ's consumer settles leftovers."""
        for queue in self._wiring.queues.queues.values():
            q = queue.spec
            consumer = self.functions[q.consumer]
            consumer.target.add_event_source(
                event_sources.SqsEventSource(
                    queue.queue,
                    batch_size=q.batch_size,
                    max_batching_window=(
                        Duration.seconds(q.max_batching_window_seconds)
                        if q.max_batching_window_seconds
                        else None
                    ),
                    report_batch_item_failures=True,
                    # Throttled polls count as receives: the sum of the consumer's event sources
                    # stays within its reserved concurrency (checked by AppSpecs.validate).
                    max_concurrency=q.max_concurrency,
                )
            )
            if q.dlq_consumer:
                self.functions[q.dlq_consumer].target.add_event_source(
                    event_sources.SqsEventSource(
                        queue.dlq,
                        batch_size=q.batch_size,
                        report_batch_item_failures=True,
                        max_concurrency=q.dlq_max_concurrency,
                    )
                )
