"""Every S3 bucket in the stack, whoever made it: private, encrypted, TLS only, retained; the
data buckets log their access to the access logs bucket, which expires its logs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra.access_logs import CLOUDFRONT_PREFIX, LOG_EXPIRE_DAYS
from infra.stack import GenbotStack

BUCKET = "AWS::S3::Bucket"
LogicalId = Callable[..., str]
BLOCK_ALL = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}


def _tls_only(template: Template, bucket_id: str) -> bool:
    """The bucket's policy denies every request that is not over TLS, on the bucket and its objects."""
    policies = template.find_resources(
        "AWS::S3::BucketPolicy", {"Properties": {"Bucket": {"Ref": bucket_id}}}
    )
    for policy in policies.values():
        for st in policy["Properties"]["PolicyDocument"]["Statement"]:
            if (
                st["Effect"] == "Deny"
                and st["Action"] == "s3:*"
                and st["Principal"] == {"AWS": "*"}
                and st.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
                and len(st["Resource"]) == 2
            ):
                return True
    return False


@pytest.mark.parametrize("which", ["default", "variant"])
def test_every_bucket_is_private_encrypted_tls_only_and_retained(
    which: str, template: Template, variant_template: Template
) -> None:
    t = template if which == "default" else variant_template
    buckets: dict[str, Any] = t.find_resources(BUCKET)
    assert len(buckets) >= 3  # media, the site, the access logs
    for bucket_id, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == BLOCK_ALL, bucket_id
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}, bucket_id
        assert _tls_only(t, bucket_id), f"{bucket_id} accepts plain HTTP"
        assert bucket["DeletionPolicy"] == "Retain", bucket_id
        assert "AccessControl" not in props, bucket_id  # no canned ACL (public-read...)


def test_data_buckets_log_their_access_to_the_logs_bucket(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    logs_id = logical_id(app_stack.access_logs.bucket)
    logged = [*app_stack.media.buckets.values(), app_stack.site.bucket]
    buckets = template.find_resources(BUCKET)
    for bucket in logged:
        config = buckets[logical_id(bucket)]["Properties"]["LoggingConfiguration"]
        assert config["DestinationBucketName"] == {"Ref": logs_id}
        assert config["LogFilePrefix"].startswith("s3/")
    prefixes = [buckets[logical_id(b)]["Properties"]["LoggingConfiguration"]["LogFilePrefix"] for b in logged]
    assert len(set(prefixes)) == len(prefixes)  # one prefix each
    # the logs bucket itself: no logging of its own, logs expire
    logs = buckets[logs_id]["Properties"]
    assert "LoggingConfiguration" not in logs
    assert logs["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == LOG_EXPIRE_DAYS


def test_the_distribution_writes_standard_logs_to_the_logs_bucket(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    (distribution,) = template.find_resources("AWS::CloudFront::Distribution").values()
    logging = distribution["Properties"]["DistributionConfig"]["Logging"]
    assert logging == {
        "Bucket": {"Fn::GetAtt": [logical_id(app_stack.access_logs.bucket), "RegionalDomainName"]},
        "Prefix": CLOUDFRONT_PREFIX,
    }
