"""``GenbotStack``: the whole app in one stack, assembled from the specs.

Order of assembly follows dependencies: data and messaging first, then the functions wired to
them, then what calls the functions (API, schedules), then the cabinet's site (its CSP and config name
the API; the cabinet API's CORS origin is the site's), then what watches them (alarms), and the
webhook registration last, once the API route it points Telegram at and the site its menu button
opens exist.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.access_logs import AccessLogs
from infra.api import HttpApi
from infra.data import Tables
from infra.functions import Functions, Wiring, retention
from infra.layer import SharedLayer
from infra.media import MediaBuckets
from infra.monitoring import Monitoring
from infra.nag import acknowledge_findings
from infra.queues import Queues
from infra.schedules import Schedules
from infra.secrets import AppSecret
from infra.settings import DeploySettings
from infra.site import CabinetSite
from infra.specs import AppSpecs
from infra.webhook_registration import WebhookRegistration

ROOT = Path(__file__).resolve().parents[1]
BOT_FUNCTION = "webhook"
CABINET_URL_ENV = "CABINET_URL"
CABINET_FUNCTION = "cabinet_api"  # its CORS origin is the site's: CABINET_ORIGIN
CABINET_ORIGIN_ENV = "CABINET_ORIGIN"


class GenbotStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str = "GenbotStack",
        *,
        specs: AppSpecs | None = None,
        settings: DeploySettings | None = None,
        root: Path = ROOT,
        site_dir: Path | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, description="genbot: serverless Telegram bot", **kwargs)  # type: ignore[arg-type]
        specs = (specs or AppSpecs.load()).validate()
        settings = settings or DeploySettings.from_context(self.node)
        self.specs, self.settings = specs, settings

        self.tables = Tables(self, "Tables", specs=specs.tables)
        self.queues = Queues(self, "Queues", specs=specs)
        self.access_logs = AccessLogs(self, "AccessLogs")
        self.media = MediaBuckets(self, "Media", specs=specs.buckets, access_logs=self.access_logs.bucket)
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
        # The distribution depends on the bucket and the API's id only (its CSP names the API), so
        # the cabinet API can take the site's origin without a cycle.
        self.site = CabinetSite(
            self,
            "Cabinet",
            site_dir=site_dir or root / "site",
            api_url=self.api.url,
            api_origin=self.api.api.api_endpoint,
            bot_username=settings.bot_username,
            log_retention=retention(settings.log_retention_days),
            access_logs=self.access_logs.bucket,
        )
        if CABINET_FUNCTION in fns:
            fns[CABINET_FUNCTION].function.add_environment(CABINET_ORIGIN_ENV, self.site.origin)
        if BOT_FUNCTION in fns:  # the main menu's and /balance's cabinet buttons, /admin's button
            fns[BOT_FUNCTION].function.add_environment(CABINET_URL_ENV, self.site.url)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            functions=fns,
            queues=self.queues.queues,
            api=self.api.api,
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
            menu_button_url=self.site.url,
            menu_button_text=settings.menu_button_text,
        )
        self.webhook.node.add_dependency(self.api)  # every route and integration exists first
        self.webhook.node.add_dependency(self.site.deployment)  # the button never opens an empty site

        CfnOutput(self, "ApiUrl", value=self.api.url, description="HTTP API base URL")
        CfnOutput(self, "TelegramWebhookUrl", value=self.webhook.webhook_url, description="setWebhook url")
        CfnOutput(
            self, "SecretArn", value=self.secret.secret.secret_arn, description="put BOT_TOKEN etc. here"
        )
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn)
        CfnOutput(
            self,
            "CabinetUrl",
            value=self.site.url,
            description="the cabinet (Mini App): the menu button opens it",
        )
        CfnOutput(
            self, "CabinetBucketName", value=self.site.bucket.bucket_name, description="the site's files"
        )
        CfnOutput(
            self,
            "CabinetDistributionId",
            value=self.site.distribution.distribution_id,
            description="for a manual invalidation",
        )
        acknowledge_findings(self)  # cdk-nag: what the stack keeps, and why (infra/nag.py)
