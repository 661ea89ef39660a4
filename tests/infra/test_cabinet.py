"""The cabinet: its site on a private bucket behind CloudFront (OAC, HTTPS only, security headers
and a CSP that lets Telegram frame it), deployed with its config; its API function with only what
it uses; its URL on the bot's menu button.

The sites deployed here are stand-ins (``conftest.make_site``): the default one has no ``assets/``,
the variant's has content-hashed ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from genbot.resources import FUNCTIONS
from infra.functions import TABLE_ACTIONS
from infra.settings import DeploySettings, SettingsError
from infra.site import LONG_CACHE, SHORT_CACHE, MissingSiteError, csp
from infra.stack import GenbotStack

LogicalId = Callable[..., str]
DEPLOYMENT = "Custom::CDKBucketDeployment"
WEBHOOK = "Custom::TelegramWebhook"
API_ORIGIN = "<api>"  # what the tests put in place of the API endpoint's GetAtt


def _domain(stack: GenbotStack, logical_id: LogicalId) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id(stack.site.distribution), "DomainName"]}


def _cabinet_url(stack: GenbotStack, logical_id: LogicalId) -> dict[str, Any]:
    return {"Fn::Join": ["", ["https://", _domain(stack, logical_id), "/"]]}


def _policy_statements(template: Template, stack: GenbotStack, logical_id: LogicalId) -> list[dict[str, Any]]:
    policies = template.find_resources(
        "AWS::S3::BucketPolicy", {"Properties": {"Bucket": {"Ref": logical_id(stack.site.bucket)}}}
    )
    assert len(policies) == 1
    (policy,) = policies.values()
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _csp(template: Template, stack: GenbotStack, logical_id: LogicalId) -> dict[str, list[str]]:
    """The response headers policy's CSP as directive -> sources, the API's endpoint as ``<api>``."""
    config = template.find_resources("AWS::CloudFront::ResponseHeadersPolicy")[logical_id(stack.site.headers)]
    value = config["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"][
        "ContentSecurityPolicy"
    ]["ContentSecurityPolicy"]
    endpoint = {"Fn::GetAtt": [logical_id(stack.api.api), "ApiEndpoint"]}
    parts = value["Fn::Join"][1] if isinstance(value, dict) else [value]
    text = "".join(API_ORIGIN if part == endpoint else part for part in parts)
    assert all(isinstance(part, str) or part == endpoint for part in parts), parts
    directives: dict[str, list[str]] = {}
    for directive in text.split(";"):
        name, *sources = directive.split()
        assert name not in directives, f"{name} twice"
        directives[name] = sources
    return directives


def _deployments(template: Template) -> dict[str, dict[str, Any]]:
    return template.find_resources(DEPLOYMENT)


def _asset_dir(stack: GenbotStack, key: str) -> Path:
    """The staged asset a deployment's ``SourceObjectKeys`` entry names (``<hash>.zip``)."""
    outdir = cdk.Stage.of(stack).outdir  # type: ignore[union-attr]
    directory = Path(outdir) / f"asset.{key.removesuffix('.zip')}"
    assert directory.is_dir(), directory
    return directory


# --- the bucket ---------------------------------------------------------------------------------


def test_site_bucket_is_private_encrypted_and_retained(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    buckets = template.find_resources(
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
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "BucketName": Match.absent(),
                "WebsiteConfiguration": Match.absent(),  # not an S3 website: only CloudFront reads it
            },
            "DeletionPolicy": "Retain",  # as the media bucket
        },
    )
    assert logical_id(app_stack.site.bucket) in buckets


def test_site_bucket_answers_only_tls_and_only_this_distribution(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    bucket_id = logical_id(app_stack.site.bucket)
    objects = {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]}
    deny, allow = _policy_statements(template, app_stack, logical_id)

    # plain HTTP is refused for everyone
    assert deny["Effect"] == "Deny" and deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {"Fn::GetAtt": [bucket_id, "Arn"]} in deny["Resource"]
    # and the one reader is CloudFront, reading objects, for this distribution only (OAC)
    assert allow == {
        "Action": "s3:GetObject",
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Resource": objects,
        "Condition": {
            "StringEquals": {
                "AWS:SourceArn": {
                    "Fn::Join": [
                        "",
                        [
                            "arn:",
                            {"Ref": "AWS::Partition"},
                            ":cloudfront::",
                            {"Ref": "AWS::AccountId"},
                            ":distribution/",
                            {"Ref": logical_id(app_stack.site.distribution)},
                        ],
                    ]
                }
            }
        },
    }


