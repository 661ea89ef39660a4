"""S3 media buckets follow ``BUCKETS``; the app secret generates a Telegram-valid webhook secret."""

from __future__ import annotations

import json

import pytest

from genbot.config import SECRET_NAMES
from genbot.resources import BUCKETS, BucketSpec
from tests.infra.cfn import Synth


@pytest.mark.parametrize("spec", list(BUCKETS.values()), ids=lambda b: b.name)
def test_bucket_is_private_encrypted_retained_and_expires_media(app_synth: Synth, spec: BucketSpec) -> None:
    s = app_synth
    bucket_id = s.logical_id(s.stack.media.buckets[spec.name])
    resource = s.resources[bucket_id]
    props = resource["Properties"]

    assert props["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["Prefix"] == spec.expire_prefix
    assert rule["ExpirationInDays"] == spec.expire_days
    assert rule["Status"] == "Enabled"
    assert resource["DeletionPolicy"] == "Retain"
    assert "BucketName" not in props


@pytest.mark.parametrize("spec", list(BUCKETS.values()), ids=lambda b: b.name)
def test_bucket_policy_denies_plain_http(app_synth: Synth, spec: BucketSpec) -> None:
    s = app_synth
    bucket_id = s.logical_id(s.stack.media.buckets[spec.name])
    (policy,) = [
        p
        for p in s.of_type("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        st["Effect"] == "Deny" and st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for st in statements
    )


def test_secret_generates_a_telegram_valid_webhook_secret_and_holds_the_other_keys(app_synth: Synth) -> None:
    (secret,) = app_synth.of_type("AWS::SecretsManager::Secret").values()
    props = secret["Properties"]
    generate = props["GenerateSecretString"]

    assert props["Name"] == "genbot/app"
    assert generate["GenerateStringKey"] == "WEBHOOK_SECRET"
    assert generate["ExcludePunctuation"] is True  # letters and digits only: valid secret_token
    assert generate["PasswordLength"] == 48
    template = json.loads(generate["SecretStringTemplate"])
    assert template == {name: "" for name in SECRET_NAMES if name != "WEBHOOK_SECRET"}
    assert secret["DeletionPolicy"] == "Retain"
