"""The HTTP API routes to the functions' targets; the webhook is registered on deploy."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aws_cdk.assertions import Capture, Match, Template

from genbot.resources import FUNCTIONS, FunctionSpec
from infra.api import YOOKASSA_THROTTLE
from infra.settings import DeploySettings
from infra.stack import GenbotStack

ROUTE = "AWS::ApiGatewayV2::Route"
INTEGRATION = "AWS::ApiGatewayV2::Integration"
WEBHOOK = "Custom::TelegramWebhook"
ROUTES = [(spec, f"{m.upper()} {p}") for spec in FUNCTIONS.values() for m, p in spec.http_routes]

LogicalId = Callable[..., str]


def _url_ending(api_id: str, path: str) -> dict[str, object]:
    """An ``Fn::Join`` URL on the API's id that ends with ``path``."""
    return {"Fn::Join": ["", Match.array_with([{"Ref": api_id}, Match.string_like_regexp(f"{path}$")])]}


def test_every_http_route_of_the_specs_exists_and_nothing_else(template: Template) -> None:
    keys = [key for _, key in ROUTES]
    assert "POST /telegram" in keys
    template.resource_count_is(ROUTE, len(keys))
    for key in keys:
        template.resource_properties_count_is(ROUTE, {"RouteKey": key}, 1)


@pytest.mark.parametrize(("spec", "route_key"), ROUTES, ids=[key for _, key in ROUTES])
def test_route_invokes_the_target_with_payload_v2(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, spec: FunctionSpec, route_key: str
) -> None:
    fn = app_stack.functions.functions[spec.name]
    api_id = logical_id(app_stack.api.api)
    integration = Capture()
    template.has_resource_properties(
        ROUTE,
        {
            "ApiId": {"Ref": api_id},
            "RouteKey": route_key,
            "Target": {"Fn::Join": ["", ["integrations/", {"Ref": integration}]]},
        },
    )

    uri = {"Ref": logical_id(fn.alias)}  # never $LATEST (no snapshot; nothing to roll back to)
    integrations = template.find_resources(
        INTEGRATION,
        {
            "Properties": {
                "ApiId": {"Ref": api_id},
                "IntegrationType": "AWS_PROXY",
                "PayloadFormatVersion": "2.0",
                "IntegrationUri": Match.exact(uri),
            }
        },
    )
    assert integration.as_string() in integrations


def test_api_gateway_may_invoke_the_alias(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    on_alias = {"FunctionName": {"Ref": logical_id(app_stack.functions.functions["webhook"].alias)}}
    permissions = template.find_resources("AWS::Lambda::Permission", {"Properties": on_alias})
    assert permissions
    # every permission on the alias is API Gateway's, for this API
    template.resource_properties_count_is(
        "AWS::Lambda::Permission",
        {
            **on_alias,
            "Action": "lambda:InvokeFunction",
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": {
                "Fn::Join": ["", Match.array_with([{"Ref": logical_id(app_stack.api.api)}, "/*/*/telegram"])]
            },
        },
        len(permissions),
    )


def test_default_stage_is_throttled_and_access_logged(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    template.resource_count_is("AWS::ApiGatewayV2::Stage", 1)
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "ApiId": {"Ref": logical_id(app_stack.api.api)},
            "StageName": "$default",
            "AutoDeploy": True,
            "DefaultRouteSettings": Match.object_equals(
                {"ThrottlingBurstLimit": 100, "ThrottlingRateLimit": 50}
            ),
            "AccessLogSettings": {
                "DestinationArn": {"Fn::GetAtt": [logical_id(app_stack.api.access_log_group), "Arn"]},
                "Format": Match.serialized_json(
                    Match.object_like({"requestId": "$context.requestId", "status": "$context.status"})
                ),
            },
        },
    )


def test_outputs_give_the_api_url_and_the_telegram_webhook_url(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    api_id = logical_id(app_stack.api.api)
    template.has_output("ApiUrl", {"Value": _url_ending(api_id, "/")})
    template.has_output("TelegramWebhookUrl", {"Value": _url_ending(api_id, "/telegram")})
    template.has_output("SecretArn", {"Value": {"Ref": logical_id(app_stack.secret.secret)}})
    template.has_output("AlarmTopicArn", {"Value": {"Ref": logical_id(app_stack.monitoring.topic)}})


def test_webhook_registration_custom_resource_points_telegram_at_the_api(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    template.resource_count_is(WEBHOOK, 1)
    depends_on = Capture()
    template.has_resource(
        WEBHOOK,
        {
            "Properties": {
                "ServiceToken": {"Fn::GetAtt": [logical_id(app_stack.webhook.function), "Arn"]},
                "Url": _url_ending(logical_id(app_stack.api.api), "/telegram"),
                "Version": "1",
            },
            "DependsOn": depends_on,
        },
    )
    # it runs only once the route and stage exist, else Telegram would hit a missing route
    routes = set(template.find_resources(ROUTE))
    assert routes
    assert {logical_id(app_stack.api.stage), *routes} <= set(depends_on.as_array())


def test_webhook_version_context_changes_the_custom_resource(
    variant_template: Template, variant_context: dict[str, str]
) -> None:
    # given -c webhookVersion=7: CloudFormation sees a changed property and re-runs setWebhook
    assert variant_context["webhookVersion"] != "1"
    variant_template.resource_count_is(WEBHOOK, 1)
    variant_template.has_resource_properties(WEBHOOK, {"Version": variant_context["webhookVersion"]})


def _throttled_routes(spec_name: str) -> list[str]:
    return [key for spec, key in ROUTES if spec.name == spec_name]


def test_the_cabinet_and_yookassa_routes_have_their_own_lower_limits(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    defaults = DeploySettings()
    # the webhook takes the stage's default (Telegram: at most 40 connections, each awaiting
    # its answer); the cabinet and YooKassa get less, so neither can take the webhook's share
    assert defaults.cabinet_rate_limit < defaults.api_rate_limit
    expected = {
        **{
            key: {"ThrottlingRateLimit": 20, "ThrottlingBurstLimit": 40}
            for key in _throttled_routes("cabinet_api")
        },
        **{
            key: {"ThrottlingRateLimit": YOOKASSA_THROTTLE[0], "ThrottlingBurstLimit": YOOKASSA_THROTTLE[1]}
            for key in _throttled_routes("payment_poll")
        },
    }
    assert expected and not any(key in expected for key in _throttled_routes("webhook"))
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {"RouteSettings": Match.object_equals(expected)},
    )
    # and the stage waits for those routes (CloudFormation checks each route key exists)
    (stage,) = template.find_resources("AWS::ApiGatewayV2::Stage").values()
    for name in ("cabinet_api", "payment_poll"):
        for route in app_stack.api.routes[name]:
            assert logical_id(route) in stage["DependsOn"]


def test_route_limits_follow_the_context(variant_template: Template, variant_context: dict[str, str]) -> None:
    rate, burst = int(variant_context["cabinetRateLimit"]), int(variant_context["cabinetBurstLimit"])
    settings = {
        key: {"ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst}
        for key in _throttled_routes("cabinet_api")
    }
    variant_template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage", {"RouteSettings": Match.object_like(settings)}
    )
