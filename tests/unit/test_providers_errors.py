"""How each vendor's failures become the worker's four outcomes (refund / retry / next key)."""

from __future__ import annotations

import httpx2 as httpx
import openai
import pytest

from genbot.providers import gemini, openai_images
from genbot.providers.base import InvalidInputError, QuotaError, RefusedError, TransientError


def test_gemini_429_is_a_quota_error_with_the_servers_retry_delay() -> None:
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "quota",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"}],
        }
    }
    error = gemini.map_error(429, "RESOURCE_EXHAUSTED", "quota", body)
    assert isinstance(error, QuotaError) and error.retry_after == 17.0


@pytest.mark.parametrize(
    ("code", "status", "reason", "expected"),
    [
        (400, "INVALID_ARGUMENT", "", InvalidInputError),
        (400, "INVALID_ARGUMENT", "API_KEY_INVALID", QuotaError),  # a bad key: next key, not a refund
        (403, "PERMISSION_DENIED", "", QuotaError),
        (404, "NOT_FOUND", "", TransientError),
        (500, "INTERNAL", "", TransientError),
        (503, "UNAVAILABLE", "", TransientError),
    ],
)
def test_gemini_error_mapping(code: int, status: str, reason: str, expected: type[Exception]) -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}] if reason else []
    error = gemini.map_error(code, status, "m", {"error": {"details": details}})
    assert type(error) is expected


def _status_error(cls: type[openai.APIStatusError], status: int, code: str | None, kind: str) -> Exception:
    request = httpx.Request("POST", "https://api.openai.com/v1/images/generations")
    response = httpx.Response(status, request=request, headers={"retry-after": "7"})
    body = {"message": "m", "type": kind, "param": None, "code": code}
    return cls("m", response=response, body=body)


@pytest.mark.parametrize(
    ("cls", "status", "code", "kind", "expected", "retry_after"),
    [
        (openai.RateLimitError, 429, "rate_limit_exceeded", "requests", QuotaError, 7.0),
        (openai.RateLimitError, 429, "insufficient_quota", "insufficient_quota", QuotaError, 3600.0),
        (openai.AuthenticationError, 401, "invalid_api_key", "invalid_request_error", QuotaError, 3600.0),
        (
            openai.BadRequestError,
            400,
            "moderation_blocked",
            "image_generation_user_error",
            RefusedError,
            None,
        ),
        (
            openai.BadRequestError,
            400,
            "content_policy_violation",
            "invalid_request_error",
            RefusedError,
            None,
        ),
        (openai.BadRequestError, 400, "invalid_value", "invalid_request_error", InvalidInputError, None),
        (openai.InternalServerError, 500, None, "server_error", TransientError, 7.0),
    ],
)
def test_openai_error_mapping(cls, status, code, kind, expected, retry_after) -> None:  # type: ignore[no-untyped-def]
    error = openai_images.map_error(_status_error(cls, status, code, kind))
    assert type(error) is expected
    assert getattr(error, "retry_after", None) == retry_after  # None: a refusal or bad input, no retry


def test_openai_timeouts_and_connection_errors_are_transient() -> None:
    request = httpx.Request("POST", "https://api.openai.com/v1/images/generations")
    assert isinstance(openai_images.map_error(openai.APITimeoutError(request)), TransientError)
    assert isinstance(openai_images.map_error(openai.APIConnectionError(request=request)), TransientError)
