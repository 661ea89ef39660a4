"""The cabinet's hosting: ``site/`` in a private S3 bucket behind CloudFront.

- **Bucket**: private (all public access blocked, owner-enforced objects), SSE-S3, TLS only, no
  name of its own, retained on stack deletion like the media bucket (it holds only the site: delete
  it by hand after the stack if you like). Only CloudFront reads it, through an origin access
  control (OAC, SigV4-signed requests; the bucket policy names this distribution). Its server
  access logs, and the distribution's standard logs, go to the access logs bucket.
- **Distribution**: HTTPS only (HTTP redirects to HTTPS), ``index.html`` at ``/``, compression,
  HTTP/2 and 3, the managed ``CachingOptimized`` policy (it honours the objects' ``Cache-Control``),
  and a response headers policy: HSTS, ``nosniff``, ``no-referrer`` and the content security policy
  ``csp()``. No ``X-Frame-Options``: Telegram Web (A and K) loads Mini Apps in an iframe of
  ``web.telegram.org``, and ``X-Frame-Options`` can't allow a list of origins, so framing is limited
  by the CSP's ``frame-ancestors`` instead (the mobile and desktop clients open a webview, no frame).
- **Deployment**: ``BucketDeployment`` of the site directory plus ``config.json`` written at deploy
  time (``{"api_url": <HTTP API base URL, ending with "/">, "bot_username": <name, or "">}``; a
  ``config.json`` at the top of the directory is left out, so the deployed one always wins). Every
  object gets ``Cache-Control: public, max-age=0, s-maxage=300, must-revalidate`` (browsers
  revalidate each time, with ETags: cheap 304s; edges keep it 5 minutes), except files under
  ``assets/``, which must be content-hashed (their name changes with their content) and get a year,
  ``immutable``. Each deploy invalidates ``/*`` and waits for it, so a new site is live when the
  deploy ends.

S3 sync picks each object's ``Content-Type`` by its extension: keep module scripts ``.js`` (a
``.mjs`` may get no JavaScript type, and browsers refuse such modules).
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, IgnoreMode, RemovalPolicy
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from infra.access_logs import CLOUDFRONT_PREFIX, s3_prefix

CONFIG_FILE = "config.json"
INDEX = "index.html"
IMMUTABLE_DIR = "assets"  # content-hashed files only: cached for a year
SHORT_CACHE = "public, max-age=0, s-maxage=300, must-revalidate"
LONG_CACHE = "public, max-age=31536000, immutable"
HSTS_SECONDS = 63_072_000  # two years
# telegram-web-app.js (a Telegram Login widget would also need frame-src https://oauth.telegram.org)
TELEGRAM_SCRIPT_ORIGIN = "https://telegram.org"
TELEGRAM_FRAME_ANCESTORS = ("https://web.telegram.org", "https://*.telegram.org")
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=()"
_NOT_SHIPPED = ["__pycache__", "*.pyc", ".DS_Store", "node_modules"]


class MissingSiteError(FileNotFoundError):
    """The site directory (``site/``) has no ``index.html``."""


def csp(api_origin: str) -> str:
    """The content security policy; ``api_origin`` is ``https://<id>.execute-api.<region>...``.

    Scripts from the site and Telegram only (``telegram-web-app.js``), calls to the site and the
    API only, images and videos from presigned S3 URLs (``https:``) and blobs, styles from the site
    (``'unsafe-inline'`` for style attributes; no inline scripts), frames from the site only, no
    plugins, no ``<base>``, and framed only by Telegram's web clients.
    """
    directives = {
        "default-src": "'self'",
        "script-src": f"'self' {TELEGRAM_SCRIPT_ORIGIN}",
        "style-src": "'self' 'unsafe-inline'",
        "img-src": "'self' https: data: blob:",
        "media-src": "'self' https: blob:",
        "connect-src": f"'self' {api_origin}",
        "frame-ancestors": " ".join(TELEGRAM_FRAME_ANCESTORS),
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def site_files(site_dir: Path) -> Path:
    """``site_dir``, checked: a clear error instead of deploying an empty site."""
    if not (site_dir / INDEX).is_file():
        raise MissingSiteError(
            f"the cabinet's site directory {site_dir} has no {INDEX}; "
            "build or restore site/ (or pass site_dir= to GenbotStack)"
        )
    return site_dir


class CabinetSite(Construct):
    """The cabinet (Telegram Mini App) on S3 + CloudFront; ``url`` is what Telegram opens."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        site_dir: Path,
        api_url: str,
        api_origin: str,
        bot_username: str | None,
        log_retention: logs.RetentionDays,
        access_logs: s3.IBucket | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        site_dir = site_files(site_dir)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=s3_prefix("site") if access_logs else None,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.headers = cloudfront.ResponseHeadersPolicy(
            self,
            "Headers",
            comment="genbot cabinet: HSTS, nosniff, no referrer, CSP (framed by Telegram only)",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.seconds(HSTS_SECONDS),
                    include_subdomains=True,
                    override=True,
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=csp(api_origin), override=True
                ),
            ),
            custom_headers_behavior=cloudfront.ResponseCustomHeadersBehavior(
                custom_headers=[
                    cloudfront.ResponseCustomHeader(
                        header="Permissions-Policy", value=PERMISSIONS_POLICY, override=True
                    )
                ]
            ),
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="genbot cabinet (Telegram Mini App)",
            default_root_object=INDEX,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,  # North America and Europe edges
            enable_logging=access_logs is not None,
            log_bucket=access_logs,
            log_file_prefix=CLOUDFRONT_PREFIX if access_logs else None,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self.headers,
                compress=True,
            ),
        )
        self.domain_name = self.distribution.distribution_domain_name
        self.origin = f"https://{self.domain_name}"  # CORS origin: no path, no slash
        self.url = f"{self.origin}/"
        # jsii drops None values: no username is "" (falsy in the site's JavaScript too)
        self.config = {"api_url": api_url, "bot_username": bot_username or ""}

        log_group = logs.LogGroup(self, "DeployLogs", retention=log_retention)
        immutable = site_dir / IMMUTABLE_DIR
        self.assets_deployment: s3deploy.BucketDeployment | None = None
        if immutable.is_dir():
            # first, so index.html never names a hashed file that is not there yet; never pruned:
            # a page loaded before the deploy may still ask for the old ones
            self.assets_deployment = s3deploy.BucketDeployment(
                self,
                "DeployAssets",
                destination_bucket=self.bucket,
                destination_key_prefix=f"{IMMUTABLE_DIR}/",
                sources=[
                    s3deploy.Source.asset(str(immutable), exclude=_NOT_SHIPPED, ignore_mode=IgnoreMode.GIT)
                ],
                cache_control=[s3deploy.CacheControl.from_string(LONG_CACHE)],
                prune=False,
                log_group=log_group,
            )
        self.deployment = s3deploy.BucketDeployment(
            self,
            "Deploy",
            destination_bucket=self.bucket,
            sources=[
                # .gitignore patterns: "/" anchors them at the top (sub/config.json still ships)
                s3deploy.Source.asset(
                    str(site_dir),
                    exclude=[f"/{CONFIG_FILE}", f"/{IMMUTABLE_DIR}", *_NOT_SHIPPED],
                    ignore_mode=IgnoreMode.GIT,
                ),
                s3deploy.Source.json_data(CONFIG_FILE, self.config),
            ],
            # the assets' own deployment owns assets/: not pruned here
            exclude=[f"{IMMUTABLE_DIR}/*"],
            cache_control=[s3deploy.CacheControl.from_string(SHORT_CACHE)],
            distribution=self.distribution,
            distribution_paths=["/*"],
            log_group=log_group,
        )
        if self.assets_deployment is not None:
            self.deployment.node.add_dependency(self.assets_deployment)
