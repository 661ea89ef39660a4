"""S3 buckets, one per ``BucketSpec``: private, encrypted, TLS only, generated media expiring,
server access logs to the access logs bucket (``infra/access_logs.py``).

Users get their media through presigned URLs, so nothing is ever public; results older than
``expire_days`` under ``expire_prefix`` are deleted by a lifecycle rule to keep storage bounded.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from genbot.resources import Access, BucketSpec
from infra.access_logs import s3_prefix
from infra.naming import pascal

_READ = ["s3:GetObject"]
_WRITE = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"]


class MediaBuckets(Construct):
    """All buckets; ``buckets[name]`` is the bucket for ``BucketSpec.name``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        specs: Mapping[str, BucketSpec],
        access_logs: s3.IBucket | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._access_logs = access_logs
        self.specs = dict(specs)
        self.specs_by_name = {spec.name: spec for spec in specs.values()}
        self.buckets = {spec.name: self._bucket(spec) for spec in specs.values()}

    def _bucket(self, spec: BucketSpec) -> s3.Bucket:
        return s3.Bucket(
            self,
            pascal(spec.name),
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            server_access_logs_bucket=self._access_logs,
            server_access_logs_prefix=s3_prefix(spec.name) if self._access_logs else None,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id=f"expire-{spec.expire_prefix.strip('/') or 'all'}",
                    prefix=spec.expire_prefix,
                    expiration=Duration.days(spec.expire_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def grant(self, name: str, access: Access, grantee: iam.IGrantable) -> None:
        """Object-level access only: what presigned URLs and uploads need, no bucket admin.

        ``read`` is for presigning GETs of results (the cabinet): ``s3:GetObject`` on the objects
        under the results' prefix (``expire_prefix``, ``media/``) and nothing else, not even a
        list (a presigned URL of a missing key then answers 403 rather than 404; the API presigns
        only keys of results it has on record). ``write`` and ``read_write`` (the worker) reach
        every object, and ``read_write`` may list, so a missing key answers 404.
        """
        bucket, spec = self.buckets[name], self.specs_by_name[name]
        if access == "read":
            grantee.grant_principal.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=_READ, resources=[bucket.arn_for_objects(f"{spec.expire_prefix}*")]
                )
            )
            return
        actions = {"write": _WRITE, "read_write": _READ + _WRITE}[access]
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=actions, resources=[bucket.arn_for_objects("*")])
        )
        if access == "read_write":
            # Without ListBucket a missing key answers 403 instead of 404.
            grantee.grant_principal.add_to_principal_policy(
                iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn])
            )
