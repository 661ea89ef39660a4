"""Property-based fuzzing of the cabinet's API from its own OpenAPI schema (schemathesis).

For each operation, schemathesis generates requests from the schema the function serves
(``genbot.cabinet.app.openapi_schema``); each becomes an API Gateway v2 event (the recorded
``apigw_http_cabinet.json``) signed in as a registered user and is handed to ``cabinet_api``
as Lambda would. Checks: never a 5xx, and every answer, refusals included, matches the
schema. Few examples an operation (fixed seed, no example database), so it stays quick.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import response_schema_conformance

from genbot.cabinet.app import openapi_schema
from genbot_local.invoke import invoke
from genbot_local.simulate import BOT_TOKEN
from genbot_local.webapp import sign_init_data

FUZZER = 731500
BASE_URL = "https://abcdef1234.execute-api.eu-central-1.amazonaws.com"

schema = schemathesis.openapi.from_dict(openapi_schema())


@pytest.fixture
def signed_in(aws: dict[str, str], chat_user, telegram) -> str:
    """A registered user's ``Authorization`` (the Bot API stand-in answers invoice links)."""
    chat_user(FUZZER).start()
    init_data = sign_init_data(BOT_TOKEN, {"id": FUZZER, "first_name": "Fuzz"}, auth_date=int(time.time()))
    return f"tma {init_data}"


def as_event(recorded: dict[str, Any], prepared: requests.PreparedRequest) -> dict[str, Any]:
    event = copy.deepcopy(recorded)
    url = urlsplit(prepared.url or "")
    event["rawPath"] = event["requestContext"]["http"]["path"] = url.path
    event["requestContext"]["http"]["method"] = prepared.method
    event["pathParameters"] = {"proxy": url.path.removeprefix("/cabinet/")}
    event["rawQueryString"] = url.query
    if url.query:
        pairs = [p.partition("=") for p in url.query.split("&")]
        event["queryStringParameters"] = {k: requests.utils.unquote(v) for k, _, v in pairs}
    event["headers"] = {k.lower(): str(v) for k, v in prepared.headers.items()} | {"host": url.netloc}
    body = prepared.body
    if isinstance(body, str):
        event["body"] = body
    elif body is not None:
        try:
            event["body"] = body.decode()
        except UnicodeDecodeError:  # API Gateway hands a binary body over in base64
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    return event


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_request_the_schema_allows_breaks_the_api(
    case: Any, signed_in: str, load_event: Callable[[str], dict[str, Any]]
) -> None:
    kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers={"Authorization": signed_in})
    kwargs.pop("timeout", None)
    kwargs.pop("verify", None)
    kwargs.pop("cookies", None)
    kwargs.pop("allow_redirects", None)
    prepared = requests.Request(**kwargs).prepare()
    started = time.monotonic()
    answer = invoke("cabinet_api", as_event(load_event("apigw_http_cabinet.json"), prepared))
    headers = {k: [str(v)] for k, v in (answer.get("headers") or {}).items()}
    response = Response(
        status_code=answer["statusCode"],
        headers=headers,
        content=(answer.get("body") or "").encode(),
        request=prepared,
        elapsed=time.monotonic() - started,
        verify=True,
    )
    assert answer["statusCode"] < 500, json.loads(answer.get("body") or "{}")
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
