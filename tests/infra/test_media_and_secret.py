"""S3 media buckets follow ``BUCKETS``; the app secret generates a Telegram-valid webhook secret."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aws_cdk.assertions import Match, Template

from genbot.config import SECRET_NAMES
from genbot.resources import BUCKETS, BucketSpec
from infra.stack import GenbotStack

LogicalId = Callable[..., str]


@pytest.mark.parametrize("spec", list(BUCKETS.values()), ids=lambda b: b.name)
def test_bucket_is_private_encrypted_retained_and_expires_media(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, spec: BucketSpec
) -> None:
    matching = template.find_resources(
        "AWS::S3::Bucket",
        {
            "Properties": {
                "BucketEncryption": Match.exact(
                    {
                        "ServerSideEncryptionConfiguration": [
                            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                        ]
                    }
                ),
                "PublicAccessBlockConfiguration": Match.object_equals(
                    {
                        "BlockPublicAcls": True,
                        "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": True,
                    }
                ),
                "LifecycleConfiguration": {
                    "Rules": [  # one rule
                        Match.object_like(
                            {
                                "Prefix": spec.expire_prefix,
                                "ExpirationInDays": spec.expire_days,
                                "Status": "Enabled",
                            }
                        )
                    ]
                },
                "BucketName": Match.absent(),
            },
            "DeletionPolicy": "Retain",
        },
    )
    assert logical_id(app_stack.media.buckets[spec.name]) in matching


@pytest.mark.parametrize("spec", list(BUCKETS.values()), ids=lambda b: b.name)
def test_bucket_policy_denies_plain_http(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, spec: BucketSpec
) -> None:
    bucket_id = logical_id(app_stack.media.buckets[spec.name])
    bucket = {"Bucket": {"Ref": bucket_id}}
    template.resource_properties_count_is("AWS::S3::BucketPolicy", bucket, 1)
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            **bucket,
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Resource": Match.array_with([{"Fn::GetAtt": [bucket_id, "Arn"]}]),
                                "Condition": Match.object_equals({"Bool": {"aws:SecureTransport": "false"}}),
                            }
                        )
                    ]
                )
            },
        },
    )


def test_secret_generates_a_telegram_valid_webhook_secret_and_holds_the_other_keys(
    template: Template,
) -> None:
    template.resource_count_is("AWS::SecretsManager::Secret", 1)
    template.has_resource(
        "AWS::SecretsManager::Secret",
        {
            "Properties": {
                "Name": "genbot/app",
                "GenerateSecretString": {
                    "GenerateStringKey": "WEBHOOK_SECRET",
                    "ExcludePunctuation": True,  # letters and digits only: a valid secret_token
                    "PasswordLength": 48,
                    "SecretStringTemplate": Match.serialized_json(
                        Match.object_equals({name: "" for name in SECRET_NAMES if name != "WEBHOOK_SECRET"})
                    ),
                },
            },
            "DeletionPolicy": "Retain",
        },
    )
