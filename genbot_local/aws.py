"""The AWS side of the local stack: a moto server and the app's resources on it.

``bootstrap()`` creates every table, queue and bucket from the same specs the CDK app
reads (``genbot.store.tables``, ``genbot.resources``) on whatever endpoint
``AWS_ENDPOINT_URL`` names, and returns the environment the functions need.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3

from genbot.resources import BUCKETS, QUEUES, visibility_timeout_seconds
from genbot.store.tables import table_specs

_SERIALISED = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
_lock = threading.RLock()
_patched = False


def make_moto_dynamodb_atomic() -> None:
    """Serialise moto's DynamoDB writes.

    moto's threaded server runs requests concurrently but its DynamoDB backend checks
    conditions and writes without a lock, so two racing conditional writes can both pass.
    Real DynamoDB evaluates a condition and writes atomically; the ledger's exactly-once
    guarantee depends on that, so the emulator must too.
    """
    global _patched
    if _patched:
        return
    from moto.dynamodb.models import DynamoDBBackend

    def locked(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _lock:
                return fn(*args, **kwargs)

        return wrapper

    for name in _SERIALISED:
        setattr(DynamoDBBackend, name, locked(getattr(DynamoDBBackend, name)))
    _honour_client_request_tokens()
    _stop_tracking_dynamodb_instances()
    _patched = True


_TOKEN_WINDOW_SECONDS = 600  # DynamoDB: "valid for 10 minutes after the first request"
_tokens: dict[str, tuple[float, Any]] = {}


def _honour_client_request_tokens() -> None:
    """``TransactWriteItems`` with a ``ClientRequestToken`` already applied answers as it did,
    without applying it again, as DynamoDB does for 10 minutes (moto ignores the token).

    botocore fills the token once per call, so its resend of a transaction whose answer was
    lost (a read timeout on a loaded machine) must be a no-op; in moto it failed its own
    conditions, which made a user's successful bonus claim answer "already claimed" in a
    test run on a busy machine. Only successes are remembered (a refused transaction sent
    again is evaluated again, and refused again unless something changed)."""
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.transact_write_items

    @functools.wraps(original)
    def transact_write_items(self: Any) -> Any:
        token = self.body.get("ClientRequestToken")
        if not token:
            return original(self)
        with _lock:  # the backend's write takes it too (re-entrant): one transaction at a time
            now = time.monotonic()
            for old in [t for t, (at, _) in _tokens.items() if now - at > _TOKEN_WINDOW_SECONDS]:
                del _tokens[old]
            if token in _tokens:
                return _tokens[token][1]
            result = original(self)
            _tokens[token] = (now, result)
            return result

    DynamoHandler.transact_write_items = transact_write_items  # type: ignore[method-assign]


class _Untracked(list[Any]):
    """A model's ``instances_tracked`` that keeps nothing."""

    def append(self, item: Any) -> None:
        pass


def _stop_tracking_dynamodb_instances() -> None:
    """moto appends every model object it creates to its class's ``instances_tracked`` (for its
    ``/moto-api/data.json`` view) and never drops one: every DynamoDB item ever written (each
    update builds a new ``Item``), and a deep copy of every table a transaction touches (its
    rollback copy). Found by the load bench: ~4.7 MB per simulated user, 7 GB at 1,000 users and
    DynamoDB answers slowing past the SDK's read timeout. Nothing here reads those lists."""
    import moto.dynamodb.models as models

    for module in (models, models.table, models.dynamo_type):
        for value in vars(module).values():
            if isinstance(value, type) and isinstance(getattr(value, "instances_tracked", None), list):
                value.instances_tracked = _Untracked()  # type: ignore[attr-defined]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """moto in a background thread on loopback, with atomic DynamoDB writes."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._server: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> MotoServer:
        from moto.server import ThreadedMotoServer

        make_moto_dynamodb_atomic()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


def bootstrap(
    prefix: str = "genbot-local", endpoint: str | None = None, *, region: str | None = None
) -> dict[str, str]:
    """Create (or reuse) every table, queue and bucket; return ``NAME=value`` environment.

    ``region`` defaults to the functions' own (``genbot.config.get_settings().aws_region``:
    AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1), so the resources are where the
    functions look for them. Idempotent: existing resources are left as they are, so
    ``genbot dev`` can be restarted against a running moto server.
    """
    kwargs: dict[str, Any] = {"endpoint_url": endpoint} if endpoint else {}
    if region is None:
        from genbot.config import get_settings

        region = get_settings().aws_region
    session = boto3.session.Session(region_name=region)
    env: dict[str, str] = {}

    ddb = session.client("dynamodb", **kwargs)
    existing = set(ddb.list_tables()["TableNames"])
    for spec in table_specs():
        name = f"{prefix}-{spec.name}"
        if name not in existing:
            ddb.create_table(**spec.create_table_kwargs(name))
            if spec.ttl_attribute:
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
                )
        env[spec.env_var] = name

    sqs = session.client("sqs", **kwargs)
    for queue in QUEUES.values():
        dlq_url = sqs.create_queue(QueueName=f"{prefix}-{queue.name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        url = sqs.create_queue(
            QueueName=f"{prefix}-{queue.name}",
            Attributes={
                "VisibilityTimeout": str(visibility_timeout_seconds(queue)),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(queue.max_receive_count)}
                ),
            },
        )["QueueUrl"]
        env[queue.env_var] = url
        if queue.dlq_arn_env_var:
            env[queue.dlq_arn_env_var] = dlq_arn

    s3 = session.client("s3", **kwargs)
    for bucket in BUCKETS.values():
        name = f"{prefix}-{bucket.name}"
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            if region == "us-east-1":
                s3.create_bucket(Bucket=name)
            else:  # S3 wants the region spelled out anywhere but us-east-1 (and refuses it there)
                s3.create_bucket(
                    Bucket=name,
                    CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
                )
        env[bucket.env_var] = name
    return env
