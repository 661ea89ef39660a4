"""The yookassa SDK behind a bounded timeout and our error types (imported only when used).

The SDK has no request timeout of its own (its ``Configuration.timeout`` is only the back-off
between 202 retries): ``_Client`` sends each call with ``REQUEST_TIMEOUT`` from
``genbot.payments.yookassa`` and maps timeouts, network errors, 5xx and 429 to
``YooKassaUnavailableError`` (retry) and other refusals to ``YooKassaRejectedError``.
"""

from __future__ import annotations

import threading
from typing import Any

import requests
from yookassa import Configuration
from yookassa.client import ApiClient
from yookassa.domain.common import HttpVerb
from yookassa.domain.request import PaymentRequest
from yookassa.domain.request.refund_request import RefundRequest

from genbot.config import Settings
from genbot.observability import metrics
from genbot.payments import yookassa as api
from genbot.payments.yookassa import YooKassaRejectedError, YooKassaUnavailableError, configured

__all__ = ["HttpVerb", "PaymentRequest", "RefundRequest", "client", "configure"]

_configure_lock = threading.Lock()


def configure(settings: Settings) -> None:
    """Point the SDK at YooKassa (or ``YOOKASSA_API_URL``) with the shop's credentials."""
    if not configured(settings):
        raise YooKassaRejectedError("YooKassa is not configured (YOOKASSA_SHOP_ID / YOOKASSA_SECRET_KEY)")
    with _configure_lock:
        if (
            Configuration.account_id != settings.yookassa_shop_id
            or Configuration.secret_key != settings.yookassa_secret_key
            or Configuration.api_url != settings.yookassa_api_url
        ):
            Configuration.configure(
                settings.yookassa_shop_id, settings.yookassa_secret_key, api_url=settings.yookassa_api_url
            )


class _Client(ApiClient):
    """The SDK's client with a timeout on every call and our error types."""

    def execute(
        self,
        body: Any,
        method: str,
        path: str,
        query_params: Any,
        request_headers: dict[str, str],
    ) -> requests.Response:
        with requests.Session() as session:
            return session.request(
                method,
                self.endpoint + path,
                params=query_params,
                headers=request_headers,
                json=body,
                verify=self.configuration.verify,
                timeout=api.REQUEST_TIMEOUT,
            )

    def request(
        self,
        method: str = "",
        path: str = "",
        query_params: Any = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> dict[str, Any]:
        if body is not None and not isinstance(body, dict):
            body.validate()
            body = dict(body)
        request_headers = self.prepare_request_headers(headers)
        where = f"{method} {path.split('/')[1] if '/' in path else path}"
        try:
            response = self.execute(body, method, path, query_params, request_headers)
        except requests.Timeout as exc:
            metrics.add_metric(name="YooKassaTimeout", unit="Count", value=1)
            raise YooKassaUnavailableError(f"{where}: timed out ({exc.__class__.__name__})") from exc
        except requests.RequestException as exc:
            raise YooKassaUnavailableError(f"{where}: {exc.__class__.__name__}: {str(exc)[:200]}") from exc
        if response.status_code == 200:
            try:
                answer: dict[str, Any] = response.json()
            except ValueError as exc:
                raise YooKassaUnavailableError(f"{where}: an answer that isn't JSON") from exc
            return answer
        try:
            error = response.json()
        except ValueError:
            error = {}
        if not isinstance(error, dict):
            error = {}
        text = f"{where}: {response.status_code} {error.get('code', '')} {error.get('description', '')}"
        if response.status_code >= 500 or response.status_code in (202, 429):
            raise YooKassaUnavailableError(text.strip())
        raise YooKassaRejectedError(
            text.strip(),
            status=response.status_code,
            code=str(error.get("code", "")),
            parameter=str(error.get("parameter", "")),
        )


def client(settings: Settings) -> _Client:
    configure(settings)
    return _Client()
