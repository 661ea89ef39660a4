"""The app's one secret: a JSON object with the bot token, webhook secret and provider keys.

``WEBHOOK_SECRET`` is generated on first deploy (48 letters and digits, which Telegram accepts as a
``secret_token``); the operator fills in the rest with ``aws secretsmanager put-secret-value``.
Functions get its ARN as ``SECRET_ID`` and read it through Powertools Parameters.
"""

from __future__ import annotations

import json

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from genbot.config import SECRET_NAMES

SECRET_NAME = "genbot/app"  # noqa: S105 (a name, not a value)
GENERATED_KEY = "WEBHOOK_SECRET"


class AppSecret(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        template = {name: "" for name in SECRET_NAMES if name != GENERATED_KEY}
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            secret_name=SECRET_NAME,
            description="genbot: BOT_TOKEN, WEBHOOK_SECRET and provider keys (JSON object)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps(template),
                generate_string_key=GENERATED_KEY,
                exclude_punctuation=True,
                password_length=48,
            ),
            # The operator's tokens live only here; keep them if the stack goes away.
            removal_policy=RemovalPolicy.RETAIN,
        )

    def grant_get_value(self, grantee: iam.IGrantable) -> None:
        """``GetSecretValue`` on this secret only (``grant_read`` would add ``DescribeSecret``)."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[self.secret.secret_arn])
        )
