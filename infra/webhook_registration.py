"""Register Telegram's webhook on every deploy that changes it (custom resource).

A small stdlib-only Lambda (``functions/set_webhook``) calls ``setWebhook`` with the API's
``/telegram`` URL and the generated ``WEBHOOK_SECRET``; on stack deletion it calls
``deleteWebhook``. The same resource fills the "/" menu: ``setMyCommands`` per language
from ``genbot.commands`` (the list /help shows), so a changed command or translation is a
changed property and is registered on the next deploy. With a cabinet, it also sets the chat's
menu button (``setChatMenuButton``, a ``web_app`` button opening the cabinet's URL: ``MenuButton``),
and resets it to the default on deletion while it still opens this stack's cabinet.
CloudFormation only re-runs it when a property changes, so the ``webhookVersion`` context is one
of them: after putting ``BOT_TOKEN`` in the secret, deploy again with ``-c webhookVersion=2``.

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


def menu_button(url: str, text: str) -> dict[str, object]:
    """A ``MenuButtonWebApp``: the button next to the chat's input field opens the Mini App."""
    return {"type": "web_app", "text": text, "web_app": {"url": url}}


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
        menu_button_url: str | None = None,
        menu_button_text: str = "Cabinet",
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
        properties: dict[str, object] = {
            "Url": self.webhook_url,
            "Version": version,
            "Commands": command_lists(),
        }
        if menu_button_url:
            # the Bot API's MenuButtonWebApp, passed to setChatMenuButton as it is
            properties["MenuButton"] = menu_button(menu_button_url, menu_button_text)
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.function.function_arn,
            resource_type=RESOURCE_TYPE,
            service_timeout=Duration.minutes(5),  # not CloudFormation's default hour if no answer comes
            properties=properties,
        )
