"""Powertools Logger, Metrics and Tracer: one instance each per process.

Every function uses these (service name from ``POWERTOOLS_SERVICE_NAME``, set per function
by CDK). Outside Lambda the tracer is disabled and metrics are not flushed unless asked.

``Tracer()`` imports the X-Ray SDK and builds its recorder even when tracing is disabled, and
outside Lambda that recorder's sampler builds a botocore X-Ray client at import (~270 ms of
CPU, more than the rest of the webhook's import beyond aiogram). When tracing is off we hand
the Tracer a no-op provider instead, so the SDK is imported only where traces are sent (in
Lambda with active tracing, where it is cheap and imported at init, before a snapshot).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "genbot")


def tracing_enabled() -> bool:
    """Powertools' own rule (``Tracer._is_tracer_disabled``), without importing the X-Ray SDK.

    Off when ``POWERTOOLS_TRACE_DISABLED`` is truthy, outside Lambda, and under SAM/Chalice local.
    """
    if resolve_truthy_env_var_choice(env=os.getenv(constants.TRACER_DISABLED_ENV, "false")):
        return False
    in_lambda = bool(os.getenv(constants.LAMBDA_TASK_ROOT_ENV))
    emulated = bool(os.getenv(constants.SAM_LOCAL_ENV) or os.getenv(constants.CHALICE_LOCAL_ENV))
    return in_lambda and not emulated


class _NoSegment(BaseSegment):
    """What the disabled tracer's decorators annotate: drops everything."""

    def close(self, end_time: int | None = None) -> None:
        pass

    def add_subsegment(self, subsegment: Any) -> None:
        pass

    def remove_subsegment(self, subsegment: Any) -> None:
        pass

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        pass


class NoTracing(BaseProvider):
    """A tracing provider that records nothing (the X-Ray SDK stays unimported)."""

    _segment = _NoSegment()

    @contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Iterator[BaseSegment]:
        yield self._segment

    @asynccontextmanager
    async def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> AsyncIterator[BaseSegment]:
        yield self._segment

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def patch(self, modules: Sequence[str]) -> None:
        pass

    def patch_all(self) -> None:
        pass


logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "genbot"))
metrics = Metrics(namespace=NAMESPACE)
tracer = Tracer() if tracing_enabled() else Tracer(disabled=True, provider=NoTracing())


# -- correlation across queues --------------------------------------------------------------------

# What one piece of work is known by in the logs, carried from the webhook through SQS to the
# worker and its sends: the API request (correlation_id), the Telegram update, the job, the
# payment, the broadcast.
TRACE_KEYS = ("update_id", "job_id", "payment_id", "broadcast_id")
CORRELATION_ID = "correlation_id"


def trace_attributes() -> dict[str, dict[str, str]]:
    """SQS ``MessageAttributes`` carrying this invocation's correlation keys to the consumer."""
    current = logger.get_current_keys()
    values: dict[str, Any] = {CORRELATION_ID: logger.get_correlation_id()}
    values.update({key: current.get(key) for key in TRACE_KEYS})
    return {
        key: {"DataType": "String", "StringValue": str(value)}
        for key, value in values.items()
        if value is not None and str(value) != ""
    }


def adopt_trace(attributes: Any) -> None:
    """The consumer's side: the producer's keys (an SQS record's ``messageAttributes``, as the
    Lambda event or Powertools' models give them) onto this invocation's log lines."""

    def value(key: str) -> str | None:
        found = attributes.get(key) if attributes else None
        if found is None:
            return None
        text = found.get("stringValue") if isinstance(found, dict) else getattr(found, "stringValue", None)
        return str(text) if text else None

    correlation = value(CORRELATION_ID)
    if correlation:
        logger.set_correlation_id(correlation)
    keys: dict[str, Any] = {key: found for key in TRACE_KEYS if (found := value(key))}
    if str(keys.get("update_id", "")).isdigit():  # a number, as the webhook logs it
        keys["update_id"] = int(keys["update_id"])
    if keys:
        logger.append_keys(**keys)


# -- outside calls: a subsegment each, providers' latency by provider and outcome ---------------


@asynccontextmanager
async def traced(name: str, **annotations: str) -> AsyncIterator[None]:
    """An X-Ray subsegment around an outside call (a provider, Telegram), annotated so traces
    can be searched by it; nothing at all when tracing is off."""
    async with tracer.provider.in_subsegment_async(name=name) as segment:
        for key, value in annotations.items():
            segment.put_annotation(key, value)
        yield


def provider_call(provider: str, outcome: str, started: float) -> None:
    """``ProviderLatency`` (ms) of one provider call with ``provider`` and ``outcome`` dimensions
    (ok, refused, invalid, quota, transient): percentiles and error rates per provider. One
    EMF line of its own (dimensions differ from the function's other metrics)."""
    with single_metric(
        name="ProviderLatency",
        unit=MetricUnit.Milliseconds,
        value=round((time.perf_counter() - started) * 1000, 1),
        namespace=NAMESPACE,
    ) as metric:
        metric.add_dimension(name="provider", value=provider)
        metric.add_dimension(name="outcome", value=outcome)
    # and, with the function's other metrics, the counts its error-rate alarm divides
    metrics.add_metric(name="ProviderCalls", unit="Count", value=1)
    if outcome in PROVIDER_FAILURES:
        metrics.add_metric(name="ProviderErrors", unit="Count", value=1)


# what counts against a provider (a refusal or a bad input is the request's, not the provider's)
PROVIDER_FAILURES = frozenset({"transient", "quota", "error"})
