"""API Gateway HTTP API (payload 2.0) events and responses, and the local front door."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from genbot.resources import FUNCTIONS, FunctionSpec
from genbot_local.apigw import FrontDoor, Route, build_event, find_route, routes, to_http
from genbot_local.poller import webhook_event

CABINET = {
    **FUNCTIONS,
    "cabinet_api": FunctionSpec(  # routes of every shape the front door must match
        name="cabinet_api",
        timeout_seconds=10,
        http_routes=(
            ("GET", "/api/me"),
            ("GET", "/api/jobs/{job_id}"),
            ("ANY", "/api/{proxy+}"),
        ),
    ),
}


def test_every_declared_route_is_served() -> None:
    table = routes(CABINET)
    keys = {r.route_key for r in table}
    assert "POST /telegram" in keys and "GET /api/jobs/{job_id}" in keys
    assert find_route("POST", "/telegram", table)[0].function == "webhook"
    assert find_route("GET", "/telegram", table) is None
    route, params = find_route("GET", "/api/jobs/j-1%202", table)
    assert route.path == "/api/jobs/{job_id}" and params == {"job_id": "j-1 2"}
    assert find_route("GET", "/api/me", table)[0].path == "/api/me"  # literal beats greedy
    route, params = find_route("DELETE", "/api/a/b", table)
    assert route.path == "/api/{proxy+}" and params == {"proxy": "a/b"}
    assert Route("x", "ANY", "$default").match("GET", "/anything") == {}


def test_the_event_has_the_shape_api_gateway_sends(load_event: Callable[[str], dict[str, Any]]) -> None:
    reference = load_event("apigw_http_telegram.json")
    event = build_event(
        "POST /telegram",
        headers=[("Content-Type", "application/json"), ("X-Telegram-Bot-Api-Secret-Token", "s")],
        body='{"update_id": 1}',
        source_ip="91.108.6.64",
    )
    assert set(reference) <= set(event)
    assert set(reference["requestContext"]) <= set(event["requestContext"])
    assert set(reference["requestContext"]["http"]) <= set(event["requestContext"]["http"])
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "POST /telegram"
    assert event["headers"]["x-telegram-bot-api-secret-token"] == "s"
    assert event["headers"]["content-length"] == "16"
    assert event["isBase64Encoded"] is False
    parsed = APIGatewayProxyEventV2(event)
    assert parsed.request_context.http.method == "POST"
    assert parsed.request_context.http.source_ip == "91.108.6.64"
    assert parsed.headers.get("X-Telegram-Bot-Api-Secret-Token") == "s"
    assert json.loads(parsed.decoded_body) == {"update_id": 1}


def test_query_cookies_repeated_headers_and_binary_bodies() -> None:
    event = build_event(
        Route("cabinet_api", "ANY", "/api/{proxy+}"),
        method="put",
        path="/api/x",
        query="a=1&a=2&b=",
        headers=[("Cookie", "s=1; t=2"), ("X-Many", "1"), ("x-many", "2"), ("Content-Type", "image/png")],
        body=b"\x89PNG\x00",
        path_parameters={"proxy": "x"},
    )
    assert event["requestContext"]["http"]["method"] == "PUT"
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["headers"]["x-many"] == "1,2"
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\x89PNG\x00"
    assert event["pathParameters"] == {"proxy": "x"}
    assert "body" not in build_event("GET /api/me")


def test_responses_as_api_gateway_returns_them() -> None:
    plain = to_http({"statusCode": 201, "headers": {"X-A": "1"}, "body": "hi", "cookies": ["c=1"]})
    assert (plain.status, plain.body) == (201, b"hi")
    assert ("Set-Cookie", "c=1") in plain.headers and ("Content-Type", "application/json") in plain.headers
    binary = to_http(
        {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}
    )
    assert binary.body == b"\x00\x01"
    inferred = to_http({"hello": "world"})
    assert (inferred.status, json.loads(inferred.body)) == (200, {"hello": "world"})
    assert to_http("text").body == b"text"
    assert to_http({"statusCode": 204}).body == b""


def test_webhook_event_carries_the_secret_and_the_update() -> None:
    event = webhook_event({"update_id": 7, "message": {"text": "hi"}}, "sekret")
    assert event["routeKey"] == "POST /telegram"
    assert event["headers"]["x-telegram-bot-api-secret-token"] == "sekret"
    assert json.loads(event["body"])["update_id"] == 7


@pytest.fixture
def door():
    seen: list[tuple[str, dict]] = []

    def invoke(function: str, event: dict) -> dict:
        seen.append((function, event))
        if event["rawPath"] == "/api/boom":
            raise RuntimeError("boom")
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(event)}

    def local(method: str, path: str, body: bytes) -> tuple[int, dict]:
        return 200, {"method": method, "path": path}

    front = FrontDoor(invoke, port=0, route_table=routes(CABINET), local=local).start()
    front.seen = seen  # type: ignore[attr-defined]
    yield front
    front.stop()


def request(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_front_door_turns_requests_into_events_and_answers_back(door) -> None:
    status, body = request(
        f"{door.base_url}/api/jobs/j1?x=1", "POST", b'{"a": 1}', {"Content-Type": "application/json"}
    )
    assert status == 200
    event = json.loads(body)
    assert event["routeKey"] == "ANY /api/{proxy+}"  # POST isn't the GET route
    assert event["rawQueryString"] == "x=1" and event["body"] == '{"a": 1}'
    status, body = request(f"{door.base_url}/api/jobs/j1")
    assert json.loads(body)["pathParameters"] == {"job_id": "j1"}
    assert door.seen[-1][0] == "cabinet_api"

    assert request(f"{door.base_url}/nothing/here")[0] == 404
    status, body = request(f"{door.base_url}/api/boom")
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    status, body = request(f"{door.base_url}/local/schedules/x", "POST", b"")
    assert json.loads(body) == {"method": "POST", "path": "schedules/x"}
