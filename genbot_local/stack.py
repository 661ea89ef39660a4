"""``genbot dev``: the whole bot on this machine, driven the way AWS drives it.

What runs (all in this process, in threads):

- a moto server (``--moto-port``, 4566) with every table, queue and bucket ``bootstrap()``
  creates from the app's own specs (or an endpoint you already run: ``--aws-endpoint``);
- Telegram: without ``BOT_TOKEN``, the Bot API stand-in with its web chat on ``--port``
  (8080); with it, the real Telegram. Either way updates come by ``getUpdates`` long
  polling and go to the ``webhook`` function as API Gateway HTTP API events;
- one ``SqsDriver`` per queue and per dead-letter queue with a consumer (Lambda's SQS event
  source mapping), one ``Scheduler`` for ``SCHEDULES`` (EventBridge Scheduler; the bonus
  reminder's cron in the functions' ``TIMEZONE``, as deployed);
- the HTTP API front door (``--api-port``, 8081) for every HTTP route of every function,
  plus ``/local/...`` controls (``POST /local/schedules/<name>`` fires a schedule now);
- YooKassa: without ``YOOKASSA_SHOP_ID``/``YOOKASSA_SECRET_KEY``, the YooKassa stand-in
  (``genbot_local.yookassa_standin``) with local shop credentials: ``YOOKASSA_API_URL`` points
  at it, its checkout page is where a ruble payment is paid or canceled, and its notifications
  go to the front door's ``/yookassa/notifications`` (accepted from this machine's address
  here only: in AWS only YooKassa's ranges are).

Each function is one warm instance (``genbot_local.invoke``): its module is imported once and
its invocations run one at a time on the function's own thread, like a single Lambda execution
environment; what that thread keeps (aiogram's Bot and its aiohttp session, the event loop)
is closed there on stop. Every invocation prints one line; the functions' own JSON logs are at
``LOG_LEVEL=WARNING`` and their metrics off unless ``--verbose``.

One AWS region for everything: the functions' (``genbot.config.Settings.aws_region``: AWS_REGION,
then AWS_DEFAULT_REGION, default us-east-1) is where bootstrap creates the resources, what the
stack's own clients use and what both variables are set to; a start-up check reads the users
table the way the functions will before the banner says the stack is up.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import queue
import secrets
import shutil
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO, cast

LOCAL_BOT_TOKEN = "7000000001:LOCAL-genbot-stand-in-token"  # noqa: S105 (the stand-in's, public)
LOCAL_BOT_USERNAME = "genbot_local_bot"
LOCAL_YOOKASSA_SHOP_ID = "100500"
LOCAL_YOOKASSA_SECRET_KEY = "local_standin_secret"  # noqa: S105 (the stand-in's, public)
YOOKASSA_NOTIFICATIONS_PATH = "/yookassa/notifications"
CABINET_PREFIX = "/app/"  # the cabinet (site/) on the front door
WEBAPP_STUB = Path(__file__).parent / "webapp_stub.js"  # telegram-web-app.js, locally
REAL_TELEGRAM = "https://api.telegram.org"
DEFAULT_PREFIX = "genbot-local"
EXIT_USAGE = 2

log = logging.getLogger("genbot-local")


class StackError(RuntimeError):
    """A problem the user can fix; the message says how. ``genbot dev`` exits with 2."""

    exit_code = EXIT_USAGE


class PortInUseError(StackError):
    pass


class MissingDependencyError(StackError):
    pass


@dataclass
class StackConfig:
    host: str = "127.0.0.1"
    port: int = 8080  # Bot API stand-in and its web chat
    api_port: int | None = 8081  # the HTTP API front door (0: any free port, None: none)
    moto_port: int = 4566
    aws_endpoint: str | None = None  # use this endpoint instead of starting moto
    prefix: str = DEFAULT_PREFIX
    fast_schedules: bool = False
    fast_interval: float = 5.0
    sqs_wait_seconds: int = 20  # Lambda's event source long-polls 20 s
    poll_timeout: int = 25  # getUpdates long polling
    verbose: bool = False
    fake_providers: str = "auto"  # the offline fake: auto (only without real keys) | on | off
    bot_token: str | None = None  # None: the local stand-in
    telegram_api_url: str | None = None
    webhook_secret: str | None = None
    env_file: Path | None = None
    schedules: Mapping[str, Any] | None = None  # default: genbot.resources.SCHEDULES
    extra_env: dict[str, str] = field(default_factory=dict)
    # function name -> handler(event, context), in place of functions/<name>/handler.py
    handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> StackConfig:
        from genbot_local.invoke import ROOT

        env_file = getattr(args, "env_file", None)
        return cls(
            host=getattr(args, "host", "127.0.0.1"),
            port=int(getattr(args, "port", 8080)),
            api_port=int(getattr(args, "api_port", 8081)),
            moto_port=int(getattr(args, "moto_port", 4566)),
            aws_endpoint=getattr(args, "aws_endpoint", None),
            prefix=getattr(args, "prefix", DEFAULT_PREFIX),
            fast_schedules=bool(getattr(args, "fast_schedules", False)),
            verbose=bool(getattr(args, "verbose", False)),
            bot_token=environ.get("BOT_TOKEN") or None,
            telegram_api_url=environ.get("TELEGRAM_API_URL") or None,
            webhook_secret=environ.get("WEBHOOK_SECRET") or None,
            env_file=Path(env_file) if env_file else ROOT / ".local" / "env",
        )


LOCAL_CHAT_KEY = "sk-local-assistant"  # the OpenAI stand-in's key for the assistant (not a secret)

# --fast-schedules: the offer 36 s after a first generation empties the balance; the bonus
# reminder a minute after registration, at any hour
FAST_NOTICES = {"OFFER_DELAY_HOURS": "0.01", "BONUS_REMINDER_HOUR": "0", "BONUS_REMINDER_DELAY_MINUTES": "1"}


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``genbot dev`` flags (``genbot.cli`` may call this for its ``dev`` subcommand)."""
    parser.add_argument("--port", type=int, default=8080, help="web chat / Bot API stand-in port (8080)")
    parser.add_argument("--api-port", type=int, default=8081, help="HTTP API front door port (8081)")
    parser.add_argument("--moto-port", type=int, default=4566, help="moto server port (4566)")
    parser.add_argument("--aws-endpoint", help="use this running moto/AWS endpoint instead of starting moto")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (127.0.0.1)")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="resource name prefix (genbot-local)")
    parser.add_argument("--fast-schedules", action="store_true", help="tick schedules every few seconds")
    parser.add_argument("--verbose", action="store_true", help="show the functions' own (JSON) logs")
    parser.add_argument("--env-file", help="where to write the env for genbot audit/state (.local/env)")
    return parser


