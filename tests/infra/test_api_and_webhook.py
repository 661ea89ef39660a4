"""The HTTP API routes to the functions' targets; the webhook is registered on deploy."""

from __future__ import annotations

from typing import Any

from genbot.resources import FUNCTIONS
from tests.infra.cfn import Synth


def _integration_for_route(s: Synth, route_key: str) -> dict[str, Any]:
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"] for r in s.of_type("AWS::ApiGatewayV2::Route").values()
    }
    target = routes[route_key]["Target"]  # {"Fn::Join": ["", ["integrations/", {"Ref": id}]]}
    integration_id = target["Fn::Join"][1][1]["Ref"]
    return s.resources[integration_id]["Properties"]


def test_every_http_route_of_the_specs_exists_and_nothing_else(app_synth: Synth) -> None:
    expected = {f"{m.upper()} {p}" for spec in FUNCTIONS.values() for m, p in spec.http_routes}
    found = {r["Properties"]["RouteKey"] for r in app_synth.of_type("AWS::ApiGatewayV2::Route").values()}
    assert found == expected
    assert "POST /telegram" in found


def test_routes_invoke_the_live_alias_with_payload_v2(app_synth: Synth) -> None:
    s = app_synth
    for spec in FUNCTIONS.values():
        fn = s.stack.functions.functions[spec.name]
        for method, path in spec.http_routes:
            integration = _integration_for_route(s, f"{method.upper()} {path}")
            assert integration["IntegrationType"] == "AWS_PROXY"
            assert integration["PayloadFormatVersion"] == "2.0"
            if spec.snapstart:  # never $LATEST, which has no snapshot
                assert integration["IntegrationUri"] == {"Ref": s.logical_id(fn.alias)}
            else:
                assert integration["IntegrationUri"] == {"Fn::GetAtt": [s.logical_id(fn.function), "Arn"]}


def test_api_gateway_may_invoke_the_alias(app_synth: Synth) -> None:
    s = app_synth
    alias_ref = {"Ref": s.logical_id(s.stack.functions.functions["webhook"].alias)}
    permissions = [
        p["Properties"]
        for p in s.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == alias_ref
    ]
    assert permissions
    assert all(p["Principal"] == "apigateway.amazonaws.com" for p in permissions)


def test_default_stage_is_throttled_and_access_logged(app_synth: Synth) -> None:
    (stage,) = app_synth.of_type("AWS::ApiGatewayV2::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == "$default"
    assert props["AutoDeploy"] is True
    assert props["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 100, "ThrottlingRateLimit": 50}
    assert props["AccessLogSettings"]["DestinationArn"] == {
        "Fn::GetAtt": [app_synth.logical_id(app_synth.stack.api.access_log_group), "Arn"]
    }


def test_outputs_give_the_api_url_and_the_telegram_webhook_url(app_synth: Synth) -> None:
    outputs = app_synth.template.to_json()["Outputs"]
    api_id = app_synth.logical_id(app_synth.stack.api.api)
    url_parts = outputs["ApiUrl"]["Value"]["Fn::Join"][1]
    assert {"Ref": api_id} in url_parts
    assert outputs["TelegramWebhookUrl"]["Value"]["Fn::Join"][1][-1].endswith("/telegram")


def test_webhook_registration_custom_resource_points_telegram_at_the_api(app_synth: Synth) -> None:
    s = app_synth
    (resource,) = s.of_type("Custom::TelegramWebhook").values()
    props = resource["Properties"]

    assert props["ServiceToken"] == {"Fn::GetAtt": [s.logical_id(s.stack.webhook.function), "Arn"]}
    parts = props["Url"]["Fn::Join"][1]
    assert {"Ref": s.logical_id(s.stack.api.api)} in parts
    assert parts[-1].endswith("/telegram")
    assert props["Version"] == "1"
    # it runs only once the route and stage exist, else Telegram would hit a missing route
    depends = set(resource.get("DependsOn", []))
    stage_id = s.logical_id(s.stack.api.stage)
    route_ids = set(s.of_type("AWS::ApiGatewayV2::Route"))
    assert stage_id in depends
    assert route_ids <= depends


def test_webhook_version_context_changes_the_custom_resource(variant_synth: Synth) -> None:
    # given -c webhookVersion=7: CloudFormation sees a changed property and re-runs setWebhook
    (resource,) = variant_synth.of_type("Custom::TelegramWebhook").values()
    assert resource["Properties"]["Version"] == "7"
