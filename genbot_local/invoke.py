"""Run a function's ``handler(event, context)`` the way Lambda does.

Each function's module is imported once per process and reused, like a warm Lambda
instance: module-level state (the Dispatcher, Powertools singletons, connections) survives
between invocations exactly as it does in AWS.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from genbot.resources import FUNCTIONS

ROOT = Path(os.environ.get("GENBOT_ROOT") or Path(__file__).resolve().parents[1])
FUNCTIONS_DIR = ROOT / "functions"
_modules: dict[str, ModuleType] = {}


@dataclass
class LocalContext:
    """The attributes of Lambda's context object that Powertools and our code read."""

    function_name: str
    timeout_seconds: int = 30
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        return f"arn:aws:lambda:{region}:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        left = self.timeout_seconds - (time.monotonic() - self._started)
        return max(0, int(left * 1000))


def load_handler(name: str) -> Callable[[Any, Any], Any]:
    """Import ``functions/<name>/handler.py`` once (a warm instance), return ``handler``."""
    module = _modules.get(name)
    if module is None:
        path = FUNCTIONS_DIR / name / "handler.py"
        if not path.exists():
            raise FileNotFoundError(f"function {name!r} has no {path}")
        spec = importlib.util.spec_from_file_location(f"genbot_function_{name}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        _modules[name] = module
    handler: Callable[[Any, Any], Any] = module.handler
    return handler


def invoke(name: str, event: dict[str, Any]) -> Any:
    """One invocation with a fresh context carrying the function's configured timeout."""
    spec = FUNCTIONS.get(name)
    context = LocalContext(
        function_name=name,
        timeout_seconds=spec.timeout_seconds if spec else 30,
        memory_limit_in_mb=spec.memory_mb if spec else 512,
    )
    return load_handler(name)(event, context)
