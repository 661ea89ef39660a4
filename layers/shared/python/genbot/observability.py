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
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
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
