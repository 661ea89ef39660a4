"""``GenbotStack``: the whole app in one stack, assembled from the specs.

Order of assembly follows dependencies: data and messaging first, then the functions wired to
them, then what calls the functions (API, schedules), then what watches them (alarms), and the
webhook registration last, once the API route it points Telegram at exists.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.api import HttpApi
from infra.data import Tables
from infra.functions import Functions, Wiring, retention
from infra.layer import SharedLayer
from infra.media import MediaBuckets
from infra.monitoring import Monitoring
from infra.queues import Queues
from infra.schedules import Schedules
from infra.secrets import AppSecret
from infra.settings import DeploySettings
from infra.specs import AppSpecs
from infra.webhook_registration import WebhookRegistration

ROOT = Path(__file__).resolve().parents[1]


class GenbotStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str = "GenbotStack",
        *,
        specs: AppSpecs | None = None,
        settings: DeploySettings | None = None,
        root: Path = ROOT,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, description="genbot: serverless Telegram bot", **kwargs)  # type: ignore[arg-type]
        specs = (specs or AppSpecs.load()).validate()
        settings = settings or DeploySettings.from_context(self.node)
        self.specs, self.settings = specs, settings

        self.tables = Tables(self, "Tables", specs=specs.tables)
        self.queues = Queues(self, "Queues", specs=specs)
        self.media = MediaBuckets(self, "Media", specs=specs.buckets)
        self.secret = AppSecret(self, "AppSecret")
        self.layer = SharedLayer(self, "SharedLayer", root=root, with_deps=settings.bundle_deps)

        wiring = Wiring(
            tables=self.tables,
            queues=self.queues,
            buckets=self.media,
            secret=self.secret,
            layer=self.layer.layer,
        )
        self.functions = Functions(
            self, "Functions", specs=specs, wiring=wiring, settings=settings, root=root
        )
        fns = self.functions.functions

        self.api = HttpApi(self, "HttpApi", functions=fns, settings=settings)
        # in the time zone the functions get (functionEnv TIMEZONE): the schedule and the code agree
        self.schedules = Schedules(
            self, "Schedules", specs=specs.schedules, functions=fns, env=settings.function_env
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            functions=fns,
            queues=self.queues.queues,
            api_server_errors=self.api.api.metric_server_error(),
            alarm_email=settings.alarm_email,
        )
        self.webhook = WebhookRegistration(
            self,
            "WebhookRegistration",
            root=root,
            api_url=self.api.url,
            secret=self.secret,
            version=settings.webhook_version,
            telegram_api_url=settings.telegram_api_url,
            log_retention=retention(settings.log_retention_days),
        )
        self.webhook.node.add_dependency(self.api)  # every route and integration exists first

        CfnOutput(self, "ApiUrl", value=self.api.url, description="HTTP API base URL")
        CfnOutput(self, "TelegramWebhookUrl", value=self.webhook.webhook_url, description="setWebhook url")
        CfnOutput(
            self, "SecretArn", value=self.secret.secret.secret_arn, description="put BOT_TOKEN etc. here"
        )
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn)
