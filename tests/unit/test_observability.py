"""The tracer: X-Ray's SDK only where traces are sent (Lambda with tracing on), a no-op elsewhere."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genbot import observability
from genbot.observability import NoTracing, tracing_enabled

LAYER = Path(__file__).resolve().parents[2] / "layers/shared/python"


@pytest.mark.parametrize(
    ("env", "enabled"),
    [
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
        ({}, False),  # outside Lambda
    ],
)
def test_tracing_follows_powertools_rules(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], enabled
) -> None:
    for name in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    assert tracing_enabled() is enabled


def test_the_disabled_tracer_decorates_handlers_and_methods_with_no_provider_work() -> None:
    tracer = observability.tracer
    assert isinstance(tracer.provider, NoTracing) and tracer.disabled

    @tracer.capture_lambda_handler(capture_response=False)
    def handler(event: dict, context: object) -> dict:
        return {"ok": event["n"]}

    @tracer.capture_method
    async def method(n: int) -> int:
        return n + 1

    assert handler({"n": 1}, None) == {"ok": 1}
    assert asyncio.run(method(1)) == 2


def imports_xray(env: dict[str, str]) -> bool:
    code = "import sys, genbot.observability; print('aws_xray_sdk.core' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(LAYER), **env},
    )
    return out.stdout.strip() == "True"


def test_xray_sdk_is_imported_only_when_tracing_is_on() -> None:
    assert not imports_xray({"POWERTOOLS_TRACE_DISABLED": "true"})
    assert imports_xray({"POWERTOOLS_TRACE_DISABLED": "false", "LAMBDA_TASK_ROOT": "/var/task"})
