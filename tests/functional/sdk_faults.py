"""Faults in the SDK's transport, for tests of what a retried or failed AWS call does.

botocore resends a request whose answer never came (a read timeout, a reset connection), although
the first one may have been applied: a conditional write then fails against its own result, an
``ADD`` adds twice. These helpers reproduce that below botocore's retry loop, against the real
(moto) service.
"""

from __future__ import annotations

from typing import Any

import pytest


def fail_once(monkeypatch: pytest.MonkeyPatch, operation: str, needle: str, *, landed: bool) -> list[str]:
    """The first DynamoDB ``operation`` whose body holds ``needle`` fails once: applied, then its
    answer lost (``ReadTimeoutError``) when ``landed``; else never sent (``ConnectTimeoutError``).
    Returns the bodies it failed."""
    import botocore.endpoint
    from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

    original = botocore.endpoint.Endpoint._send
    failed: list[str] = []

    def send(self: Any, request: Any) -> Any:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else str(target)
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        if failed or not (target.endswith(f".{operation}") and needle in body):
            return original(self, request)
        failed.append(body)
        if not landed:
            raise ConnectTimeoutError(endpoint_url=request.url)
        original(self, request)
        raise ReadTimeoutError(endpoint_url=request.url)

    monkeypatch.setattr(botocore.endpoint.Endpoint, "_send", send)
    return failed


def time_out_always(monkeypatch: pytest.MonkeyPatch, operation: str, needle: str) -> list[str]:
    """Every DynamoDB ``operation`` whose body holds ``needle`` times out unanswered (never
    applied), so botocore's retries run out. Returns the bodies it failed."""
    import botocore.endpoint
    from botocore.exceptions import ReadTimeoutError

    original = botocore.endpoint.Endpoint._send
    failed: list[str] = []

    def send(self: Any, request: Any) -> Any:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else str(target)
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        if not (target.endswith(f".{operation}") and needle in body):
            return original(self, request)
        failed.append(body)
        raise ReadTimeoutError(endpoint_url=request.url)

    monkeypatch.setattr(botocore.endpoint.Endpoint, "_send", send)
    return failed