def port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class PortNeed:
    """A port the stack will listen on, and how the user picks another."""

    port: int
    what: str
    flag: str
    extra: str = ""


def require_ports(host: str, needs: list[PortNeed]) -> None:
    """Check every port before anything starts; one error names all the busy ones."""
    busy = [need for need in needs if need.port and not port_free(host, need.port)]
    if not busy:
        return
    if len(busy) == 1:
        (need,) = busy
        raise PortInUseError(
            f"port {need.port} on {host} ({need.what}) is already in use.\n"
            f"  Stop whatever holds it (`lsof -i :{need.port}` or `ss -ltnp | grep {need.port}` shows it), "
            f"or choose another port: genbot dev {need.flag} <port>{need.extra}"
        )
    numbers = [str(need.port) for need in busy]
    lines = [
        f"ports {', '.join(numbers[:-1])} and {numbers[-1]} on {host} are already in use"
        + (" (another `genbot dev` running?)." if len(busy) == len(needs) else "."),
        f"  Stop whatever holds them (`ss -ltnp | grep -E ':({'|'.join(numbers)}) '` shows it), "
        "or choose other ports:",
    ]
    lines += [
        f"    port {need.port} ({need.what}): genbot dev {need.flag} <port>{need.extra}" for need in busy
    ]
    raise PortInUseError("\n".join(lines))


def require_port(host: str, port: int, what: str, flag: str, extra: str = "") -> None:
    require_ports(host, [PortNeed(port, what, flag, extra)])


def require_module(module: str, what: str) -> None:
    try:
        __import__(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{what} is not installed ({exc}).\n"
            "  Run ./scripts/dev: it installs uv and syncs the locked dependencies (uv sync --frozen)."
        ) from exc


class _Captured(logging.Handler):
    """Warnings and errors the functions log during an invocation, per thread."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.local = threading.local()

    def begin(self) -> None:
        self.local.records = []

    def end(self) -> list[logging.LogRecord]:
        records: list[logging.LogRecord] = getattr(self.local, "records", None) or []
        self.local.records = None
        return records

    def emit(self, record: logging.LogRecord) -> None:
        records = getattr(self.local, "records", None)
        if records is not None and len(records) < 20:
            records.append(record)

    def extend(self, records: list[logging.LogRecord]) -> None:
        """Records captured on a function's thread, for the invocation begun on this one."""
        mine = getattr(self.local, "records", None)
        if mine is not None:
            mine.extend(records[: max(0, 20 - len(mine))])


def _summary(records: list[logging.LogRecord]) -> str:
    """The most telling warning of an invocation, for its log line."""
    if not records:
        return ""
    worst = max(records, key=lambda r: r.levelno)
    text = worst.getMessage()
    for key in ("reason", "error", "answer", "errors"):
        value = getattr(worst, key, None)
        if value:
            text += f" ({key}: {str(value)[:160]})"
            break
    if worst.exc_info and worst.exc_info[1] is not None:
        exc = worst.exc_info[1]
        text += f" [{type(exc).__name__}: {str(exc)[:120]}]"
    more = len(records) - 1
    return text + (f" (+{more} more)" if more > 0 else "")


class StackStoppingError(RuntimeError):
    """An invocation asked for after the function's instance was shut down."""


@dataclass
class _Outcome:
    result: Any = None
    error: BaseException | None = None
    records: list[logging.LogRecord] = field(default_factory=list)


class FunctionInstance:
    """One function's execution environment: a thread that runs its invocations one at a time.

    Whatever the function keeps per thread between invocations (``genbot.runtime``'s event
    loop and aiogram Bot with its aiohttp session, the worker's provider router) lives on
    this one thread, as in a warm Lambda instance, instead of on every thread that happens
    to call it (the poller, each SQS driver, the scheduler, every front door request). On
    ``close()`` the thread closes them itself: sessions and loops end where they were made.
    """

    _CLOSE = object()

    def __init__(self, name: str) -> None:
        self.name = name
        self._queue: queue.Queue[Any] = queue.Queue()
        self._guard = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name=f"function-{name}", daemon=True)
        self._thread.start()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn()`` on this instance's thread; its result, or its exception raised here."""
        done = threading.Event()
        box: dict[str, Any] = {}
        with self._guard:
            if self._closed:
                raise StackStoppingError(f"{self.name}: the local stack is stopping")
            self._queue.put((fn, done, box))
        done.wait()
        if "error" in box:
            raise box["error"]
        return box.get("result")

    def close(self, timeout: float = 10.0) -> None:
        """Close what the thread holds (on that thread), then end it; safe to call twice."""
        with self._guard:
            if self._closed:
                return
            self._closed = True
            self._queue.put(self._CLOSE)
        self._thread.join(timeout)

    def _serve(self) -> None:
        while True:
            item = self._queue.get()
            if item is self._CLOSE:
                with contextlib.suppress(Exception):
                    close_thread_state()
                return
            fn, done, box = item
            try:
                box["result"] = fn()
            except BaseException as exc:
                box["error"] = exc
            finally:
                done.set()


