"""The access logs bucket: S3 server access logs of the media and site buckets, and CloudFront's
standard logs of the cabinet's distribution.

Private, SSE-S3, TLS only, retained like the buckets it logs, and expiring after
``LOG_EXPIRE_DAYS``: enough to look into an incident, bounded in cost. Prefixes: ``s3/<bucket>/``
for S3's server access logs (delivered under a bucket policy that names ``logging.s3.amazonaws.com``
and the source buckets: the ``@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy`` flag) and
``cloudfront/`` for the distribution. CloudFront's standard logs are still written with an ACL
grant, so this bucket keeps ACLs on (``BUCKET_OWNER_PREFERRED``: CloudFront's objects become the
bucket owner's); public access is blocked all the same. It does not log itself (that would loop).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

LOG_EXPIRE_DAYS = 90
CLOUDFRONT_PREFIX = "cloudfront/"


def s3_prefix(name: str) -> str:
    """Where a source bucket's server access logs go: ``s3/<name>/``."""
    return f"s3/{name}/"


class AccessLogs(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,  # CloudFront's ACL grant
            enforce_ssl=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-logs",
                    expiration=Duration.days(LOG_EXPIRE_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
