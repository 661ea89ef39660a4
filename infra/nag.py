"""cdk-nag (AwsSolutions pack): every finding the stack keeps, acknowledged here, in one place.

``tests/infra/test_nag.py`` runs the pack over the synthesized app and fails on any error or
warning not acknowledged below; ``infra/app.py`` registers it as a policy validation plugin, so
``cdk synth`` / ``cdk deploy`` refuse a new finding too (``-c nag=false`` skips it).

What was fixed rather than acknowledged: S3 server access logs and CloudFront logs (the access logs
bucket), the scheduler role's ``<function>:*`` (it names the exact ARNs), and earlier: TLS-only
bucket and queue policies, DLQs, SSE everywhere, log retention, API access logs, per-function
least-privilege roles with no managed policies.

cdk-nag 3 acknowledges with CDK's own ``Validations.of(construct).acknowledge()``: an
acknowledgment covers the construct and its children, and each finding of a multi-finding rule
(``AwsSolutions-IAM5[Resource::...]``) is acknowledged by its own id, so a new wildcard in the
same policy is still reported. Each acknowledgment below sits on the narrowest construct that
carries the finding and says why it is acceptable here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, CfnElement, DefaultStackSynthesizer, Stack, Token, Validations
from constructs import IConstruct

from infra.functions import TABLE_ACTIONS

if TYPE_CHECKING:
    from infra.stack import GenbotStack

PACK = "AwsSolutions"
BUCKET_DEPLOYMENT_PREFIX = "Custom::CDKBucketDeployment"  # CDK's singleton provider function
QUALIFIER_CONTEXT = "@aws-cdk/core:bootstrapQualifier"  # the bootstrap's asset bucket name part

REASONS = {
    "logs-bucket-S1": (
        "This is the access logs bucket itself: logging it to itself would loop, and to another "
        "bucket would only move the question."
    ),
    "SMG4": (
        "The secret holds third-party credentials (the BotFather token, provider API keys) that no "
        "rotation Lambda can renew, and the generated WEBHOOK_SECRET must change together with "
        "setWebhook: rotation is the manual procedure in docs/operations.md."
    ),
    "xray": (
        "Resource '*' is X-Ray's PutTraceSegments/PutTelemetryRecords only (tracing ACTIVE): X-Ray "
        "has no resource-level permissions. Every other statement names its resources."
    ),
    "index": (
        "The table's own indexes (<table>/index/*) at the same actions as the table the spec grants: "
        "an index is a projection of the same items, so naming each index would not narrow what "
        "the function reads; it would only make every index added to a TableSpec an IAM change."
    ),
    "objects": (
        "Object-level access to the media bucket's keys (results are named per user and job at "
        "run time); no bucket-level action beyond what the spec grants (genbot.resources BUCKETS)."
    ),
    "runtime": (
        "Pinned to Python 3.13 on purpose: the shared layer's wheels and bytecode are built for "
        "CPython 3.13 (infra/bundling.py), so a runtime bump is a deliberate, tested change."
    ),
    "webhook-route": (
        "Telegram's webhook authenticates with the secret token header "
        "(X-Telegram-Bot-Api-Secret-Token, compared in constant time before anything is parsed); "
        "Telegram cannot send an IAM, JWT or Lambda-authorizer credential."
    ),
    "yookassa-route": (
        "YooKassa's notifications carry no credential: the function accepts only YooKassa's "
        "published source addresses and never trusts the body (the payment is fetched again "
        "from the YooKassa API before anything is credited)."
    ),
    "cabinet-route": (
        "The cabinet (Telegram Mini App) authenticates every call with Telegram's signed initData "
        "(HMAC with the bot token, checked with its age in the function); an API Gateway "
        "authorizer would check the same signature again for an extra invocation per request."
    ),
    "CFR1": (
        "No geo restriction: the bot serves Telegram users wherever they are; the cabinet is "
        "static files whose data comes from the authenticated API."
    ),
    "CFR2": (
        "No WAF: the distribution serves static public files (HTML/JS/CSS) from a private bucket "
        "through OAC, GET/HEAD only, with no forms or server code behind it; a web ACL costs a "
        "monthly fee plus per request and protects nothing an attacker cannot already read. "
        "(The HTTP API cannot take a WAF web ACL at all; it is throttled instead.)"
    ),
    "CFR4": (
        "The distribution uses the default *.cloudfront.net certificate, with which CloudFront "
        "does not allow choosing a minimum TLS version; a custom domain with an ACM certificate "
        "(TLSv1.2_2021) would be needed. Viewers are redirected to HTTPS and get HSTS."
    ),
    "bucket-deployment": (
        "CDK's BucketDeployment provider (a singleton CDK owns): it syncs the site's asset zip into "
        "the site bucket and invalidates the distribution; its role, managed policy and runtime "
        "are CDK's and change with aws-cdk-lib, not here."
    ),
}


def _pseudo(value: str, name: str) -> str:
    """A pseudo parameter as cdk-nag writes it: its value when the stack's environment is known
    (``cdk synth`` with credentials), else ``<AWS::Name>``."""
    return f"<AWS::{name}>" if Token.is_unresolved(value) else value


def _ack(construct: IConstruct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=f"{PACK}-{rule}", reason=reason))


def _arn_ref(construct: IConstruct) -> str:
    """How cdk-nag spells a construct's ARN in a finding: ``<LogicalId.Arn>``."""
    element = construct if isinstance(construct, CfnElement) else construct.node.default_child
    assert isinstance(element, CfnElement)
    return f"<{Stack.of(element).resolve(element.logical_id)}.Arn>"