def close_thread_state() -> None:
    """Close what genbot keeps on the calling thread: provider sessions, the Bot's, the loop.

    ``genbot.runtime`` holds one event loop and one aiogram Bot per thread; the jobs worker a
    provider router per thread (Gemini keeps an aiohttp session). Left open they are only
    garbage-collected, and aiohttp then prints "Unclosed client session".
    """
    runtime = sys.modules.get("genbot.runtime")
    state = getattr(runtime, "_local", None)
    loop = getattr(state, "loop", None)
    if state is None or loop is None or loop.is_closed():
        return
    worker = sys.modules.get("genbot.jobs.worker")
    router = getattr(getattr(worker, "_local", None), "router", None)
    bot = getattr(state, "bot", None)
    try:
        if router is not None:
            with contextlib.suppress(Exception):
                loop.run_until_complete(router.aclose())
            del worker._local.router  # type: ignore[union-attr]
        if bot is not None:
            loop.run_until_complete(bot.session.close())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
        state.__dict__.clear()


def _forget_unflushed_metrics() -> None:
    """With metrics off, Powertools' flush neither prints nor clears them (see ``_quiet_metrics``)."""
    observability = sys.modules.get("genbot.observability")
    metrics = getattr(observability, "metrics", None)
    if metrics is None:
        return
    try:
        from aws_lambda_powertools.metrics.functions import is_metrics_disabled
    except ImportError:  # pragma: no cover (older Powertools)
        disabled = os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() in ("1", "true", "yes", "on")
    else:
        disabled = is_metrics_disabled()
    if disabled:
        metrics.clear_metrics()


