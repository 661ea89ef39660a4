"""What each kind of work costs on AWS, from calls counted on the real code path.

Every scenario runs the functions' handlers in this process (``genbot_local.invoke``), as warm
instances, against moto (in a child process, so its CPU is not ours) and the in-process
stand-ins of the Bot API, Gemini, OpenAI and YooKassa. For each invocation it records:

- AWS calls by service and operation (botocore's ``_make_api_call``, which boto3 and PynamoDB
  both go through), with DynamoDB read/write request units estimated from the items' sizes
  (writes per 1 KB, reads per 4 KB, eventually consistent reads half, transactions double;
  an UpdateItem is sized by reading the item back, unmetered), SQS requests in 64 KB chunks, S3
  PUT/GET class requests and the bytes stored;
- Bot API calls the bot made (the stand-in's record; a reply carried in the webhook's response
  is listed apart: Telegram makes that call, the function doesn't wait for it);
- CPU: ``time.thread_time`` of the invoking thread (the handler's own CPU; the stand-ins' server
  threads are excluded) and ``time.process_time`` (includes the stand-ins: an upper bound);
- log bytes the code writes at the deployed ``LOG_LEVEL=INFO``, with the Powertools metrics
  (EMF lines) on, and the custom metrics those lines define.

The event source's own SQS calls (receive and delete) are modelled, not counted (2 per message).
Then prices them (constants below, each with its source and date), for us-east-1 and
eu-central-1, using the memory sizes the CDK app deploys (``infra.specs.AppSpecs``). Billed
duration is not measurable offline: the lower bound bills the measured CPU only; the estimate
adds the CPU scaled to the memory's share of a vCPU plus assumed waits (per AWS call, per Bot API
call, per provider request), stated in ``WAITS``.

    .venv/bin/python bench/cost_model.py [--runs 5] [--eligible 20] [--broadcast-users 150]
"""

from __future__ import annotations

import argparse
import ast
import collections
import contextlib
import copy
import io
import itertools
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from _offline import use_offline_env

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers/shared/python"), str(ROOT)]
use_offline_env()
os.environ.update(
    LOG_LEVEL="INFO",  # as deployed (infra/functions.py): the log volume is part of the cost
    POWERTOOLS_METRICS_DISABLED="false",  # the EMF lines are logs too, and define custom metrics
    POWERTOOLS_METRICS_NAMESPACE="genbot",
    VIDEO_POLL_SECONDS="0",  # the re-queued video polls come back at once (their count is the same)
)
for _name in ("OPENAI_API_KEY", "GEMINI_API_KEYS", "SECRET_ID", "TELEGRAM_API_URL"):
    os.environ.pop(_name, None)
warnings.filterwarnings("ignore", message="No application metrics")

DAY = 86400
MONTH_SECONDS = 30 * DAY
MB_PER_VCPU = 1769  # Lambda gives a function one full vCPU at 1,769 MB, a share below that

# ---------------------------------------------------------------------------------------------
# Prices (USD), looked up 2026-11-30 with the search tool (no network here). "assumed": no page
# with the figure was found; the value is AWS's published price as last known, to be checked.
# ---------------------------------------------------------------------------------------------
REGIONS = ("us-east-1", "eu-central-1")


@dataclass(frozen=True)
class Price:
    us: float
    eu: float
    source: str

    def of(self, region: str) -> float:
        return self.us if region == "us-east-1" else self.eu


PRICES: dict[str, Price] = {
    # Arm duration, first tier (7.5 billion GB-s/month); same in both regions
    "lambda_gb_s_arm": Price(
        0.0000133334,
        0.0000133334,
        "https://cloudchipr.com/blog/aws-lambda-pricing (us-east-1, Arm first tier); "
        "https://git.mcrn.ar/mariano/lambda_local_runner/.../lambda-13-cost.md; eu-central-1 assumed equal",
    ),
    "lambda_request": Price(
        0.20 / 1e6, 0.20 / 1e6, "same pages: $0.20 per 1M requests; eu-central-1 assumed equal"
    ),
    # SnapStart (webhook, cabinet_api): the cached snapshot of each active version, and restores
    "snapstart_cache_gb_s": Price(
        0.0000015046,
        0.0000015046,
        "https://awsnegotiations.com/blog/lambda-snapstart-cost-impact/ (approx.; eu assumed equal)",
    ),
    "snapstart_restore_gb": Price(0.0001397998, 0.0001397998, "same page"),
    "http_api_request": Price(
        1.00 / 1e6,
        1.20 / 1e6,
        "https://www.apigatewaycost.com/aws , https://amnic.com/blogs/aws-api-gateway-pricing "
        "(us-east-1 $1.00/M first 300M); eu-central-1 $1.20/M assumed",
    ),
    "ddb_wru": Price(
        0.625 / 1e6,
        0.7625 / 1e6,
        "https://airbyte.com/data-engineering-resources/dynamodb-pricing (us-east-1 after the "
        "Nov 2024 cut); eu-central-1 assumed (half of the former $1.525/M)",
    ),
    "ddb_rru": Price(0.125 / 1e6, 0.1525 / 1e6, "same page; eu-central-1 assumed (half of $0.305/M)"),
    "sqs_request": Price(
        0.40 / 1e6,
        0.40 / 1e6,
        "https://cloudburn.io/blog/amazon-sqs-pricing (standard, per 64 KB chunk, 1M free/month); "
        "eu-central-1 assumed equal",
    ),
    "s3_put": Price(
        0.005 / 1000,
        0.0054 / 1000,
        "https://c3x.dev/blog/s3-request-fees-explained (us-east-1); eu-central-1 assumed",
    ),
    "s3_get": Price(0.0004 / 1000, 0.00043 / 1000, "same page; eu-central-1 assumed"),
    "s3_gb_month": Price(
        0.023, 0.0245, "https://gist.github.com/EverettBerry (S3 Standard first 50 TB); eu assumed"
    ),
    "scheduler_invocation": Price(
        1.00 / 1e6,
        1.00 / 1e6,
        "https://cloudburn.io/blog/amazon-eventbridge-pricing ($1.00/M beyond 14M free per month)",
    ),
    "logs_ingest_gb": Price(
        0.50,
        0.63,
        "https://hivebook.wiki/wiki/cloudwatch-logs-cost-never-expire-retention-and-cardinality-blowups "
        "($0.50/GB most regions); eu-central-1 $0.63 assumed",
    ),
    "custom_metric_month": Price(
        0.30, 0.30, "https://cloudonaut.io/aws-cloudwatch-dashboard-cost-efficiency-logs-vs-custom-metrics"
    ),
    "alarm_month": Price(0.10, 0.10, "assumed: standard-resolution alarm, AWS CloudWatch pricing page"),
    "xray_trace": Price(
        5.00 / 1e6, 5.00 / 1e6, "https://aws.amazon.com/de/xray/pricing/ ($5/M recorded, 100k free)"
    ),
    "secret_month": Price(0.40, 0.40, "assumed: Secrets Manager $0.40 per secret-month"),
}
FREE = {  # always-free monthly allowances, used for the fixed monthly figure only
    "lambda_requests": 1_000_000,
    "lambda_gb_s": 400_000,
    "sqs_requests": 1_000_000,
    "scheduler_invocations": 14_000_000,
    "logs_gb": 5,
    "custom_metrics": 10,
    "alarms": 10,
    "xray_traces": 100_000,
}
# An always-on VM running a polling bot (for docs/cost.md's comparison)
EUR_USD = 1.08  # assumed exchange rate
VMS = (
    (
        "AWS t4g.small, us-east-1: $0.0168/h x 730 h + 8 GB gp3 ($0.64) + public IPv4 ($3.65)",
        0.0168 * 730 + 0.64 + 3.65,
        "assumed: EC2 on-demand, EBS and public IPv4 prices as last published",
    ),
    (
        "Hetzner CX23 (2 vCPU, 4 GB, 40 GB; the CX22's successor): ~EUR 4.11/month",
        4.11 * EUR_USD,
        "https://docs.cnap.tech/compute/providers/hetzner (Hetzner raised prices 2026-04-01: "
        "https://cloudtally.eu/blog/hetzner-billing-gotchas)",
    ),
)
# Provider prices, for the models the default catalog names (genbot.providers.catalog)
PROVIDERS = {
    "image": (
        "gemini-2.5-flash-image",
        0.039,
        "https://aifreeapi.com/en/posts/gemini-image-generation-api-pricing",
    ),
    "edit": ("gemini-2.5-flash-image", 0.039, "same page (edit: same output price, plus ~$0.0004 input)"),
    "video": ("veo-3.0-fast-generate-001, 8 s", 8 * 0.15, "assumed: Veo 3 Fast $0.15 per second"),
    "chat": ("gpt-4o-mini, 1,500 in + 300 out tokens", None, "settings defaults CHAT_PRICE_IN/OUT"),
}

