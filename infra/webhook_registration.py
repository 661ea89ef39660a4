"""Register Telegram's webhook on every deploy that changes it (custom resource).

A small stdlib-only Lambda (``functions/set_webhook``) calls ``setWebhook`` with the API's
``/telegram`` URL and the generated ``WEBHOOK_SECRET``; on stack deletion it calls
``deleteWebhook``. The same resource fills the "/" menu: ``setMyCommands`` per language
from ``genbot.commands`` (the list /help shows), so a changed command or translation is a
changed property and is registered on the next deploy. CloudFormation only re-runs it when a
property changes, so the ``webhookVersion`` context is one of them: after putting
``BOT_TOKEN`` in the secret, deploy again with ``-c webhookVersion=2``.

A plain ``CustomResource`` backed by that function (it answers CloudFormation itself) rather
than ``custom_resources.Provider``, which would add a Node.js framework function for nothing.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CustomResource, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from genbot.commands import command_lists
from infra.functions import code_dir
from infra.layer import ARCHITECTURE, RUNTIME
from infra.secrets import AppSecret

RESOURCE_TYPE = "Custom::TelegramWebhook"
WEBHOOK_PATH = "telegram"


class WebhookRegistration(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        root: Path,
        api_url: str,
        secret: AppSecret,
        version: str,
        telegram_api_url: str | None,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        log_group = logs.LogGroup(self, "Logs", retention=log_retention)
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        log_group.grant_write(role)
        secret.grant_get_value(role)
        env = {"SECRET_ID": secret.secret.secret_arn}
        if telegram_api_url:
            env["TELEGRAM_API_URL"] = telegram_api_url
        self.function = lambda_.Function(
            self,
            "Function",
            description="genbot: registers the Telegram webhook (custom resource)",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler="handler.handler",
            code=lambda_.Code.from_asset(
                str(code_dir(root, "set_webhook")), exclude=["__pycache__", "*.pyc"]
            ),
            role=role,
            timeout=Duration.seconds(60),
            memory_size=128,
            environment=env,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
        )
        self.webhook_url = f"{api_url}{WEBHOOK_PATH}"
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.function.function_arn,
            resource_type=RESOURCE_TYPE,
            service_timeout=Duration.minutes(5),  # not CloudFormation's default hour if no answer comes
            properties={"Url": self.webhook_url, "Version": version, "Commands": command_lists()},
        )