class InvocationLog:
    """One readable line per invocation: time, function, event, id, duration, outcome."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def __call__(
        self,
        *,
        function: str,
        event_type: str,
        ident: str = "",
        duration_ms: float = 0.0,
        outcome: str = "ok",
        error: BaseException | None = None,
        detail: str = "",
    ) -> None:
        if error is not None:
            outcome = f"error {type(error).__name__}: {str(error)[:200]}"
        stamp = datetime.now().strftime("%H:%M:%S.%f")[:-3]
        line = f"{stamp}  {function:<10} {event_type:<24} {ident:<28} {duration_ms:>7.0f} ms  {outcome}"
        if detail:
            line += f"  — {detail}"
        with self._lock:
            self.lines.append(line)
            del self.lines[:-1000]
            if self.out is not None:
                self.out.write(line + "\n")
                self.out.flush()

    def message(self, text: str) -> None:
        with self._lock:
            self.lines.append(text)
            if self.out is not None:
                self.out.write(text + "\n")
                self.out.flush()


class LocalStack:
    """Everything ``genbot dev`` runs; ``start()`` / ``stop()``; usable in-process by tests."""

    def __init__(self, config: StackConfig | None = None, out: TextIO | None = None) -> None:
        self.config = config or StackConfig()
        self.out = out
        self.log = InvocationLog(out)
        self.env: dict[str, str] = {}
        self.moto: Any = None
        self.standin: Any = None
        self.yookassa: Any = None  # the YooKassa stand-in, when no YooKassa keys are set
        self.assistant: Any = None  # the OpenAI stand-in for the assistant, when no key is set
        self.poller: Any = None
        self.drivers: list[Any] = []
        self.scheduler: Any = None
        self.front_door: Any = None
        self.bot: dict[str, Any] = {}
        self.telegram_api_url = ""
        self.bot_token = ""
        self.webhook_secret = ""
        self.region = ""
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._instances: dict[str, FunctionInstance] = {}
        self._metrics_filter: tuple[Any, ...] | None = None
        self._captured = _Captured()
        self._saved_env: dict[str, str | None] = {}
        self._capture_from: set[str] = set()
        self._stopped = threading.Event()
        self._started = False
        self._own_handlers: list[str] = []

    # -- environment ------------------------------------------------------------------------

    def _setenv(self, name: str, value: str, *, default: bool = False) -> None:
        if default and os.environ.get(name):
            return
        if name not in self._saved_env:
            self._saved_env[name] = os.environ.get(name)
        os.environ[name] = value

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
        self._refresh_settings()

    @staticmethod
    def _refresh_settings() -> None:
        from genbot.config import get_settings
        from genbot.store import settings

        get_settings.cache_clear()
        settings.clear_cache()  # cached settings items (prices, catalog) read before the tables existed
        transaction = sys.modules.get("genbot.store.transaction")
        connection = getattr(transaction, "connection", None)
        if connection is not None and hasattr(connection, "cache_clear"):
            connection.cache_clear()  # a process-wide Connection made with the region of its time

    # -- invocations ------------------------------------------------------------------------

    def _lock_for(self, function: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(function, threading.Lock())

    def _instance_for(self, function: str) -> FunctionInstance:
        with self._locks_guard:
            instance = self._instances.get(function)
            if instance is None:
                if self._stopped.is_set():
                    raise StackStoppingError(f"{function}: the local stack is stopping")
                instance = self._instances[function] = FunctionInstance(function)
            return instance

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """One invocation of a function's warm instance (serialised per function, on its thread).

        The warnings and errors it logs are handed to the calling thread's invocation log line.
        """
        with self._lock_for(function):
            outcome: _Outcome = self._instance_for(function).call(lambda: self._invoke_here(function, event))
        self._captured.extend(outcome.records)
        if outcome.error is not None:
            raise outcome.error
        return outcome.result

    def _invoke_here(self, function: str, event: dict[str, Any]) -> _Outcome:
        from genbot_local.invoke import LocalContext, invoke

        outcome = _Outcome()
        self._captured.begin()
        try:
            handler = self.config.handlers.get(function)
            if handler is not None:
                outcome.result = handler(event, LocalContext(function_name=function))
            else:
                outcome.result = invoke(function, event)
        except Exception as exc:
            outcome.error = exc
        finally:
            outcome.records = self._captured.end()
            _forget_unflushed_metrics()
        return outcome

    def _run(
        self,
        function: str,
        event: dict[str, Any],
        event_type: str,
        ident: str,
        describe: Callable[[Any], str],
    ) -> Any:
        """Invoke and write the log line (used for webhook, HTTP and schedule invocations)."""
        self._captured.begin()
        started = time.monotonic()
        try:
            result = self.invoke(function, event)
        except Exception as exc:
            self.log(
                function=function,
                event_type=event_type,
                ident=ident,
                duration_ms=(time.monotonic() - started) * 1000,
                error=exc,
                detail=_summary(self._captured.end()),
            )
            raise
        self.log(
            function=function,
            event_type=event_type,
            ident=ident,
            duration_ms=(time.monotonic() - started) * 1000,
            outcome=describe(result),
            detail=_summary(self._captured.end()),
        )
        return result

    def _sqs_target(self, function: str) -> Callable[[dict[str, Any]], Any]:
        def target(event: dict[str, Any]) -> Any:
            self._captured.begin()
            return self.invoke(function, event)

        target.__name__ = function
        return target

    def _sqs_logged(self, **fields: Any) -> None:
        self.log(**fields, detail=_summary(self._captured.end()))

    def deliver_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Telegram's part of a webhook delivery: POST the update, execute the reply method."""
        from genbot_local.poller import update_kind, webhook_event
        from genbot_local.telegram_bridge import perform_webhook_reply

        event = webhook_event(update, self.webhook_secret)
        response: dict[str, Any] = self._run(
            "webhook",
            event,
            f"update {update_kind(update)}",
            f"update {update.get('update_id')}",
            lambda r: str(r.get("statusCode")) if isinstance(r, dict) else "?",
        )
        if isinstance(response, dict):
            try:
                perform_webhook_reply(self.telegram_api_url, self.bot_token, response)
            except OSError as exc:
                self.log.message(f"  webhook reply could not be delivered: {exc}")
        return response

    def _http_invoke(self, function: str, event: dict[str, Any]) -> Any:
        return self._run(
            function,
            event,
            f"http {event.get('routeKey')}",
            event.get("rawPath", ""),
            lambda r: str(r.get("statusCode", 200)) if isinstance(r, dict) else "200",
        )

    def _schedule_target(self, function: str, event: dict[str, Any]) -> Any:
        self._captured.begin()
        return self.invoke(function, event)

    def _local_route(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """``/local/...`` on the front door: health and schedule controls."""
        parts = [p for p in path.split("/") if p]
        if parts == ["health"]:
            return 200, {"ok": True, "invocations": len(self.log.lines)}
        if parts == ["webapp", "invoice"] and method == "POST":
            return self._webapp_invoice(body)
        if parts == ["schedules"] and method == "GET":
            return 200, {"schedules": self.scheduler.describe() if self.scheduler else []}
        if len(parts) == 2 and parts[0] == "schedules" and method == "POST":
            if self.scheduler is None or parts[1] not in self.scheduler.entries:
                return 404, {"error": f"no schedule {parts[1]!r}"}
            try:
                result = self.scheduler.fire(parts[1])
            except Exception as exc:
                return 500, {"error": f"{type(exc).__name__}: {exc}"}
            return 200, {"fired": parts[1], "result": _jsonable(result)}
        return 404, {"error": "unknown local endpoint"}

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        cfg = self.config
        require_module("moto.server", "moto (the local AWS)")
        require_module("flask", "moto's server extras (flask)")
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }.items():
            self._setenv(name, value, default=True)
        if not cfg.verbose:
            self._setenv("LOG_LEVEL", "WARNING", default=True)
            self._setenv("POWERTOOLS_METRICS_DISABLED", "true", default=True)
            self._quiet_metrics()
        if cfg.fast_schedules:
            # notices due in minutes, not days, so a person sees them (unless set otherwise)
            for name, value in FAST_NOTICES.items():
                self._setenv(name, value, default=True)
        for name, value in cfg.extra_env.items():
            self._setenv(name, value)
        # One region for everything: the one the functions' settings resolve (AWS_REGION, then
        # AWS_DEFAULT_REGION, then us-east-1), set as both so no client can pick another.
        self._refresh_settings()
        self.region = self._settings().aws_region
        self._setenv("AWS_REGION", self.region)
        self._setenv("AWS_DEFAULT_REGION", self.region)
        self._refresh_settings()

        from genbot.observability import logger as function_logger
        from genbot_local import aws as local_aws
        from genbot_local import fake_provider

        fake_provider.register(when=cfg.fake_providers)

        self._capture_from = {"genbot", str(getattr(function_logger, "service", "genbot"))}
        for name in self._capture_from:
            logging.getLogger(name).addHandler(self._captured)
        local_logger = logging.getLogger("genbot-local")
        if self.out is not None and not local_logger.handlers:
            handler = logging.StreamHandler(self.out)
            handler.setFormatter(logging.Formatter("%(asctime)s  %(levelname)s  %(message)s", "%H:%M:%S"))
            local_logger.addHandler(handler)
            local_logger.setLevel(logging.INFO)
            local_logger.propagate = False

        # Every port first, so nothing half-starts and one error names all the busy ones.
        needs = []
        if self.config.bot_token is None:
            needs.append(PortNeed(cfg.port, "web chat / Bot API stand-in", "--port"))
        if cfg.api_port:
            needs.append(PortNeed(cfg.api_port, "HTTP API front door", "--api-port"))
        if not cfg.aws_endpoint:
            needs.append(
                PortNeed(
                    cfg.moto_port,
                    "moto, the local AWS",
                    "--moto-port",
                    f"\n      (a moto server you already run there? reuse it: "
                    f"--aws-endpoint http://{cfg.host}:{cfg.moto_port})",
                )
            )
        require_ports(cfg.host, needs)
        endpoint = cfg.aws_endpoint
        if not endpoint:
            self.moto = local_aws.MotoServer(cfg.host, cfg.moto_port).start()
            endpoint = self.moto.endpoint
        self._setenv("AWS_ENDPOINT_URL", endpoint)
        try:
            self.env = local_aws.bootstrap(prefix=cfg.prefix, endpoint=endpoint)
        except Exception as exc:
            raise StackError(
                f"could not create the tables/queues/bucket on {endpoint} ({self.region}): {exc}"
            ) from exc
        for name, value in self.env.items():
            self._setenv(name, value)
        self.env["AWS_ENDPOINT_URL"] = endpoint
        self._refresh_settings()
        self._check_tables(endpoint)

        self._start_yookassa()
        self._start_assistant()
        self._start_telegram()
        self._refresh_settings()
        self._check_telegram()
        self._set_commands()
        self._start_drivers()
        from genbot.resources import SCHEDULES
        from genbot_local.scheduler import Scheduler

        settings = self._settings()
        self.scheduler = Scheduler(
            SCHEDULES if cfg.schedules is None else cfg.schedules,
            self._schedule_target,
            fast=cfg.fast_schedules,
            fast_interval=cfg.fast_interval,
            on_invocation=self._sqs_logged,
            # the zone and hour the functions use (TIMEZONE, BONUS_REMINDER_HOUR), as CDK deploys
            env={"TIMEZONE": settings.timezone, "BONUS_REMINDER_HOUR": str(settings.bonus_reminder_hour)},
        ).start()
        if cfg.api_port is not None:
            from genbot_local.apigw import FrontDoor

            self.front_door = FrontDoor(
                self._http_invoke, host=cfg.host, port=cfg.api_port, local=self._local_route
            )
            self.front_door.site = self._cabinet_site(self.front_door.base_url)
            self.front_door.start()
            if self.standin is not None:
                # the web chat's menu button opens the cabinet, signed for the chat's user
                self.standin.webapp_url = self.cabinet_url
            if self.yookassa is not None:
                self.yookassa.notify_url = f"{self.front_door.base_url}{YOOKASSA_NOTIFICATIONS_PATH}"
        self.poller.start()
        self._write_env_file()
        self._started = True

    @property
    def cabinet_url(self) -> str | None:
        """The cabinet (``site/``) as the front door serves it, or None without a front door."""
        return f"{self.front_door.base_url}{CABINET_PREFIX}" if self.front_door is not None else None

    def _cabinet_site(self, api_base: str) -> Any:
        """``site/`` at ``/app/`` with the ``config.json`` a deploy writes (the API's URL, the
        bot's name), plus the stand-in of telegram-web-app.js (no network here)."""
        import json

        from genbot_local.apigw import StaticSite
        from genbot_local.invoke import ROOT

        config = {
            "api_url": f"{api_base}/",
            "bot_username": str(self.bot.get("username") or ""),
            "telegram_js": f"{CABINET_PREFIX}{WEBAPP_STUB.name}",
        }
        return StaticSite(
            root=ROOT / "site",
            prefix=CABINET_PREFIX,
            generated={"config.json": json.dumps(config).encode()},
            extra={WEBAPP_STUB.name: WEBAPP_STUB},
        )

    def _webapp_invoice(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """The stand-in's ``openInvoice``: pay an invoice link as its user (pre_checkout_query,
        the bot's answer, successful_payment), then tell the Mini App how it ended, as Telegram's
        invoice screen does ("paid" / "failed")."""
        import json

        if self.standin is None:
            return 404, {"status": "failed", "error": "no Bot API stand-in (real Telegram)"}
        try:
            request = json.loads(body or b"{}")
            user_id, link = int(request["user_id"]), str(request["link"])
        except (ValueError, KeyError, TypeError):
            return 400, {"status": "failed", "error": "user_id and link are required"}
        invoice = self.standin.invoice(user_id, link=link)
        if invoice is None:
            return 404, {"status": "failed", "error": "no such invoice link"}
        update = self.standin.start_payment(user_id, invoice)
        query_id = update["pre_checkout_query"]["id"]
        try:
            answer = self.standin.wait_for(
                lambda call: (
                    call.method.lower() == "answerprecheckoutquery"
                    and str(call.params.get("pre_checkout_query_id")) == query_id
                ),
                timeout=12,
            )
        except TimeoutError:
            return 200, {"status": "failed", "error": "the bot did not answer the pre-checkout query"}
        ok = answer.params.get("ok") in (True, "true", "True")
        return 200, {"status": "paid" if ok else "failed"}

    def _settings(self) -> Any:
        from genbot.config import ConfigError, get_settings

        try:
            return get_settings()
        except ConfigError as exc:
            raise StackError(f"{exc}\n  Fix the variable in your environment and start again.") from exc

    def _check_tables(self, endpoint: str) -> None:
        """Read the users table exactly as the functions will (their settings, their client).

        A table the functions can't reach (another region, another name) would fail every
        update while the banner said the stack is up; better to say so now.
        """
        from genbot.store.models import User

        settings = self._settings()
        try:
            User.describe_table()
        except Exception as exc:
            raise StackError(
                f"the functions can't reach their tables: DescribeTable {settings.users_table} "
                f"in {settings.aws_region} at {endpoint} failed ({type(exc).__name__}: {str(exc)[:200]}).\n"
                f"  The stack created its resources in {self.region} with prefix {self.config.prefix}; "
                "check AWS_REGION / AWS_DEFAULT_REGION and the *_TABLE variables in your environment."
            ) from exc

    def _quiet_metrics(self) -> None:
        """Metrics are off; Powertools would still warn on every flush that has none to publish."""
        warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
        self._metrics_filter = warnings.filters[0]

    def _start_yookassa(self) -> None:
        """The YooKassa stand-in, unless real YooKassa keys are set (then YooKassa itself serves)."""
        if os.environ.get("YOOKASSA_SHOP_ID") and os.environ.get("YOOKASSA_SECRET_KEY"):
            return
        from genbot_local.yookassa_standin import YooKassaStandIn

        self.yookassa = YooKassaStandIn(
            shop_id=LOCAL_YOOKASSA_SHOP_ID,
            secret_key=LOCAL_YOOKASSA_SECRET_KEY,
            receipt_required=True,  # 54-FZ on, as a real shop selling to people in Russia
            host=self.config.host,
        ).start()
        self._setenv("YOOKASSA_SHOP_ID", LOCAL_YOOKASSA_SHOP_ID)
        self._setenv("YOOKASSA_SECRET_KEY", LOCAL_YOOKASSA_SECRET_KEY)
        self._setenv("YOOKASSA_API_URL", self.yookassa.base_url)
        self._refresh_settings()
        if "payment_poll" not in self.config.handlers:
            # The front door's caller is this machine, not one of YooKassa's addresses: here, and
            # only here, the notification route also hears loopback (the stand-in's deliveries).
            self.config.handlers["payment_poll"] = _local_payment_poll
            self._own_handlers.append("payment_poll")

    def _start_assistant(self) -> None:
        """The assistant's model: the OpenAI stand-in (streaming at a visible pace) unless an
        OpenAI key or CHAT_API_KEY is set. Only the assistant is pointed at it (CHAT_*): the
        picture providers stay as they are (the fake, without keys)."""
        if os.environ.get("OPENAI_API_KEY") or os.environ.get("CHAT_API_KEY"):
            return
        from genbot_local.ai_standins import OpenAIStandIn

        self.assistant = OpenAIStandIn(keys=(LOCAL_CHAT_KEY,)).start()
        self.assistant.stream_delay = 0.05  # a person sees the answer grow
        self._setenv("CHAT_API_KEY", LOCAL_CHAT_KEY)
        self._setenv("CHAT_BASE_URL", self.assistant.base_url)
        self._refresh_settings()

    def _start_telegram(self) -> None:
        cfg = self.config
        self.webhook_secret = (
            cfg.webhook_secret or os.environ.get("WEBHOOK_SECRET") or secrets.token_urlsafe(24)
        )
        if cfg.bot_token is None:
            from genbot_local.botapi import BotApiStandIn

            self.bot_token = LOCAL_BOT_TOKEN
            self.standin = BotApiStandIn(
                token=LOCAL_BOT_TOKEN,
                bot_username=LOCAL_BOT_USERNAME,
                host=cfg.host,
                port=cfg.port,
                timezone=self._settings().timezone,  # the web chat's clock: the bot's
            )
            self.standin.start()
            self.telegram_api_url = str(self.standin.base_url).rstrip("/")
        else:
            self.bot_token = cfg.bot_token
            self.telegram_api_url = (cfg.telegram_api_url or REAL_TELEGRAM).rstrip("/")
        self._setenv("BOT_TOKEN", self.bot_token)
        self._setenv("WEBHOOK_SECRET", self.webhook_secret)
        self._setenv("TELEGRAM_API_URL", self.telegram_api_url)

    def _set_commands(self) -> None:
        """Fill the "/" menu per language, as the deploy does (genbot.commands, the /help list)."""
        from genbot.commands import command_lists
        from genbot_local.poller import BotApi, TelegramError

        api = BotApi(self.telegram_api_url, self.bot_token)
        try:
            for i, (language, commands) in enumerate(command_lists().items()):
                api.call("setMyCommands", {"commands": commands, "language_code": language}, timeout=10)
                if i == 0:
                    api.call("setMyCommands", {"commands": commands}, timeout=10)
        except (TelegramError, OSError) as exc:  # the menu is a convenience: say so and go on
            log.warning("could not set the bot's commands: %s", exc)

    def _check_telegram(self) -> None:
        from genbot_local.poller import (
            BotApi,
            InvalidTokenError,
            TelegramError,
            UpdatePoller,
            WebhookConflictError,
            mask_token,
        )

        api = BotApi(self.telegram_api_url, self.bot_token)
        self.poller = UpdatePoller(api, self.deliver_update, timeout=self.config.poll_timeout)
        try:
            self.bot = self.poller.get_me()
        except InvalidTokenError as exc:
            raise StackError(
                f"Telegram rejected BOT_TOKEN {mask_token(self.bot_token)} ({exc.code} {exc.description}).\n"
                "  Check the token with @BotFather (/token), or unset BOT_TOKEN to use the local "
                "stand-in with its web chat."
            ) from exc
        except (TelegramError, OSError) as exc:
            raise StackError(f"could not reach the Bot API at {self.telegram_api_url}: {exc}") from exc
        try:
            self.poller.poll_once(timeout=0)  # surfaces a webhook conflict before we say "ready"
        except WebhookConflictError as exc:
            raise StackError(exc.advice(self.bot_token)) from exc

    def _start_drivers(self) -> None:
        import boto3

        from genbot.resources import QUEUES
        from genbot_local.sqs_driver import SqsDriver

        client = boto3.client("sqs", endpoint_url=self.env["AWS_ENDPOINT_URL"], region_name=self.region)
        for spec in QUEUES.values():
            url = self.env[spec.env_var]
            self.drivers.append(
                SqsDriver.for_queue(
                    spec,
                    url,
                    self._sqs_target(spec.consumer),
                    client=client,
                    wait_seconds=self.config.sqs_wait_seconds,
                    on_invocation=self._sqs_logged,
                    name=spec.name,
                ).start()
            )
            if spec.dlq_consumer:
                dlq_url = client.get_queue_url(QueueName=f"{self.config.prefix}-{spec.name}-dlq")["QueueUrl"]
                self.drivers.append(
                    SqsDriver.for_queue(
                        spec,
                        dlq_url,
                        self._sqs_target(spec.dlq_consumer),
                        dead=True,
                        client=client,
                        wait_seconds=self.config.sqs_wait_seconds,
                        on_invocation=self._sqs_logged,
                        name=f"{spec.name}-dlq",
                    ).start()
                )

    def stop(self) -> None:
        """Stop everything; safe to call twice and after a failed start."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        # 1. No new work: every poller, driver and the scheduler stops after its current step.
        for component in [self.poller, self.scheduler, *self.drivers]:
            if component is not None:
                component._stop.set()
        # 2. Invocations in flight finish (Lambda doesn't cut an invocation short on a deploy).
        deadline = time.monotonic() + 30
        for lock in list(self._locks.values()):
            if lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                lock.release()
        # 3. The servers go; that ends the long polls (getUpdates, ReceiveMessage) at once.
        for server in (self.front_door, self.standin, self.yookassa, self.assistant, self.moto):
            if server is not None:
                with contextlib.suppress(Exception):
                    server.stop()
        # 4. The threads notice. A long poll on the real Telegram or a shared moto can't be cut
        #    short; those threads are daemons and end with their poll.
        grace = 2.0 if (self.moto is not None and self.standin is not None) else 1.0
        for component in [self.poller, self.scheduler, *self.drivers]:
            if component is not None:
                with contextlib.suppress(Exception):
                    component.stop(timeout=grace)
        # 5. Each function's thread closes what it kept warm: the Bot's aiohttp session, the
        #    provider sessions, its event loop (else "Unclosed client session" at exit).
        with self._locks_guard:
            instances = list(self._instances.values())
        for instance in instances:
            instance.close(timeout=10)
        for name in self._capture_from:
            logging.getLogger(name).removeHandler(self._captured)
        for name in self._own_handlers:
            self.config.handlers.pop(name, None)
        self._own_handlers.clear()
        if self._metrics_filter is not None:
            with contextlib.suppress(ValueError):
                cast(list[Any], warnings.filters).remove(self._metrics_filter)
            self._metrics_filter = None
        self._restore_env()

    # -- telling the user ---------------------------------------------------------------------

    def providers(self) -> list[str]:
        """Which AI providers serve, as the provider layer will pick them from the settings."""
        from genbot.config import get_settings

        settings = get_settings()
        try:
            from genbot.providers.catalog import Catalog

            names = Catalog.load(settings).providers()
        except Exception as exc:  # the banner must not fail on it
            log.warning("could not read the provider catalog: %s", exc)
            names = []
        if names:
            labels = {
                "fake": "fake (offline, deterministic; no OPENAI_API_KEY / GEMINI_API_KEYS set)",
                "gemini": f"gemini ({len(settings.gemini_api_keys)} key(s), "
                f"{settings.gemini_base_url or 'Google'})",
                "openai": f"openai ({settings.openai_base_url or 'OpenAI'})",
            }
            return [labels.get(name, name) for name in names]
        active = []
        if settings.gemini_api_keys:
            where = settings.gemini_base_url or "Google"
            active.append(f"gemini ({len(settings.gemini_api_keys)} key(s), {where})")
        if settings.openai_api_key:
            active.append(f"openai ({settings.openai_base_url or 'OpenAI'})")
        return active or ["fake (offline: no OPENAI_API_KEY / GEMINI_API_KEYS set)"]

    def yookassa_line(self) -> str:
        """What serves ruble payments, for the banner."""
        if self.yookassa is None:
            return (
                f"{os.environ.get('YOOKASSA_API_URL') or 'https://api.yookassa.ru/v3'} (YOOKASSA_* keys set)"
            )
        notify = self.yookassa.notify_url or "none (no front door: the payment_poll schedule settles)"
        return (
            f"stand-in {self.yookassa.base_url} (shop {LOCAL_YOOKASSA_SHOP_ID}; no YOOKASSA_* keys set); "
            f"pay on its checkout page; notifications -> {notify}"
        )

    @property
    def chat_url(self) -> str | None:
        return f"{self.telegram_api_url}/" if self.standin is not None else None

    def banner(self) -> str:
        cfg = self.config
        env_file = cfg.env_file
        lines = ["", "genbot local stack is up", ""]
        if self.standin is not None:
            lines.append(f"  Web chat          {self.chat_url}   <- open this and talk to the bot")
            lines.append(
                f"  Bot API stand-in  {self.telegram_api_url}  (bot @{self.bot.get('username', '?')})"
            )
        else:
            username = self.bot.get("username", "?")
            lines.append(f"  Telegram          {self.telegram_api_url}: long polling as @{username}")
        if self.front_door is not None:
            lines.append(
                f"  HTTP API          {self.front_door.base_url}  (routes of functions/*, /local/...)"
            )
            lines.append(
                f"  Cabinet           {self.cabinet_url}  (the Mini App; open it from the web chat's "
                "Cabinet button, signed in as the chat's user)"
            )
        lines.append(f"  AWS (moto)        {self.env.get('AWS_ENDPOINT_URL')}  prefix {cfg.prefix}")
        lines.append(f"  YooKassa          {self.yookassa_line()}")
        if self.assistant is not None:
            lines.append(
                f"  Assistant         OpenAI stand-in {self.assistant.base_url} (streams; no OpenAI key set)"
            )
        queues = ", ".join(f"{d.name} -> {d.function}" for d in self.drivers) or "none"
        lines.append(f"  Queues            {queues}")
        names = (
            ", ".join(
                name + ("" if e.expression.timezone == "UTC" else f" ({e.expression.timezone})")
                for name, e in self.scheduler.entries.items()
            )
            if self.scheduler and self.scheduler.entries
            else "none"
        )
        mode = f" (fast: every {cfg.fast_interval:g}s)" if cfg.fast_schedules else ""
        lines.append(f"  Schedules         {names}{mode}")
        lines.append(f"  Providers         {'; '.join(self.providers())}")
        lines.append("")
        if env_file is not None:
            lines.append(f"  genbot audit / genbot state:  {self.audit_command()}")
        exports = " ".join(
            f"{k}={v}"
            for k, v in sorted(self._exported().items())
            if not k.startswith("AWS_") or k in ("AWS_REGION", "AWS_DEFAULT_REGION")
        )
        lines.append(f"  (or export AWS_ENDPOINT_URL={self.env.get('AWS_ENDPOINT_URL')} {exports})")
        if self.front_door is not None and self.scheduler and self.scheduler.entries:
            first = next(iter(self.scheduler.entries))
            lines.append(
                f"  Fire a schedule:  curl -X POST {self.front_door.base_url}/local/schedules/{first}"
            )
        lines += ["  Ctrl-C stops everything.", ""]
        return "\n".join(lines)

    def audit_command(self) -> str:
        """``genbot audit`` against this stack, as typed in a new terminal where genbot dev ran.

        No venv needs to be activated: the env file is loaded and the venv's own ``genbot``
        is named by its path (``.venv/bin/genbot`` from the repo root).
        """
        env_file = self.config.env_file or Path(".local/env")
        return f"set -a; . {_display(env_file)}; set +a; {_genbot_command()} audit"

    def _exported(self) -> dict[str, str]:
        region = self.region or os.environ.get("AWS_REGION") or "us-east-1"
        values = {
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
        }
        values.update(self.env)
        return values

    def _write_env_file(self) -> None:
        path = self.config.env_file
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "# written by `genbot dev`: the local stack's AWS endpoint and resource names\n"
        body += "".join(f"{k}={v}\n" for k, v in sorted(self._exported().items()))
        path.write_text(body, encoding="utf-8")

    def wait(self) -> None:
        """Block until ``stop()`` (or Ctrl-C in the caller)."""
        while not self._stopped.wait(0.5):
            pass


def _local_payment_poll(event: dict[str, Any], context: Any) -> Any:
    """``payment_poll`` in the local stack: the stand-in's notifications come from loopback."""
    import ipaddress

    from genbot.payments import poll

    loopback = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    return poll.handle(event, trusted=(*poll.YOOKASSA_NETWORKS, *loopback))


def _display(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def _genbot_command() -> str:
    """The ``genbot`` next to this Python (the venv's), runnable without activating the venv."""
    beside = Path(sys.executable).parent / "genbot"
    if beside.is_file():
        shown = _display(beside)
        return shown if "/" in shown else f"./{shown}"
    return shutil.which("genbot") or "genbot"


def _jsonable(value: Any) -> Any:
    import json

    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def main(args: argparse.Namespace) -> int:
    """``genbot dev``: start, print the banner, run until Ctrl-C (SIGINT) or SIGTERM."""
    out = sys.stdout
    config = StackConfig.from_args(args)
    stack = LocalStack(config, out=out)
    out.write("genbot dev: starting the local stack...\n")
    out.flush()
    try:
        stack.start()
    except StackError as exc:
        sys.stderr.write(f"genbot dev: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        # Inside the try: a Ctrl-C the moment the banner appears (while it is still being
        # written) stops the stack like any other.
        out.write(stack.banner() + "\n")
        out.flush()
        stack.wait()
    except KeyboardInterrupt:
        out.write("\ngenbot dev: stopping...\n")
        out.flush()
    finally:
        signal.signal(signal.SIGTERM, previous)
        stack.stop()
    out.write("genbot dev: stopped\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(add_arguments(argparse.ArgumentParser(prog="genbot dev")).parse_args()))
