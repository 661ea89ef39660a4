"""The HTTP API: every function's ``http_routes``, integrated with its ``target`` (the ``live``
alias for SnapStart functions, so API Gateway never invokes an unsnapshotted ``$LATEST``).

The ``$default`` stage is created explicitly to set throttling (Telegram opens at most 40
connections; anything far beyond that is not Telegram) and JSON access logs.
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
        for name, fn in functions.items():
            if not fn.spec.http_routes:
                continue
            integration = HttpLambdaIntegration(
                f"{construct_id}-{name}",
                fn.target,
                payload_format_version=apigw.PayloadFormatVersion.VERSION_2_0,
            )
            for method, path in fn.spec.http_routes:
                self.api.add_routes(
                    path=path, methods=[apigw.HttpMethod(method.upper())], integration=integration
                )

    @property
    def url(self) -> str:
        """``https://<id>.execute-api.<region>.amazonaws.com/`` (ends with a slash)."""
        url = self.stage.url
        assert url is not None
        return url
