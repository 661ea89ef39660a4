"""What the app is made of, as data: functions, queues, buckets and schedules.

The CDK app (``infra/``) and the local stack (``genbot_local``) both read these, so the
local run drives handlers with the same batch sizes, timeouts, receive counts and schedule
expressions that AWS would use. Tables live in ``genbot.store.tables``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Access = Literal["read", "write", "read_write"]


@dataclass(frozen=True)
class QueueSpec:
    """An SQS queue consumed by one function, with a DLQ after ``max_receive_count`` receives."""

    name: str
    env_var: str
    consumer: str
    batch_size: int = 5
    max_batching_window_seconds: int = 0
    max_receive_count: int = 5
    dlq_consumer: str | None = None  # a function that settles what the DLQ receives (refunds)
    dlq_arn_env_var: str | None = None  # tells the DLQ consumer which records are dead letters
    retention_days: int = 4


@dataclass(frozen=True)
class BucketSpec:
    name: str
    env_var: str
    expire_prefix: str = "media/"
    expire_days: int = 90


@dataclass(frozen=True)
class ScheduleSpec:
    """An EventBridge Scheduler schedule; ``input`` is the event the function receives."""

    name: str
    function: str
    expression: str
    timezone: str = "UTC"
    input: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function and exactly what it may touch (least privilege comes from here)."""

    name: str
    timeout_seconds: int
    memory_mb: int = 512
    snapstart: bool = False
    reserved_concurrency: int | None = None
    http_routes: tuple[tuple[str, str], ...] = ()
    tables: dict[str, Access] = field(default_factory=dict)
    sends_to: tuple[str, ...] = ()
    buckets: dict[str, Access] = field(default_factory=dict)
    secrets: bool = True


FUNCTIONS: dict[str, FunctionSpec] = {
    "webhook": FunctionSpec(
        name="webhook",
        timeout_seconds=25,  # under API Gateway's 30 s; Telegram waits ~60 s
        memory_mb=1024,
        snapstart=True,  # aiogram's import costs seconds on a cold start
        http_routes=(("POST", "/telegram"),),
        tables={
            "users": "read_write",
            "ledger": "read_write",
            "jobs": "read_write",
            "settings": "read",
            "idempotency": "read_write",
        },
        sends_to=("jobs",),
    ),
    "generate": FunctionSpec(
        name="generate",
        timeout_seconds=150,
        memory_mb=1024,
        reserved_concurrency=5,  # the provider-side rate limit
        tables={
            "users": "read_write",
            "ledger": "read_write",
            "jobs": "read_write",
            "settings": "read_write",  # provider key pool counters live there
        },
        sends_to=("jobs",),
        buckets={"media": "read_write"},
    ),
}

QUEUES: dict[str, QueueSpec] = {
    "jobs": QueueSpec(
        name="jobs",
        env_var="JOBS_QUEUE_URL",
        consumer="generate",
        batch_size=1,  # one generation per invocation: a slow provider can't hold others hostage
        dlq_consumer="generate",
        dlq_arn_env_var="JOBS_DLQ_ARN",
    ),
}

BUCKETS: dict[str, BucketSpec] = {
    "media": BucketSpec(name="media", env_var="MEDIA_BUCKET"),
}

SCHEDULES: dict[str, ScheduleSpec] = {}


def visibility_timeout_seconds(queue: QueueSpec) -> int:
    """AWS advice: at least six times the consumer's timeout."""
    return 6 * FUNCTIONS[queue.consumer].timeout_seconds
