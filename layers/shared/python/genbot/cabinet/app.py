"""The cabinet's resolver: a Router per area under ``/cabinet``, errors mapped in one place.

Every refusal leaves as ``{"error": {"code", "message"}}`` with its status, the message in the
caller's language; nothing else (no stack trace, no pydantic detail) ever reaches the caller.
The OpenAPI schema (``enable_validation`` builds it from the routes' pydantic models) is served
at ``GET /cabinet/openapi.json``; Swagger UI at ``/cabinet/swagger`` only when
``CABINET_SWAGGER`` is set (the local stack). CORS headers go to ``CABINET_ORIGIN`` alone, and
to nobody when it is empty (read when the function starts).
"""

from __future__ import annotations

import json
import os
from functools import cache
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import APIKey
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from genbot.cabinet import admin, generations, ledger, me, promo, settings, shop
from genbot.cabinet.auth import LANGUAGE, SCHEME
from genbot.cabinet.errors import (
    CabinetError,
    ErrorBody,
    InvalidRequestError,
    NotFoundError,
    UnavailableError,
)
from genbot.config import get_settings
from genbot.i18n import N_, translate
from genbot.ledger import LedgerUnavailableError
from genbot.ledger.errors import ContentionError
from genbot.observability import logger, metrics

PREFIX = "/cabinet"
ROUTERS = (me, ledger, generations, shop, promo, settings, admin)
SWAGGER_ENV = "CABINET_SWAGGER"
TITLE = "genbot cabinet API"
VERSION = "1"
INTERNAL = N_("Something went wrong on our side. Please try again later.")
SECURITY_SCHEMES: dict[str, Any] = {
    SCHEME: APIKey.model_validate(
        {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "description": "`tma <initData>`: the Mini App's raw `Telegram.WebApp.initData`",
        }
    )
}


def _cors() -> CORSConfig | None:
    origin = get_settings.environment().cabinet_origin.strip().rstrip("/")
    return CORSConfig(allow_origin=origin, max_age=600) if origin else None


app = APIGatewayHttpResolver(cors=_cors(), enable_validation=True, debug=False)
for area in ROUTERS:
    app.include_router(area.router, prefix=PREFIX)


def _language() -> str:
    language = app.context.get(LANGUAGE)
    return language if isinstance(language, str) else get_settings.environment().default_language


def _error(status: int, code: str, msgid: str, headers: dict[str, str] | None = None) -> Response[Any]:
    body = {"error": {"code": code, "message": translate(msgid, _language())}}
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers
    )


@app.exception_handler(CabinetError)
def refused(exc: CabinetError) -> Response[Any]:
    retry = exc.params.get("retry_after")
    headers = {"Retry-After": str(int(retry))} if retry is not None else None
    return _error(exc.status, exc.error_code, exc.message_id, headers)


@app.exception_handler(RequestValidationError)
def invalid(exc: RequestValidationError) -> Response[Any]:
    problems = [{"loc": list(e.get("loc", ())), "type": e.get("type")} for e in exc.errors()]
    logger.info("invalid cabinet request", extra={"problems": problems[:10]})
    return _error(HTTPStatus.UNPROCESSABLE_ENTITY, InvalidRequestError.code, InvalidRequestError.msgid)


@app.not_found
def no_route(exc: RouteNotFoundError) -> Response[Any]:
    return _error(NotFoundError.status, NotFoundError.code, NotFoundError.msgid)


@app.exception_handler(
    [ClientError, BotoCoreError, PynamoDBException, LedgerUnavailableError, ContentionError]
)
def unavailable(exc: Exception) -> Response[Any]:
    logger.warning("cabinet: a store call failed", extra={"error": str(exc)[:500]})
    metrics.add_metric(name="CabinetUnavailable", unit="Count", value=1)
    return _error(UnavailableError.status, UnavailableError.code, UnavailableError.msgid)


def _unreadable_body(exc: Exception) -> bool:
    """Powertools couldn't read the body: bytes that aren't UTF-8, a content type other than
    JSON (a form without its multipart boundary, an unknown type): the caller's mistake."""
    if isinstance(exc, RequestUnsupportedContentType | UnicodeDecodeError):
        return True
    headers = app.current_event.headers or {}
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "") or ""
    return isinstance(exc, ValueError) and "json" not in content_type.lower()


@app.exception_handler(Exception)
def crashed(exc: Exception) -> Response[Any]:
    if _unreadable_body(exc):
        return _error(HTTPStatus.UNPROCESSABLE_ENTITY, InvalidRequestError.code, InvalidRequestError.msgid)
    logger.exception("cabinet: unexpected error")
    metrics.add_metric(name="CabinetErrors", unit="Count", value=1)
    return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal", INTERNAL)


@cache
def openapi_schema() -> dict[str, Any]:
    """The schema of every route above (built once per process)."""
    schema = app.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description="The Telegram Mini App's backend (docs/cabinet-api.md).",
        security_schemes=SECURITY_SCHEMES,
        security=[{SCHEME: []}],
    )
    loaded: dict[str, Any] = json.loads(schema)
    return _with_error_bodies(loaded)


def _with_error_bodies(schema: dict[str, Any]) -> dict[str, Any]:
    """Refusals as they are: ``ErrorBody`` for any 4xx and 5xx (Powertools documents its own
    422 shape, which the handlers above never send)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error_schema.pop("$defs", {}))
    components["ErrorBody"] = error_schema
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    refusal = {
        "description": "Refused: see docs/cabinet-api.md (Errors)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses["4XX"] = responses["5XX"] = refusal
    return schema


@app.get(f"{PREFIX}/openapi.json", include_in_schema=False)
def openapi() -> dict[str, Any]:
    """The OpenAPI schema (no auth: it describes, it holds no data)."""
    return openapi_schema()


if os.environ.get(SWAGGER_ENV, "").lower() in {"1", "true", "yes"}:
    app.enable_swagger(
        path=f"{PREFIX}/swagger", title=TITLE, version=VERSION, security_schemes=SECURITY_SCHEMES
    )