def acknowledge_findings(stack: GenbotStack) -> None:
    """Acknowledge the findings the stack keeps (see ``REASONS``), each on its own construct."""
    _ack(stack.access_logs.bucket, "S1", REASONS["logs-bucket-S1"])
    _ack(stack.secret.secret, "SMG4", REASONS["SMG4"])

    tables, buckets = stack.tables, stack.media
    for fn in stack.functions.functions.values():
        _ack(fn.role, "IAM5[Resource::*]", REASONS["xray"])
        _ack(fn.function, "L1", REASONS["runtime"])
        for name, access in fn.spec.tables.items():
            if tables.specs[name].indexes and (access in TABLE_ACTIONS or access == "read_write"):
                arn = _arn_ref(tables.tables[name])
                _ack(fn.role, f"IAM5[Resource::{arn}/index/*]", REASONS["index"])
        for name, access in fn.spec.buckets.items():
            arn = _arn_ref(buckets.buckets[name])
            keys = f"{buckets.specs_by_name[name].expire_prefix}*" if access == "read" else "*"
            _ack(fn.role, f"IAM5[Resource::{arn}/{keys}]", REASONS["objects"])
    _ack(stack.webhook.function, "L1", REASONS["runtime"])

    route_reasons = {
        "webhook": REASONS["webhook-route"],
        "payment_poll": REASONS["yookassa-route"],
        "cabinet_api": REASONS["cabinet-route"],
    }
    for name, routes in stack.api.routes.items():
        for route in routes:  # a route of another function has no reason here: it is reported
            if name in route_reasons:
                _ack(route, "APIG4", route_reasons[name])

    distribution = stack.site.distribution
    for rule in ("CFR1", "CFR2", "CFR4"):
        _ack(distribution, rule, REASONS[rule])

    site_bucket = _arn_ref(stack.site.bucket)
    partition = _pseudo(stack.partition, "Partition")
    account, region = _pseudo(stack.account, "AccountId"), _pseudo(stack.region, "Region")
    qualifier = stack.node.try_get_context(QUALIFIER_CONTEXT) or DefaultStackSynthesizer.DEFAULT_QUALIFIER
    for child in stack.node.children:
        if child.node.id.startswith(BUCKET_DEPLOYMENT_PREFIX):
            for rule in (
                "L1",
                # (CDK writes a managed policy's partition as a reference even in a known environment)
                "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                "IAM5[Resource::*]",  # cloudfront:CreateInvalidation/GetInvalidation
                "IAM5[Action::s3:GetBucket*]",
                "IAM5[Action::s3:GetObject*]",
                "IAM5[Action::s3:List*]",
                "IAM5[Action::s3:Abort*]",
                "IAM5[Action::s3:DeleteObject*]",
                f"IAM5[Resource::arn:{partition}:s3:::cdk-{qualifier}-assets-{account}-{region}/*]",
                f"IAM5[Resource::{site_bucket}/*]",
            ):
                _ack(child, rule, REASONS["bucket-deployment"])
