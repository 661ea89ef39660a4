"""What the app is made of, as data: functions, queues, buckets and schedules.

The CDK app (``infra/``) and the local stack (``genbot_local``) both read these, so the
local run drives handlers with the same batch sizes, timeouts, receive counts and schedule
expressions that AWS would use. Tables live in ``genbot.store.tables``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

# The update kinds Telegram sends the webhook (setWebhook's allowed_updates): what the routers
# handle. functions/set_webhook (stdlib only, no layer) keeps a copy; a unit test holds them equal.
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "pre_checkout_query", "my_chat_member")

# Every function is invoked through this alias on a published version; each version carries the
# deploy's release in RELEASE_ENV and the function its spec's name in FUNCTION_TAG, which is how
# `genbot release` finds a stack's functions and their releases (infra/functions.py sets them).
LIVE_ALIAS = "live"
FUNCTION_TAG = "genbot:function"
RELEASE_ENV = "GENBOT_RELEASE"

# Tables: "read" (get, query: no scan), "items" (get, query, put and update items, one by one or in
# transactions: no scan, delete or batch write), "items_scan" ("items" and scan: a broadcast
# reads every user), "read_write" (everything on the table).
# Buckets: "read", "write", "read_write" (object access).
Access = Literal["read", "write", "items", "items_scan", "read_write"]
# ScheduleSpec.timezone: the app's TIMEZONE setting (the bonus reminder's "after 11:00")
APP_TIMEZONE = "TIMEZONE"
# the defaults of the settings a schedule may depend on (genbot.config uses the same values)
DEFAULT_TIMEZONE = "Europe/Moscow"
DEFAULT_BONUS_REMINDER_HOUR = 11


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
    # Lambda's event source concurrency (2 at least). With the consumer's reserved concurrency
    # these must fit: a throttled poll still counts a receive, so an overfull sum would move
    # healthy messages towards the DLQ during an outage.
    max_concurrency: int | None = None
    dlq_max_concurrency: int = 2


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
    timezone: str = "UTC"  # or APP_TIMEZONE: the deployed TIMEZONE setting
    input: dict[str, Any] = field(default_factory=dict)

    def resolve(self, env: Mapping[str, str]) -> tuple[str, str]:
        """(expression, timezone) for a deployment whose functions get the environment ``env``:
        ``APP_TIMEZONE`` becomes its ``TIMEZONE``, ``{bonus_reminder_hour}`` its hour."""
        timezone = (
            (env.get("TIMEZONE") or DEFAULT_TIMEZONE) if self.timezone == APP_TIMEZONE else self.timezone
        )
        hour = int(env.get("BONUS_REMINDER_HOUR") or DEFAULT_BONUS_REMINDER_HOUR)
        return self.expression.format(bonus_reminder_hour=hour), timezone


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
    # writes allowed only to items whose partition key starts with one of these (the rest read-only)
    write_prefixes: dict[str, tuple[str, ...]] = field(default_factory=dict)
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
            "users": "items",
            "ledger": "items",  # entries are only ever added, by the ledger's transactions
            "jobs": "items",
            "settings": "read",
            "idempotency": "items",
            "payments": "items",
            "promo": "items",
            "broadcasts": "items",  # an admin's /broadcast: the preview, then the start
            "conversations": "items",  # an assistant question, written with its job
            "stats": "items",  # new and active users, Stars payments (genbot.stats counters)
        },
        sends_to=("jobs", "broadcasts"),
    ),
    "generate": FunctionSpec(
        name="generate",
        timeout_seconds=150,
        memory_mb=1024,
        # the provider-side rate limit: 3 jobs queue + 2 DLQ pollers + 1 for the sweep schedule
        reserved_concurrency=6,
        tables={
            "users": "items",
            "ledger": "items",
            "jobs": "items",
            "settings": "read",
            "conversations": "items",  # the assistant's context, and its answers
            "stats": "items",  # jobs finished, by mode and provider; the assistant's usage
        },
        # the provider key pool's counters live in the settings table; prices and the catalog
        # there are the operator's, read-only to the worker
        write_prefixes={"settings": ("keypool#",)},
        sends_to=("jobs",),
        buckets={"media": "read_write"},
    ),
    "payment_poll": FunctionSpec(
        name="payment_poll",
        timeout_seconds=60,
        memory_mb=512,
        # YooKassa's notifications (source addresses checked, body never trusted: the payment is
        # fetched again) and the poll schedule settle payments through one settle()
        http_routes=(("POST", "/yookassa/notifications"),),
        tables={
            "users": "items",
            "ledger": "items",
            "payments": "items",
            "settings": "read",
            "stats": "items",  # payments settled (genbot.stats counters)
        },
    ),
    "notify": FunctionSpec(
        name="notify",
        timeout_seconds=60,
        memory_mb=512,
        # the broadcast queue's 2 pollers + the schedules (offers, bonus reminders,
        # subscription notices) that may overlap them
        reserved_concurrency=5,
        tables={
            "users": "items_scan",  # due users from the sparse indexes; a broadcast scans its segment
            "settings": "read",
            "broadcasts": "items",
        },
        sends_to=("broadcasts",),  # the fan-out: selection pages and recipient chunks
    ),
    "cabinet_api": FunctionSpec(
        name="cabinet_api",
        timeout_seconds=15,
        memory_mb=512,
        snapstart=True,  # checking initData needs aiogram, whose import costs seconds
        # the Mini App's JSON API (docs/cabinet-api.md); CORS for the cabinet's origin only
        http_routes=(("ANY", "/cabinet/{proxy+}"),),
        tables={
            # the admin section's ledger audit (genbot.ledger.audit) reads both whole tables
            "users": "items_scan",
            "ledger": "items_scan",
            "jobs": "read",  # a user's gallery (by_user), the admin's failed jobs (sparse index)
            "payments": "items",  # an admin's refund marks the payment refunded
            "stats": "items",  # the admin's numbers (genbot.stats); a refund counts itself
            "promo": "items_scan",  # the admin's list of codes (one item per code: small)
            "settings": "read",
            "broadcasts": "items",  # the admin section's broadcasts: draft, start, progress
            "admin_log": "items",  # the admin section's audit log (genbot.cabinet.admin)
        },
        # an operator edits prices, packs, the catalog and the subscription's terms; nothing else
        write_prefixes={"settings": ("prices", "packs", "catalog", "subscription")},
        sends_to=("broadcasts",),  # an admin's broadcast starts: its first selection message
        buckets={"media": "read"},  # presigned GETs of the user's own results
    ),
    "audit": FunctionSpec(
        name="audit",
        timeout_seconds=300,
        memory_mb=512,
        reserved_concurrency=1,  # runs never overlap: the checkpoint moves in order
        # the hourly ledger audit (genbot.ledger.audit.audit_recent): the ledger's by_hour index,
        # each changed user's entries and balance; its checkpoint is a settings item
        tables={"users": "read", "ledger": "read", "settings": "read"},
        write_prefixes={"settings": ("audit#",)},
        secrets=False,  # no token, no provider key: only tables
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
        max_concurrency=3,
        dlq_max_concurrency=2,
    ),
    "broadcasts": QueueSpec(
        name="broadcasts",
        env_var="BROADCASTS_QUEUE_URL",
        consumer="notify",
        batch_size=1,  # one page or chunk per invocation: short runs, a failure retries little
        max_concurrency=2,  # with BROADCAST_RATE split between them: Telegram's ~30 messages/s
    ),
}

BUCKETS: dict[str, BucketSpec] = {
    "media": BucketSpec(name="media", env_var="MEDIA_BUCKET"),
}

SCHEDULES: dict[str, ScheduleSpec] = {
    # pending YooKassa payments, read through the sparse "pending" index (genbot.payments.poll)
    "poll_payments": ScheduleSpec(
        name="poll_payments",
        function="payment_poll",
        expression="rate(1 minute)",
        input={"task": "poll_payments"},
    ),
    # Jobs whose message was lost (a webhook that died after the debit, a dead worker's lease):
    # re-sent, or refunded when hopeless (genbot.jobs.sweeper). Worst case for a stuck job to be
    # picked up: its grace (10 min) + this rate.
    "sweep_jobs": ScheduleSpec(
        name="sweep_jobs", function="generate", expression="rate(5 minutes)", input={"task": "sweep_jobs"}
    ),
    # genbot.notify: each run reads the users due now from a sparse index (never a scan)
    "offers": ScheduleSpec(
        name="offers", function="notify", expression="rate(15 minutes)", input={"task": "offers"}
    ),
    # "after 11:00" in the app's time zone, every 15 minutes until the evening: a user due at
    # 11:00 hears at 11:00; a failed run's users are due again at the next tick
    "bonus_reminders": ScheduleSpec(
        name="bonus_reminders",
        function="notify",
        expression="cron(0/15 {bonus_reminder_hour}-23 * * ? *)",
        timezone=APP_TIMEZONE,
        input={"task": "bonus_reminders"},
    ),
    # the users whose ledger moved since the last run, balance against ledger (LedgerMismatches)
    "ledger_audit": ScheduleSpec(
        name="ledger_audit", function="audit", expression="rate(1 hour)", input={"task": "ledger_audit"}
    ),
    "subscription_notices": ScheduleSpec(
        name="subscription_notices",
        function="notify",
        expression="rate(1 hour)",
        input={"task": "subscription_notices"},
    ),
}


def visibility_timeout_seconds(queue: QueueSpec) -> int:
    """AWS advice: at least six times the consumer's timeout."""
    return 6 * FUNCTIONS[queue.consumer].timeout_seconds