# --- the distribution ---------------------------------------------------------------------------


def test_distribution_reads_the_bucket_through_origin_access_control(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    template.resource_count_is("AWS::CloudFront::Distribution", 1)
    template.resource_count_is("AWS::CloudFront::CloudFrontOriginAccessIdentity", 0)  # no legacy OAI
    oacs = template.find_resources(
        "AWS::CloudFront::OriginAccessControl",
        {
            "Properties": {
                "OriginAccessControlConfig": Match.object_like(
                    {
                        "OriginAccessControlOriginType": "s3",
                        "SigningBehavior": "always",
                        "SigningProtocol": "sigv4",
                    }
                )
            }
        },
    )
    assert len(oacs) == 1
    (oac_id,) = oacs
    distribution = template.find_resources("AWS::CloudFront::Distribution")[
        logical_id(app_stack.site.distribution)
    ]
    (origin,) = distribution["Properties"]["DistributionConfig"]["Origins"]
    assert origin["DomainName"] == {"Fn::GetAtt": [logical_id(app_stack.site.bucket), "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac_id, "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}


def test_distribution_is_https_only_with_the_index_and_the_headers_policy(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    template.has_resource_properties(
        "AWS::CloudFront::Distribution",
        {
            "DistributionConfig": {
                "DefaultRootObject": "index.html",
                "DefaultCacheBehavior": {
                    "ViewerProtocolPolicy": "redirect-to-https",
                    "AllowedMethods": ["GET", "HEAD"],
                    "Compress": True,
                    "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",  # CachingOptimized
                    "ResponseHeadersPolicyId": {"Ref": logical_id(app_stack.site.headers)},
                },
                "CacheBehaviors": Match.absent(),  # one behaviour: nothing reachable without the headers
            }
        },
    )


def test_security_headers_allow_telegram_to_frame_the_mini_app(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    config = template.find_resources("AWS::CloudFront::ResponseHeadersPolicy")[
        logical_id(app_stack.site.headers)
    ]
    security = config["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]

    assert security["StrictTransportSecurity"] == {
        "AccessControlMaxAgeSec": 63072000,
        "IncludeSubdomains": True,
        "Override": True,
    }
    assert security["ContentTypeOptions"] == {"Override": True}
    assert security["ReferrerPolicy"] == {"ReferrerPolicy": "no-referrer", "Override": True}
    assert security["ContentSecurityPolicy"]["Override"] is True
    # no X-Frame-Options: DENY/SAMEORIGIN would stop Telegram Web from showing the Mini App in its
    # iframe, and it can't name other origins; the CSP's frame-ancestors does that
    assert "FrameOptions" not in security


def test_content_security_policy(template: Template, app_stack: GenbotStack, logical_id: LogicalId) -> None:
    assert _csp(template, app_stack, logical_id) == {
        "default-src": ["'self'"],
        "script-src": ["'self'", "https://telegram.org"],  # telegram-web-app.js only; no inline script
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "https:", "data:", "blob:"],  # presigned S3 URLs
        "media-src": ["'self'", "https:", "blob:"],
        "connect-src": ["'self'", API_ORIGIN],  # the site's config and the cabinet API, nothing else
        "frame-ancestors": ["https://web.telegram.org", "https://*.telegram.org"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
    }


def test_csp_names_the_origin_it_is_given() -> None:
    policy = csp("https://abc.execute-api.eu-central-1.amazonaws.com")
    assert "connect-src 'self' https://abc.execute-api.eu-central-1.amazonaws.com;" in policy
    assert "'unsafe-eval'" not in policy and "script-src 'self' https://telegram.org;" in policy


# --- the deployment -----------------------------------------------------------------------------


def test_site_is_deployed_with_its_config_and_invalidated(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, site_dir: Path
) -> None:
    deployments = _deployments(template)
    assert len(deployments) == 1  # no assets/ in this site
    (deployment,) = deployments.values()
    props = deployment["Properties"]
    assert props["DestinationBucketName"] == {"Ref": logical_id(app_stack.site.bucket)}
    assert props.get("DestinationBucketKeyPrefix") is None
    assert props["Prune"] is True  # files dropped from site/ leave the bucket
    assert props["SystemMetadata"] == {"cache-control": SHORT_CACHE}
    assert SHORT_CACHE.startswith("public, max-age=0,")  # browsers revalidate index.html and config.json
    # a deploy is live when it ends: the edges drop the old files and the deploy waits for it
    assert props["DistributionId"] == {"Ref": logical_id(app_stack.site.distribution)}
    assert props["DistributionPaths"] == ["/*"]
    assert props["WaitForDistributionInvalidation"] is True

    # two sources: the site directory (without its own config.json) and the deploy-time config.json
    site_key, config_key = props["SourceObjectKeys"]
    shipped = {
        p.relative_to(_asset_dir(app_stack, site_key)).as_posix()
        for p in _asset_dir(app_stack, site_key).rglob("*")
    }
    assert shipped == {"index.html", "app.js", "i18n", "i18n/config.json"}
    assert (site_dir / "config.json").is_file()  # left out, although the directory has one
    config_text = (_asset_dir(app_stack, config_key) / "config.json").read_text()
    (marker,) = props["SourceMarkers"][1]
    config = json.loads(config_text.replace(marker, '"<api_url>"'))  # the marker's value is quoted
    assert config == {"api_url": "<api_url>", "bot_username": ""}
    # the marker becomes the API's base URL at deploy time
    assert props["SourceMarkers"][1][marker] == {
        "Fn::Join": [
            "",
            [
                '"https://',
                {"Ref": logical_id(app_stack.api.api)},
                ".execute-api.",
                {"Ref": "AWS::Region"},
                ".",
                {"Ref": "AWS::URLSuffix"},
                '/"',
            ],
        ]
    }


def test_deployment_logs_are_kept_like_the_functions_logs(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    handlers = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "index.handler", "Layers": Match.any_value()}}
    )
    (handler,) = handlers.values()
    group = handler["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    assert group in template.find_resources("AWS::Logs::LogGroup", {"Properties": {"RetentionInDays": 30}})


def test_hashed_assets_are_cached_for_a_year_and_never_pruned(
    variant_template: Template,
    variant_stack: GenbotStack,
    logical_id: LogicalId,
    variant_context: dict[str, str],
) -> None:
    deployments = _deployments(variant_template)
    assert len(deployments) == 2
    (assets_id, assets), (main_id, main) = sorted(
        deployments.items(), key=lambda item: "DestinationBucketKeyPrefix" not in item[1]["Properties"]
    )
    assert assets["Properties"]["DestinationBucketKeyPrefix"] == "assets/"
    assert assets["Properties"]["SystemMetadata"] == {"cache-control": LONG_CACHE}
    assert assets["Properties"]["Prune"] is False  # a page loaded before a deploy still finds its files
    (key,) = assets["Properties"]["SourceObjectKeys"]
    assert {p.name for p in _asset_dir(variant_stack, key).iterdir()} == {"chart.3f9a1c2b.js"}

    # the rest: short cache, and its pruning leaves assets/ alone; it goes second
    assert main["Properties"]["SystemMetadata"] == {"cache-control": SHORT_CACHE}
    assert main["Properties"]["Exclude"] == ["assets/*"]
    assert assets_id in main["DependsOn"]
    site_key, config_key = main["Properties"]["SourceObjectKeys"]
    assert {p.name for p in _asset_dir(variant_stack, site_key).iterdir()} == {"index.html", "app.js", "i18n"}
    # -c botUsername=@name: the site learns the bot's name (without the @)
    config = (_asset_dir(variant_stack, config_key) / "config.json").read_text()
    assert '"bot_username":"genbot_test_bot"' in config.replace(" ", "")
    assert variant_context["botUsername"] == "@genbot_test_bot"
    assert main_id != assets_id


def test_a_missing_site_fails_the_synth_clearly(tmp_path: Path, repo_root: Path) -> None:
    # given a checkout with everything but site/index.html
    for name in ("layers", "functions", "uv.lock"):
        (tmp_path / name).symlink_to(repo_root / name)
    (tmp_path / "site").mkdir()

    with pytest.raises(MissingSiteError, match=r"site.* has no index\.html"):
        GenbotStack(cdk.App(context={"bundle": "false"}), "NoSite", root=tmp_path)


# --- the cabinet API ----------------------------------------------------------------------------


def test_cabinet_api_route_invokes_the_function(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    assert FUNCTIONS["cabinet_api"].http_routes == (("ANY", "/cabinet/{proxy+}"),)
    routes = template.find_resources(
        "AWS::ApiGatewayV2::Route", {"Properties": {"RouteKey": "ANY /cabinet/{proxy+}"}}
    )
    (route,) = routes.values()
    integration_id = route["Properties"]["Target"]["Fn::Join"][1][1]["Ref"]
    integration = template.find_resources("AWS::ApiGatewayV2::Integration")[integration_id]["Properties"]
    fn = app_stack.functions.functions["cabinet_api"]
    if FUNCTIONS["cabinet_api"].snapstart:  # the `live` alias, never an unsnapshotted $LATEST
        assert fn.alias is not None
        assert integration["IntegrationUri"] == {"Ref": logical_id(fn.alias)}
    else:
        assert integration["IntegrationUri"] == {"Fn::GetAtt": [logical_id(fn.function), "Arn"]}
    assert integration["PayloadFormatVersion"] == "2.0"


def test_cabinet_api_role_is_exactly_its_tables_and_presigned_media_reads(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    fn = app_stack.functions.functions["cabinet_api"]
    policies = template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"Roles": Match.array_with([{"Ref": logical_id(fn.role)}])}}
    )
    statements = [st for p in policies.values() for st in p["Properties"]["PolicyDocument"]["Statement"]]
    grants: dict[str, set[str]] = {}
    keyed: dict[str, Any] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        if "Condition" in statement:  # the operator's settings items, by their keys
            keyed[json.dumps(statement["Resource"], sort_keys=True)] = (
                set(statement["Action"]),
                statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"],
            )
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        for resource in resources:
            grants.setdefault(json.dumps(resource, sort_keys=True), set()).update(actions)

    def arn(construct: Any, suffix: str = "") -> str:
        value: Any = {"Fn::GetAtt": [logical_id(construct), "Arn"]}
        if suffix:
            value = {"Fn::Join": ["", [value, suffix]]}
        return json.dumps(value, sort_keys=True)

    expected: dict[str, set[str]] = {
        arn(fn.log_group): {"logs:CreateLogStream", "logs:PutLogEvents"},
        json.dumps("*"): {"xray:PutTraceSegments", "xray:PutTelemetryRecords"},
        json.dumps({"Ref": logical_id(app_stack.secret.secret)}): {"secretsmanager:GetSecretValue"},
        # presigning a GET needs GetObject on the results (media/<user>/<job>.<ext>), nothing more
        arn(app_stack.media.buckets["media"], "/media/*"): {"s3:GetObject"},
    }
    for table, access in FUNCTIONS["cabinet_api"].tables.items():
        actions = set(TABLE_ACTIONS[access])
        expected[arn(app_stack.tables.tables[table])] = actions
        if app_stack.tables.specs[table].indexes:  # and its indexes, when it has some
            expected[arn(app_stack.tables.tables[table], "/index/*")] = actions
    for queue in FUNCTIONS["cabinet_api"].sends_to:  # an admin's broadcast starts
        queue_arn = json.dumps({"Fn::GetAtt": [logical_id(app_stack.queues.queues[queue].queue), "Arn"]})
        expected[queue_arn] = grants.get(queue_arn, set())
        assert {a for a in expected[queue_arn] if not a.startswith("sqs:")} == set()
        assert "sqs:SendMessage" in expected[queue_arn]
    assert grants == expected
    # the admin section scans for the on-demand ledger audit and the promo codes, nothing else:
    # its numbers come from the stats counters, its failures from a sparse index
    scanned = {t for t, access in FUNCTIONS["cabinet_api"].tables.items() if access == "items_scan"}
    assert scanned == {"users", "ledger", "promo"}
    assert FUNCTIONS["cabinet_api"].tables["jobs"] == "read"
    # writes to settings only to the operator's four items
    settings_arn = arn(app_stack.tables.tables["settings"])
    assert keyed == {
        settings_arn: (
            {"dynamodb:PutItem", "dynamodb:UpdateItem"},
            ["prices*", "packs*", "catalog*", "subscription*"],
        )
    }
    every_action = set().union(*grants.values())
    assert not every_action & {"dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    assert not {a for a in every_action if a.startswith("s3:") and a != "s3:GetObject"}  # no list, no write


def test_cabinet_api_allows_cors_for_the_site_only(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    fn = app_stack.functions.functions["cabinet_api"]
    env = template.find_resources("AWS::Lambda::Function")[logical_id(fn.function)]["Properties"][
        "Environment"
    ]
    assert env["Variables"]["CABINET_ORIGIN"] == {
        "Fn::Join": ["", ["https://", _domain(app_stack, logical_id)]]
    }
    # only the cabinet's API gets it
    others = template.find_resources(
        "AWS::Lambda::Function",
        {"Properties": {"Environment": {"Variables": {"CABINET_ORIGIN": Match.any_value()}}}},
    )
    assert set(others) == {logical_id(fn.function)}


# --- the bot's menu button and the outputs ------------------------------------------------------


def test_the_menu_button_opens_the_cabinet_once_the_site_is_deployed(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    (resource,) = template.find_resources(WEBHOOK).values()
    assert resource["Properties"]["MenuButton"] == {
        "type": "web_app",
        "text": "Cabinet",
        "web_app": {"url": _cabinet_url(app_stack, logical_id)},
    }
    deployment_id = logical_id(app_stack.site.deployment.node.find_child("CustomResource"))
    assert deployment_id in resource["DependsOn"]


def test_the_bot_knows_the_cabinet_url_for_its_inline_buttons(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    fn = app_stack.functions.functions["webhook"]
    env = template.find_resources("AWS::Lambda::Function")[logical_id(fn.function)]["Properties"][
        "Environment"
    ]
    assert env["Variables"]["CABINET_URL"] == _cabinet_url(app_stack, logical_id)


def test_the_menu_button_text_comes_from_the_context(variant_template: Template) -> None:
    (resource,) = variant_template.find_resources(WEBHOOK).values()
    assert resource["Properties"]["MenuButton"]["text"] == "Кабинет"


def test_outputs_give_the_cabinet_url_bucket_and_distribution(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    template.has_output("CabinetUrl", {"Value": _cabinet_url(app_stack, logical_id)})
    template.has_output("CabinetBucketName", {"Value": {"Ref": logical_id(app_stack.site.bucket)}})
    template.has_output("CabinetDistributionId", {"Value": {"Ref": logical_id(app_stack.site.distribution)}})


# --- settings -----------------------------------------------------------------------------------


def test_bot_username_and_menu_button_text_settings() -> None:
    def settings(**context: str) -> DeploySettings:
        return DeploySettings.from_context(cdk.App(context=context).node)

    assert settings().bot_username is None
    assert settings().menu_button_text == "Cabinet"
    assert settings(botUsername="@my_genbot").bot_username == "my_genbot"
    assert settings(menuButtonText=" Кабинет ").menu_button_text == "Кабинет"
    with pytest.raises(SettingsError, match="botUsername"):
        settings(botUsername="no spaces allowed")
    with pytest.raises(SettingsError, match="menuButtonText"):
        settings(menuButtonText="x" * 65)
