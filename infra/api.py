"""The HTTP API: every function's ``http_routes``, integrated with its ``target`` (the ``live``
alias for SnapStart functions, so API Gateway never invokes an unsnapshotted ``$LATEST``).

The ``$default`` stage is created explicitly to set throttling and JSON access logs. Every route
gets the stage's default limits (``apiRateLimit``/``apiBurstLimit``, 50 requests/s, bursts of 100):
Telegram opens at most 40 connections to a webhook (``max_connections``' default) and waits for
each answer, so anything far beyond that is not Telegram; a throttled update gets a 429, which
Telegram retries. Routes of some functions get their own, lower limits (``route_throttles``): the
cabinet (``cabinetRateLimit``/``cabinetBurstLimit``, 20/s and 40: a person opening the Mini App
makes a handful of calls), and YooKassa's notifications (one per payment event: 5/s, bursts of
10), so a flood on either never takes the webhook's share nor runs up Lambda's bill unbounded.
A route with its own limits is created before the stage (CloudFormation checks its key exists).
"""

from __future__ import annotations

from collections.abc import Mapping

import jsii
from aws_cdk import aws_apigateway as apigw_v1
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_logs as logs
from aws_cdk.aws_apigatewayv2_integrations import HttpLambdaIntegration
from constructs import Construct

from infra.functions import AppFunction, retention
from infra.settings import DeploySettings

ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "method": "$context.httpMethod",
    "path": "$context.path",
    "status": "$context.status",
    "latencyMs": "$context.responseLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationError": "$context.integrationErrorMessage",
}


@jsii.implements(apigw.IAccessLogSettings)
class _AccessLogs:
    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigw.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigw.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw_v1.AccessLogFormat:
        return apigw_v1.AccessLogFormat.custom(
            "{" + ",".join(f'"{k}":"{v}"' for k, v in ACCESS_LOG_FIELDS.items()) + "}"
        )


YOOKASSA_THROTTLE = (5, 10)  # (requests/s, burst): YooKassa notifies once per payment event


def route_throttles(settings: DeploySettings) -> dict[str, tuple[int, int]]:
    """Function name -> (rate, burst) for its routes; other routes use the stage's default."""
    return {
        "cabinet_api": (settings.cabinet_rate_limit, settings.cabinet_burst_limit),
        "payment_poll": YOOKASSA_THROTTLE,
    }


class HttpApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, AppFunction],
        settings: DeploySettings,
    ) -> None:
        super().__init__(scope, construct_id)
        self.api = apigw.HttpApi(
            self, "Api", description="genbot: Telegram webhook and cabinet API", create_default_stage=False
        )
        access_logs = None
        if settings.api_access_logs:
            self.access_log_group = logs.LogGroup(
                self, "AccessLogs", retention=retention(settings.log_retention_days)
            )
            access_logs = _AccessLogs(self.access_log_group)
        self.stage = apigw.HttpStage(
            self,
            "DefaultStage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(
                rate_limit=settings.api_rate_limit, burst_limit=settings.api_burst_limit
            ),
            access_log_settings=access_logs,
        )
        self.routes: dict[str, list[apigw.HttpRoute]] = {}  # function name -> its routes
        throttles = route_throttles(settings)
        route_settings: dict[str, dict[str, int]] = {}  # RouteSettings is JSON: CloudFormation's names
        for name, fn in functions.items():
            if not fn.spec.http_routes:
                continue
            integration = HttpLambdaIntegration(
                f"{construct_id}-{name}",
                fn.target,
                payload_format_version=apigw.PayloadFormatVersion.VERSION_2_0,
            )
            for method, path in fn.spec.http_routes:
                routes = self.api.add_routes(
                    path=path, methods=[apigw.HttpMethod(method.upper())], integration=integration
                )
                self.routes.setdefault(name, []).extend(routes)
                if name in throttles:
                    rate, burst = throttles[name]
                    route_settings[f"{method.upper()} {path}"] = {
                        "ThrottlingRateLimit": rate,
                        "ThrottlingBurstLimit": burst,
                    }
                    for route in routes:
                        self.stage.node.add_dependency(route)
        if route_settings:
            stage = self.stage.node.default_child
            assert isinstance(stage, apigw.CfnStage)
            stage.route_settings = route_settings

    @property
    def url(self) -> str:
        """``https://<id>.execute-api.<region>.amazonaws.com/`` (ends with a slash)."""
        url = self.stage.url
        assert url is not None
        return url