# Waits a function is billed for while it waits (assumed; offline the stand-ins answer at once)
WAITS = {
    "aws_call": 0.008,  # DynamoDB/SQS/S3 from Lambda in-region: single-digit ms
    "telegram_call": 0.080,  # a Bot API round trip from AWS
    "image": 8.0,  # one Gemini 2.5 Flash Image generation, synchronous in the worker
    "edit": 9.0,
    "video_request": 0.5,  # Veo: start and each poll are short calls; the job re-queues between
    "chat": 6.0,  # a streamed gpt-4o-mini answer of ~300 tokens, first token included
}
PLATFORM_LOG_BYTES = 330  # Lambda's START/END/REPORT lines (with X-Ray's trace id): assumed
S3_KEEP_MONTHS = 3  # media/ expires after 90 days (genbot.resources.BUCKETS)
ESM_POLLERS = 5  # assumed: long-polling connections per idle SQS event source (20 s each)
HTTP_FUNCTIONS = ("webhook", "cabinet_api")

# ---------------------------------------------------------------------------------------------
# stdout tap: the Powertools logger binds sys.stdout when genbot is imported, EMF is print()ed
# ---------------------------------------------------------------------------------------------


class Tap(io.TextIOBase):
    """sys.stdout that swallows and measures what the functions write while capturing."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.capturing = False
        self.text: list[str] = []

    def write(self, s: str) -> int:
        if self.capturing:
            self.text.append(s)
            return len(s)
        return int(self.real.write(s))

    def flush(self) -> None:
        self.real.flush()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def isatty(self) -> bool:
        return False

    def take(self) -> str:
        text, self.text = "".join(self.text), []
        return text


TAP = Tap(sys.stdout)
sys.stdout = TAP

# ---------------------------------------------------------------------------------------------
# usage records
# ---------------------------------------------------------------------------------------------


@dataclass
class Usage:
    """What one function did within one scenario run ("-": calls made outside any invocation)."""

    invocations: int = 0
    cpu: float = 0.0  # thread CPU, seconds
    process_cpu: float = 0.0
    wall: float = 0.0
    rru: float = 0.0
    wru: float = 0.0
    sqs: float = 0.0  # billed requests (64 KB chunks)
    s3_put: int = 0
    s3_get: int = 0
    s3_bytes: int = 0
    telegram: int = 0
    in_reply: int = 0
    aws_calls: int = 0
    log_bytes: int = 0
    poller_sqs: int = 0
    provider_wait: float = 0.0
    calls: collections.Counter[str] = field(default_factory=collections.Counter)

    def add(self, other: Usage) -> None:
        for f in fields(self):
            if f.name == "calls":
                self.calls.update(other.calls)
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


NUMERIC = [f.name for f in fields(Usage) if f.name != "calls"]


@dataclass
class State:
    run: dict[str, Usage] | None = None  # function -> usage, for the scenario run in progress
    function: str = "-"
    quiet: bool = False  # side calls (sizing an updated item) are not counted
    metrics: set[tuple[str, str, str]] = field(default_factory=set)
    poller: Any = None


STATE = State()


def current() -> Usage | None:
    if STATE.run is None:
        return None
    return STATE.run.setdefault(STATE.function, Usage())


@contextmanager
def quiet() -> Iterator[None]:
    before, STATE.quiet = STATE.quiet, True
    try:
        yield
    finally:
        STATE.quiet = before


# ---------------------------------------------------------------------------------------------
# DynamoDB request units from item sizes (AWS: names + values; numbers ~1 byte per 2 digits)
# ---------------------------------------------------------------------------------------------


def value_size(value: dict[str, Any]) -> int:
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        digits = len(re.sub(r"[^0-9]", "", str(v)).lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(x.encode()) for x in v)
    if kind == "NS":
        return sum(value_size({"N": x}) for x in v)
    if kind == "BS":
        return sum(len(x) for x in v)
    if kind == "L":
        return 3 + sum(1 + value_size(x) for x in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + value_size(x) for k, x in v.items())
    return 1


def item_size(item: dict[str, Any] | None) -> int:
    return sum(len(k.encode()) + value_size(v) for k, v in (item or {}).items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    return max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)


def size_after_update(client: Any, table: str, key: dict[str, Any]) -> int:
    with quiet():
        item = ORIGINAL(client, "GetItem", {"TableName": table, "Key": key, "ConsistentRead": True})
    return item_size(item.get("Item"))


def dynamodb_units(
    client: Any, op: str, params: dict[str, Any], answer: dict[str, Any]
) -> tuple[float, float]:
    """(RRU, WRU) for one successful call."""
    consistent = bool(params.get("ConsistentRead"))
    if op == "GetItem":
        return read_units(item_size(answer.get("Item")), consistent), 0
    if op in ("Query", "Scan"):
        items = answer.get("Items", [])
        total = sum(item_size(i) for i in items)
        scanned, count = int(answer.get("ScannedCount", len(items))), max(1, len(items))
        if scanned > len(items):  # a filter dropped some: they were read too
            total = int(total * scanned / count) if items else scanned * 512
        return read_units(total, consistent), 0
    if op == "BatchGetItem":
        return sum(
            read_units(item_size(i), False) for rows in answer.get("Responses", {}).values() for i in rows
        ), 0
    if op == "TransactGetItems":
        return sum(2 * read_units(item_size(r.get("Item")), True) for r in answer.get("Responses", [])), 0
    if op == "PutItem":
        return 0, write_units(item_size(params.get("Item")))
    if op == "UpdateItem":
        return 0, write_units(size_after_update(client, params["TableName"], params["Key"]))
    if op == "DeleteItem":
        return 0, 1
    if op == "BatchWriteItem":
        wru = 0
        for requests in params.get("RequestItems", {}).values():
            for r in requests:
                wru += write_units(item_size(r["PutRequest"]["Item"])) if "PutRequest" in r else 1
        return 0, wru
    if op == "TransactWriteItems":
        wru = 0
        for entry in params.get("TransactItems", []):
            if "Put" in entry:
                wru += 2 * write_units(item_size(entry["Put"]["Item"]))
            elif "Update" in entry:
                u = entry["Update"]
                wru += 2 * write_units(size_after_update(client, u["TableName"], u["Key"]))
            else:  # Delete, ConditionCheck
                wru += 2
        return 0, wru
    return 0, 0


WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
S3_PUT_CLASS = {
    "PutObject",
    "CopyObject",
    "ListObjects",
    "ListObjectsV2",
    "CreateMultipartUpload",
    "UploadPart",
}


def sqs_units(op: str, params: dict[str, Any]) -> float:
    if op == "SendMessage":
        size = len(str(params.get("MessageBody", "")).encode()) + len(
            json.dumps(params.get("MessageAttributes", {}))
        )
        return max(1, math.ceil(size / 65536))
    if op == "SendMessageBatch":
        size = sum(len(str(e.get("MessageBody", "")).encode()) for e in params.get("Entries", []))
        return max(1, math.ceil(size / 65536))
    return 1


def body_size(body: Any) -> int:
    if isinstance(body, bytes | bytearray):
        return len(body)
    if isinstance(body, str):
        return len(body.encode())
    if hasattr(body, "seek") and hasattr(body, "tell"):
        at = body.tell()
        body.seek(0, 2)
        size = int(body.tell())
        body.seek(at)
        return size
    return 0


def counting(self: Any, op: str, params: dict[str, Any]) -> Any:
    usage = current()
    if usage is None or STATE.quiet or self is STATE.poller:
        return ORIGINAL(self, op, params)
    service = self.meta.service_model.service_name
    usage.calls[f"{service}:{op}"] += 1
    usage.aws_calls += 1
    try:
        answer = ORIGINAL(self, op, params)
    except Exception:
        if service == "dynamodb" and op in WRITES:  # a failed condition still consumes a write
            usage.wru += 2 if op == "TransactWriteItems" else 1
        raise
    if service == "dynamodb":
        rru, wru = dynamodb_units(self, op, params, answer)
        usage.rru += rru
        usage.wru += wru
    elif service == "sqs":
        usage.sqs += sqs_units(op, params)
    elif service == "s3":
        if op in S3_PUT_CLASS:
            usage.s3_put += 1
            usage.s3_bytes += body_size(params.get("Body"))
        elif op != "DeleteObject":
            usage.s3_get += 1
    return answer


import botocore.client  # noqa: E402

ORIGINAL = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]
botocore.client.BaseClient._make_api_call = counting  # type: ignore[attr-defined]

# ---------------------------------------------------------------------------------------------
# metered invocations
# ---------------------------------------------------------------------------------------------


@dataclass
class Env:
    standin: Any
    gemini: Any
    openai: Any
    yk: Any
    settings: Any = None


ENV: Env | None = None


def metered(name: str, event: dict[str, Any]) -> Any:
    """``genbot_local.invoke.invoke``, measured (the webhook's, the queues' and the schedules')."""
    from genbot_local.invoke import invoke

    assert ENV is not None
    outer, STATE.function = STATE.function, name
    usage = current()
    before_tg = len(ENV.standin.calls)
    TAP.take()
    t0, p0, w0 = time.thread_time(), time.process_time(), time.perf_counter()
    try:
        result = invoke(name, event)
    finally:
        cpu, pcpu, wall = time.thread_time() - t0, time.process_time() - p0, time.perf_counter() - w0
        STATE.function = outer
    logged = TAP.take()
    if usage is not None:
        usage.invocations += 1
        usage.cpu += cpu
        usage.process_cpu += pcpu
        usage.wall += wall
        usage.telegram += len(ENV.standin.calls) - before_tg
        usage.log_bytes += len(logged.encode()) + PLATFORM_LOG_BYTES
        if name in HTTP_FUNCTIONS and isinstance(result, dict) and result.get("body"):
            with contextlib.suppress(ValueError, TypeError):
                usage.in_reply += int("method" in json.loads(result["body"]))
    for line in logged.splitlines():
        if '"_aws"' in line:
            note_metrics(line)
    return result


def note_metrics(line: str) -> None:
    try:
        emf = json.loads(line)
    except ValueError:
        return
    for directive in emf.get("_aws", {}).get("CloudWatchMetrics", []):
        for dims in directive.get("Dimensions", [[]]):
            values = ",".join(f"{d}={emf.get(d)}" for d in dims)
            for metric in directive.get("Metrics", []):
                STATE.metrics.add((directive.get("Namespace", ""), metric["Name"], values))


def drain(driver: Any, limit: int = 40) -> int:
    """Feed a queue to its function until empty, as the event source mapping would."""
    done = 0
    for _ in range(limit):
        messages = driver.receive()
        if not messages:
            if queue_depth(driver.queue_url) == 0:
                break
            time.sleep(0.2)  # delayed or in flight: wait as the poller would
            continue
        usage = current()
        if usage is not None:
            usage.poller_sqs += 2 * len(messages)  # the mapping's ReceiveMessage and DeleteMessage
        outcome = driver.process(messages)
        if outcome.error is not None:
            raise outcome.error
        for message in messages:  # a retry with backoff: play the waiting
            if message["MessageId"] in outcome.failed:
                STATE.poller.change_message_visibility(
                    QueueUrl=driver.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
        done += len(messages)
    return done


def queue_depth(url: str) -> int:
    from genbot_local.sqs_driver import queue_depth as depth

    return depth(STATE.poller, url)


# ---------------------------------------------------------------------------------------------
# scenarios
# ---------------------------------------------------------------------------------------------


@dataclass
class Scenario:
    label: str
    action: Callable[[Any], Any]
    setup: Callable[[], Any] = lambda: None
    runs: int = 1
    provider: str | None = None  # WAITS key: provider wait added to the generate invocations
    provider_requests: Callable[[], int] | None = None
    per: int = 1  # the unit the run is divided by (messages of a broadcast)


@dataclass
class Result:
    label: str
    by_function: dict[str, Usage]
    cpu_runs: list[float]
    per: int

    def total(self) -> Usage:
        total = Usage()
        for usage in self.by_function.values():
            total.add(usage)
        return total


def measure(scenario: Scenario) -> Result:
    runs: list[dict[str, Usage]] = []
    for _ in range(scenario.runs):
        arg = scenario.setup()
        STATE.run = {}
        provider_before = scenario.provider_requests() if scenario.provider_requests else 0
        try:
            scenario.action(arg)
        finally:
            run, STATE.run = STATE.run, None
        if scenario.provider and scenario.provider_requests:
            requests = scenario.provider_requests() - provider_before
            run.setdefault("generate", Usage()).provider_wait += requests * WAITS[scenario.provider]
        runs.append(run)
    cpus = [sum(u.cpu for u in run.values()) for run in runs]
    middle = runs[sorted(range(len(runs)), key=lambda i: cpus[i])[len(runs) // 2]]
    by_function: dict[str, Usage] = {}
    for name in middle:  # counts from the median-CPU run; times the median over all runs
        usage = copy.deepcopy(middle[name])
        for attr in ("cpu", "process_cpu", "wall"):
            setattr(usage, attr, statistics.median(getattr(r.get(name, Usage()), attr) for r in runs))
        by_function[name] = usage
    return Result(scenario.label, by_function, cpus, scenario.per)


_ids = itertools.count(7_100_000)


def new_person(credits: int = 0) -> Any:
    from genbot.ledger import Posting, apply
    from genbot.vocab import EntryKind
    from genbot_local.simulate import ChatUser

    assert ENV is not None
    person = ChatUser(ENV.standin, next(_ids), "ru")
    with unmetered():
        person.start()
        if credits:
            apply(Posting(person.user_id, f"grant#bench-{uuid.uuid4().hex[:8]}", credits, EntryKind.GRANT))
    return person


@contextmanager
def unmetered() -> Iterator[None]:
    run, STATE.run = STATE.run, None
    try:
        yield
    finally:
        STATE.run = run


def jpeg(color: str = "teal") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), color).save(buffer, "JPEG")
    return buffer.getvalue()


def cabinet_event(path: str, user_id: int) -> dict[str, Any]:
    """The API Gateway event of a Mini App request (as bench/cabinet_api.py builds it)."""
    from genbot_local.simulate import BOT_TOKEN, load_event
    from genbot_local.webapp import sign_init_data

    event = copy.deepcopy(load_event("apigw_http_cabinet.json"))
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/cabinet{path}"
    event["requestContext"]["http"]["method"] = "GET"
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    event["rawQueryString"] = urlencode({})
    event["headers"]["authorization"] = f"tma {sign_init_data(BOT_TOKEN, {'id': user_id, 'first_name': 'B'})}"
    return event


def scenarios(args: argparse.Namespace, drivers: dict[str, Any]) -> list[Scenario]:
    from genbot.config import get_settings
    from genbot.notify import broadcast
    from genbot.payments import yookassa
    from genbot.payments.products import products
    from genbot.store.models import DUE, Payment, User
    from genbot_local.simulate import telegram_update

    assert ENV is not None
    env, settings, runs = ENV, get_settings(), args.runs
    gemini_requests = lambda: len(env.gemini.requests)  # noqa: E731
    openai_requests = lambda: len(env.openai.chat_requests())  # noqa: E731

    def image(person: Any) -> None:
        person.send("🎨 Создать")
        person.press_button("Картинка по описанию")
        person.press_button("Стандарт")
        person.send("a red fox in the snow, watercolor")
        person.press_button("Запустить")
        drain(drivers["jobs"])

    def edit(person: Any) -> None:
        person.send_photo(jpeg(), caption=None)
        person.press_button("Изменить фото")
        person.press_button("Стандарт")
        person.send("make it look like an oil painting")
        person.press_button("Запустить")
        drain(drivers["jobs"])

    def video(person: Any) -> None:
        person.send_photo(jpeg("orange"), caption="waves roll in")
        person.press_button("Оживить фото")
        person.press_button("Стандарт")
        person.press_button("Запустить")
        drain(drivers["jobs"])

    def chatter() -> Any:
        person = new_person()
        with unmetered():
            person.send("/ask")
            person.press("chat:trial")
        env.openai.reply_next(" ".join(f"word{n}" for n in range(args.answer_words)))
        return person

    def chat(person: Any) -> None:
        person.send("What is the tallest mountain in Europe?")
        drain(drivers["jobs"])

    def stars(person: Any) -> None:
        uid, payload = person.user_id, f"pack_s:20:100:{person.user_id}"
        pre = telegram_update("pre_checkout_query", user_id=uid)
        pre["pre_checkout_query"].update(invoice_payload=payload, total_amount=100, currency="XTR")
        person.webhook.deliver(pre)
        paid = telegram_update("message_successful_payment", user_id=uid)
        paid["message"]["successful_payment"].update(
            invoice_payload=payload, total_amount=100, telegram_payment_charge_id=f"stx{uuid.uuid4().hex}"
        )
        person.webhook.deliver(paid)

    def pending_yookassa() -> None:
        person = new_person()
        with unmetered():
            yookassa.save_receipt_contact(person.user_id, "bench@example.com")
            payment = yookassa.create_payment(
                settings,
                User.get(person.user_id),
                products(settings)[0],
                return_url="https://t.me/x",
                description="C",
            )
            env.yk.succeed(str(payment.provider_payment_id))
            payment.update(actions=[Payment.next_poll_at.set(0)])

    def due_users(kind: str) -> None:
        now, old = int(time.time()), int(time.time()) - 30 * DAY
        with unmetered(), User.batch_write() as batch:
            for _ in range(args.eligible):
                uid = next(_ids)
                if kind == "offers":
                    user = User(
                        uid, balance=0, generations=1, first_generation_at=now - 25 * 3600, created_at=old
                    )
                    user.offer_q, user.offer_at = DUE, now - 3600
                elif kind == "bonus_reminders":
                    user = User(uid, balance=3, created_at=now - DAY, bonus_q=DUE, bonus_at=now - 60)
                else:
                    user = User(uid, balance=5, created_at=old, subscription_until=now + 2 * DAY)
                    user.sub_q, user.sub_at = DUE, now - 60
                batch.save(user)

    def scheduled(task: str, function: str = "notify") -> Callable[[Any], Any]:
        return lambda _: metered(function, {"task": task})

    def one_broadcast(_: Any) -> None:
        item = broadcast.create(settings, "Bench <b>news</b>", created_by="bench")
        broadcast.start(settings, item.broadcast_id)
        drain(drivers["broadcasts"], limit=10_000)

    def broadcast_audience() -> None:
        with unmetered(), User.batch_write() as batch:
            for n in range(args.broadcast_users):
                batch.save(User(next(_ids), language="ru" if n % 3 else "en"))
        env.standin.clear_calls()

    def audited() -> None:
        """The checkpoint an hour without activity leaves: nothing written since (the scenarios
        above moved ledgers minutes ago, inside the audit's look-back lag)."""
        from genbot.ledger.audit import CHECKPOINT_KEY, LAG_MS
        from genbot.store.models import SettingItem, now_ms

        with unmetered():
            SettingItem(CHECKPOINT_KEY, value={"at": now_ms() + LAG_MS}, updated_at=now_ms()).save()

    known = new_person(credits=10)
    cabinet_user = new_person(credits=5)
    return [
        Scenario("/start, new user", lambda p: p.start(), lambda: new_person_fresh(), runs),
        Scenario("/start, known user (menu)", lambda p: p.start(), lambda: known, runs),
        Scenario(
            "generation: image", image, lambda: new_person(10), max(2, runs - 2), "image", gemini_requests
        ),
        Scenario("generation: edit", edit, lambda: new_person(10), max(2, runs - 2), "edit", gemini_requests),
        Scenario(
            "generation: video",
            video,
            lambda: new_person(30),
            max(2, runs - 2),
            "video_request",
            gemini_requests,
        ),
        Scenario("chat message", chat, chatter, runs, "chat", openai_requests),
        Scenario("payment: Stars", stars, lambda: new_person(), runs),
        Scenario(
            "payment: YooKassa (poll run settling 1)",
            scheduled("poll_payments", "payment_poll"),
            pending_yookassa,
            runs,
        ),
        Scenario("payment_poll, idle", scheduled("poll_payments", "payment_poll"), lambda: None, runs),
        Scenario("sweep_jobs, idle", scheduled("sweep_jobs", "generate"), lambda: None, runs),
        # hourly, nothing moved since the last run
        Scenario("ledger_audit, idle", scheduled("ledger_audit", "audit"), audited, runs),
        Scenario(f"offers, {args.eligible} due", scheduled("offers"), lambda: due_users("offers")),
        Scenario("offers, idle", scheduled("offers"), lambda: None, runs),
        Scenario(
            f"bonus_reminders, {args.eligible} due",
            scheduled("bonus_reminders"),
            lambda: due_users("bonus_reminders"),
        ),
        Scenario("bonus_reminders, idle", scheduled("bonus_reminders"), lambda: None, runs),
        Scenario(
            f"subscription_notices, {args.eligible} due",
            scheduled("subscription_notices"),
            lambda: due_users("subscription_notices"),
        ),
        Scenario("subscription_notices, idle", scheduled("subscription_notices"), lambda: None, runs),
        Scenario(
            "cabinet GET /me",
            lambda uid: metered("cabinet_api", cabinet_event("/me", uid)),
            lambda: cabinet_user.user_id,
            runs,
        ),
        Scenario(
            "cabinet GET /ledger",
            lambda uid: metered("cabinet_api", cabinet_event("/ledger", uid)),
            lambda: cabinet_user.user_id,
            runs,
        ),
        Scenario("broadcast", one_broadcast, broadcast_audience, 1, per=0),
    ]


def new_person_fresh() -> Any:
    from genbot_local.simulate import ChatUser

    assert ENV is not None
    return ChatUser(ENV.standin, next(_ids), "ru")


# ---------------------------------------------------------------------------------------------
# the deployed configuration
# ---------------------------------------------------------------------------------------------


# releases whose versions are kept: the live one and the previous (`genbot release prune --keep 2`)
RELEASES_KEPT = 2


def deployed() -> tuple[dict[str, int], dict[str, bool], dict[str, int], int]:
    """Memory (MB) and SnapStart per function, runs per month per schedule, alarms: from infra/."""
    from infra.specs import AppSpecs

    specs = AppSpecs.load().validate()
    layer = (ROOT / "infra/layer.py").read_text()
    assert "Architecture.ARM_64" in layer, "the cost model prices arm64 Lambda"
    memory = {name: fn.memory_mb for name, fn in specs.functions.items()}
    snapstart = {name: fn.snapstart for name, fn in specs.functions.items()}
    schedules = {name: runs_per_month(s.resolve({})[0]) for name, s in specs.schedules.items()}
    tree = ast.parse((ROOT / "infra/monitoring.py").read_text())
    sizes = {
        t.id: len(node.value.elts)
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    alarms = len(specs.queues) + len(specs.functions) + 1 + sizes["PAYMENT_ALARMS"] + sizes["JOB_ALARMS"]
    return memory, snapstart, schedules, alarms


def runs_per_month(expression: str) -> int:
    """rate(N minute(s)|hour(s)|day(s)) or cron(M/S H1-H2 * * ? *) as the specs write them."""
    if m := re.fullmatch(r"rate\((\d+) (minute|hour|day)s?\)", expression):
        unit = {"minute": 60, "hour": 3600, "day": DAY}[m[2]]
        return MONTH_SECONDS // (int(m[1]) * unit)
    if m := re.fullmatch(r"cron\((\d+)/(\d+) (\d+)-(\d+) \* \* \? \*\)", expression):
        per_hour = math.ceil((60 - int(m[1])) / int(m[2]))
        return per_hour * (int(m[4]) - int(m[3]) + 1) * 30
    raise ValueError(f"schedule expression not understood: {expression}")


# ---------------------------------------------------------------------------------------------
# pricing
# ---------------------------------------------------------------------------------------------


def seconds_estimate(usage: Usage, memory_mb: int) -> float:
    """CPU at the memory's share of a vCPU, plus waits for AWS, Telegram and the provider."""
    share = min(1.0, memory_mb / MB_PER_VCPU)
    waits = usage.aws_calls * WAITS["aws_call"] + usage.telegram * WAITS["telegram_call"]
    return usage.cpu / share + waits + usage.provider_wait


def cost(result: Result, memory: dict[str, int], region: str, *, estimate: bool) -> dict[str, float]:
    """USD by component for one run of the scenario."""
    p = {k: v.of(region) for k, v in PRICES.items()}
    parts: dict[str, float] = collections.defaultdict(float)
    for name, u in result.by_function.items():
        if name in memory:
            seconds = seconds_estimate(u, memory[name]) if estimate else u.cpu
            parts["lambda"] += (
                u.invocations * p["lambda_request"] + seconds * memory[name] / 1024 * p["lambda_gb_s_arm"]
            )
            parts["x-ray"] += u.invocations * p["xray_trace"]
            parts["logs"] += u.log_bytes / 1e9 * p["logs_ingest_gb"]
        if name in HTTP_FUNCTIONS:
            parts["api gateway"] += u.invocations * p["http_api_request"]
        parts["dynamodb"] += u.rru * p["ddb_rru"] + u.wru * p["ddb_wru"]
        parts["sqs"] += (u.sqs + u.poller_sqs) * p["sqs_request"]
        parts["s3"] += u.s3_put * p["s3_put"] + u.s3_get * p["s3_get"]
        parts["s3"] += u.s3_bytes / 1e9 * S3_KEEP_MONTHS * p["s3_gb_month"]
    return dict(parts)


def fmt_usd(value: float) -> str:
    return f"${value:,.4f}" if value < 10 else f"${value:,.2f}"


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


# ---------------------------------------------------------------------------------------------


MOTO = f"""
import sys, time
sys.path[:0] = [{str(ROOT / "layers/shared/python")!r}]
from genbot_local.aws import MotoServer
moto = MotoServer().start()
print(moto.endpoint, flush=True)
time.sleep(3600)
"""


def local_timezone_at(hour: int) -> str:
    """A zone where it is now about ``hour`` o'clock: the bonus reminders' "after 11:00" holds."""
    offset = (hour - time.gmtime().tm_hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return f"Etc/GMT{-offset:+d}" if offset else "UTC"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5, help="runs per cheap scenario (median CPU)")
    parser.add_argument("--eligible", type=int, default=20, help="users due per notify run")
    parser.add_argument("--broadcast-users", type=int, default=150)
    parser.add_argument("--answer-words", type=int, default=120, help="words in each chat answer")
    args = parser.parse_args()
    started = time.monotonic()

    child = subprocess.Popen(
        [sys.executable, "-c", MOTO], stdout=subprocess.PIPE, text=True, env={**os.environ}
    )
    try:
        assert child.stdout is not None
        endpoint = child.stdout.readline().strip()
        results, memory, extra = run(args, endpoint)
    finally:
        child.kill()
    report(args, results, memory, extra, time.monotonic() - started)


def run(args: argparse.Namespace, endpoint: str) -> tuple[list[Result], dict[str, int], dict[str, Any]]:
    global ENV
    import boto3

    import genbot_local.simulate as simulate
    from genbot_local.ai_standins import GeminiStandIn, OpenAIStandIn
    from genbot_local.aws import bootstrap
    from genbot_local.botapi import BotApiStandIn
    from genbot_local.simulate import BOT_TOKEN, WEBHOOK_SECRET
    from genbot_local.yookassa_standin import YooKassaStandIn

    standin = BotApiStandIn(token=BOT_TOKEN, bot_username="genbot_local_bot").start()
    gemini = GeminiStandIn(keys=("gk-bench",), video_polls=2).start()
    openai = OpenAIStandIn(keys=("sk-bench",), stream_delay=0.002, chunk_tokens=3).start()
    yk = YooKassaStandIn(shop_id="100500", secret_key="bench-secret").start()
    os.environ.update(
        {
            "TELEGRAM_API_URL": standin.base_url,
            "BOT_TOKEN": BOT_TOKEN,
            "WEBHOOK_SECRET": WEBHOOK_SECRET,
            "AWS_ENDPOINT_URL": endpoint,
            "GEMINI_API_KEYS": "gk-bench",
            "GEMINI_BASE_URL": gemini.base_url,
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_BASE_URL": openai.base_url,
            "YOOKASSA_SHOP_ID": "100500",
            "YOOKASSA_SECRET_KEY": "bench-secret",
            "YOOKASSA_API_URL": yk.base_url,
            "BROADCAST_RATE": "30",
            "TIMEZONE": local_timezone_at(15),
        }
    )
    env = bootstrap(prefix="genbot", endpoint=endpoint)
    os.environ.update(env)
    from genbot.config import get_settings
    from genbot.resources import QUEUES
    from genbot_local.sqs_driver import SqsDriver

    get_settings.cache_clear()
    memory, snapstart, schedules, alarms = deployed()
    ENV = Env(standin, gemini, openai, yk, get_settings())
    simulate.invoke = metered  # Webhook.deliver (ChatUser) invokes through the meter
    STATE.poller = boto3.client("sqs")
    drivers = {
        name: SqsDriver.for_queue(
            spec, env[spec.env_var], metered_for(spec.consumer), client=STATE.poller, wait_seconds=0
        )
        for name, spec in QUEUES.items()
    }
    TAP.capturing = True  # the functions' logs are measured per invocation, never shown
    warm = new_person(credits=5)  # every function imported once: warm instances, as measured
    for name in ("payment_poll", "notify", "generate"):
        with unmetered():
            metered(name, {"task": {"notify": "offers", "generate": "sweep_jobs"}.get(name, "poll_payments")})
    with unmetered():
        metered("cabinet_api", cabinet_event("/me", warm.user_id))
    todo = scenarios(args, drivers)
    for scenario in todo:  # one unmetered run of each generation: the lazy imports are done
        if scenario.provider:
            scenario.action(scenario.setup())
    results = [measure(s) for s in todo]
    broadcast_result = results[-1]
    broadcast_result.per = sum(1 for c in standin.calls if c.method.lower() == "sendmessage" and c.ok) or 1
    from genbot import runtime

    runtime.forget_bot()
    for server in (standin, gemini, openai, yk):
        server.stop()
    TAP.take()
    TAP.capturing = False
    extra = {
        "snapstart": snapstart,
        "schedules": schedules,
        "alarms": alarms,
        "metrics": sorted(STATE.metrics),
    }
    return results, memory, extra


def metered_for(function: str) -> Callable[[dict[str, Any]], Any]:
    return lambda event: metered(function, event)


# ---------------------------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------------------------

# the webhook updates of 1M: (scenario, share, updates in one run of it)
MIX = (
    ("/start, new user", 0.05, 1),
    ("/start, known user (menu)", 0.45, 1),
    ("generation: image", 0.30, 5),  # the five updates from the menu to "start"
    ("chat message", 0.15, 1),
    ("payment: Stars", 0.05, 2),  # pre_checkout_query + successful_payment
)


def webhook_only(result: Result) -> Result:
    return Result(
        result.label, {k: v for k, v in result.by_function.items() if k == "webhook"}, [], result.per
    )


def priced(
    label: str, parts: list[tuple[Result, float]], memory: dict[str, int], region: str, note: str = ""
) -> tuple[str, ...]:
    """One row: the lower bound, the estimate and its largest parts, for ``sum(weight * run)``."""
    low = sum(sum(cost(r, memory, region, estimate=False).values()) * k for r, k in parts)
    est_parts: dict[str, float] = collections.defaultdict(float)
    for r, k in parts:
        for part, value in cost(r, memory, region, estimate=True).items():
            est_parts[part] += value * k
    est = sum(est_parts.values())
    top = ", ".join(
        f"{p} {v / est:.0%}"
        for p, v in sorted(est_parts.items(), key=lambda kv: -kv[1])[:3]
        if est and v / est >= 0.05
    )
    return (label, fmt_usd(low), fmt_usd(est), top, note)


def priced_rows(
    args: argparse.Namespace, by_label: dict[str, Result], memory: dict[str, int], region: str
) -> list[tuple[str, ...]]:
    def row(label: str, parts: list[tuple[Result, float]], note: str = "") -> tuple[str, ...]:
        return priced(label, parts, memory, region, note)

    mix = [(webhook_only(by_label[name]), 1e6 * share / updates) for name, share, updates in MIX]
    rows = [row("per 1M updates (webhook, mix below)", mix)]
    for mode in ("image", "edit", "video"):
        rows.append(
            row(f"per 1,000 generations: {mode}", [(by_label[f"generation: {mode}"], 1000)], "webhook+worker")
        )
    rows.append(row("per 1,000 chat messages", [(by_label["chat message"], 1000)], "webhook + worker"))
    rows.append(row("per 1,000 Stars payments", [(by_label["payment: Stars"], 1000)]))
    settle, idle = by_label["payment: YooKassa (poll run settling 1)"], by_label["payment_poll, idle"]
    rows.append(
        row("per 1,000 YooKassa payments (poll)", [(settle, 1000), (idle, -1000)], "minus an idle run")
    )
    b = by_label["broadcast"]
    rows.append(row("per broadcast of 10,000 messages", [(b, 10_000 / b.per)], f"measured {b.per} messages"))
    for name in ("cabinet GET /me", "cabinet GET /ledger"):
        rows.append(row(f"per 1,000 {name}", [(by_label[name], 1000)]))
    for task in ("offers", "bonus_reminders", "subscription_notices"):
        due, none = by_label[f"{task}, {args.eligible} due"], by_label[f"{task}, idle"]
        k = 1000 / args.eligible
        rows.append(row(f"per 1,000 {task} sent", [(due, k), (none, -k)], "minus an idle run"))
    return rows


def report(
    args: argparse.Namespace,
    results: list[Result],
    memory: dict[str, int],
    extra: dict[str, Any],
    elapsed: float,
) -> None:
    by_label = {r.label: r for r in results}
    print(f"genbot cost model: {len(results)} scenarios measured in {elapsed:.0f} s (this machine)")
    snap = [k for k, v in extra["snapstart"].items() if v]
    print(f"memory (MB) from infra.specs: {memory}; arm64; SnapStart: {snap}")
    print()
    print("1. What each kind of work does (per run; CPU = median thread CPU over runs, ms)")
    rows: list[tuple[str, ...]] = []
    for r in results:
        for name, u in sorted(r.by_function.items()):
            if not (u.invocations or u.aws_calls or u.poller_sqs):
                continue
            seconds = seconds_estimate(u, memory[name]) if name in memory else 0.0
            calls = " ".join(f"{k.split(':')[1]}x{v}" for k, v in sorted(u.calls.items()))
            rows.append(
                (
                    r.label,
                    name,
                    str(u.invocations),
                    f"{u.rru:g}/{u.wru:g}",
                    f"{u.sqs + u.poller_sqs:g}",
                    f"{u.s3_put}/{u.s3_get}",
                    f"{u.telegram}+{u.in_reply}",
                    f"{u.cpu * 1000:.0f}/{u.process_cpu * 1000:.0f}/{u.wall * 1000:.0f}",
                    f"{seconds:.2f}",
                    str(u.log_bytes),
                    calls or "-",
                )
            )
    table(
        (
            "scenario",
            "function",
            "inv",
            "RRU/WRU",
            "SQS",
            "S3 P/G",
            "TG+reply",
            "cpu/proc/wall ms",
            "est s",
            "log B",
            "AWS calls",
        ),
        rows,
    )
    print("   TG+reply: Bot API calls the function made + the reply carried in its HTTP response.")
    print("   SQS includes the event source's receive+delete (2 per message); '-': outside any invocation")
    print("   (the event source's polls; a broadcast's create/start, which an admin's request does).")
    print("   cpu: the invoking thread; proc: process_time (adds the in-process stand-ins); wall: local.")
    waits = ", ".join(f"{k} {v:g} s" for k, v in WAITS.items())
    print(f"   est s: billed duration estimate = cpu / min(1, MB / {MB_PER_VCPU}) + waits ({waits}).")
    print()
    for region in REGIONS:
        print(f"2. AWS cost, {region} (USD; lower bound: CPU only; estimate: CPU at the vCPU share + waits)")
        rows = priced_rows(args, by_label, memory, region)
        table(("work", "lower", "estimate", "largest parts of the estimate", "note"), rows)
        print()
        fixed(region, by_label, memory, extra)
        print()
    print(
        "   mix of 1M updates: "
        + ", ".join(f"{share:.0%} {name}" for name, share, _ in MIX)
        + " (a generation's 5 menu-to-start updates, Stars' 2; workers priced per 1,000 above)"
    )
    print()
    print("3. Provider prices (separate from AWS), for the default catalog's standard tier")
    settings = ENV.settings if ENV else None
    rows = []  # reused: tuple[str, ...]
    for mode, (model, price, source) in PROVIDERS.items():
        if price is None and settings is not None:
            price = (1500 * settings.chat_price_in + 300 * settings.chat_price_out) / 1e6
        rows.append((mode, model, f"${(price or 0) * 1000:,.2f} per 1,000", source))
    table(("mode", "model", "price", "source"), rows)
    print()
    names = sorted({m for _, m, _ in extra["metrics"]})
    print(f"custom metrics seen: {len(extra['metrics'])} (name, dimensions): {', '.join(names)}")
    print()
    print("4. An always-on VM running a polling bot instead (monthly, USD; storage and providers extra)")
    table(("VM", "USD/month", "source"), [(name, fmt_usd(usd), src) for name, usd, src in VMS])


def fixed(region: str, by_label: dict[str, Result], memory: dict[str, int], extra: dict[str, Any]) -> None:
    """The month's fixed cost: idle schedule runs, SnapStart caches, idle pollers, alarms, metrics.

    "after free tiers" assumes the month's other usage leaves the always-free allowances (``FREE``)
    to these: Lambda, Scheduler, X-Ray and log ingestion of the idle runs are then free.
    """
    from genbot.resources import QUEUES

    p = {k: v.of(region) for k, v in PRICES.items()}
    rows: list[tuple[str, ...]] = []
    gross = net = 0.0

    def item(label: str, volume: str, usd: float, after_free: float) -> None:
        nonlocal gross, net
        rows.append((label, volume, fmt_usd(usd), fmt_usd(after_free)))
        gross, net = gross + usd, net + after_free

    for schedule, per_month in extra["schedules"].items():
        task = {"poll_payments": "payment_poll", "sweep_jobs": "sweep_jobs"}.get(schedule, schedule)
        parts = cost(by_label[f"{task}, idle"], memory, region, estimate=True)
        each = sum(parts.values()) + p["scheduler_invocation"]
        item(
            f"schedule {schedule} (idle)",
            f"{per_month:,} runs",
            each * per_month,
            parts["dynamodb"] * per_month,
        )
    # every published SnapStart version is cached and billed; `genbot release prune` keeps the
    # live release and the one before it (what `genbot release rollback` goes back to)
    snap = sum(memory[n] / 1024 for n, on in extra["snapstart"].items() if on) * MONTH_SECONDS * RELEASES_KEPT
    cache = snap * p["snapstart_cache_gb_s"]
    item(f"SnapStart snapshot cache ({RELEASES_KEPT} versions each)", f"{snap:,.0f} GB-s", cache, cache)
    sources = len(QUEUES) + sum(1 for q in QUEUES.values() if q.dlq_consumer)
    esm = sources * ESM_POLLERS * MONTH_SECONDS // 20  # empty 20 s long polls while idle
    after = max(0, esm - FREE["sqs_requests"]) * p["sqs_request"]
    item(
        f"idle SQS event sources ({sources}, empty receives)",
        f"{esm:,} requests",
        esm * p["sqs_request"],
        after,
    )
    alarms, metrics = extra["alarms"], len(extra["metrics"])
    paid_alarms = max(0, alarms - FREE["alarms"]) * p["alarm_month"]
    item("CloudWatch alarms", f"{alarms}", alarms * p["alarm_month"], paid_alarms)
    paid_metrics = max(0, metrics - FREE["custom_metrics"]) * p["custom_metric_month"]
    item(
        "custom metrics (EMF), each emitted every hour",
        f"{metrics}",
        metrics * p["custom_metric_month"],
        paid_metrics,
    )
    item("app secret (Secrets Manager)", "1", p["secret_month"], p["secret_month"])
    rows.append(("fixed monthly total", "", fmt_usd(gross), fmt_usd(net)))
    table((f"fixed per month, {region}", "volume", "USD", "after free tiers"), rows)
    restore = memory["webhook"] / 1024 * p["snapstart_restore_gb"] * 1000
    print(f"   not included: SnapStart restores, {fmt_usd(restore)} per 1,000 cold starts of the webhook.")


if __name__ == "__main__":
    main()
