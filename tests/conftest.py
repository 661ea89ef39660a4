"""Shared fixtures: a moto server with the app's resources, the Bot API stand-in, and Telegram.

The environment is set before anything imports boto3/PynamoDB clients, as Lambda's would be.
Each test gets freshly bootstrapped tables (moto reset + ``genbot_local.aws.bootstrap``),
built from the same specs the CDK app uses.

Telegram's side comes from ``genbot_local.simulate`` with the recorded real event shapes in
``tests/events``: ``telegram_update`` builds an update, ``deliver`` is Telegram delivering one
to the webhook function (and performing its reply on the stand-in), ``chat_user(user_id)``
is a person walking the bot's menus. Test modules take these as fixtures and import no
other test module.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from genbot_local.simulate import BOT_TOKEN, WEBHOOK_SECRET, ChatUser, RecordedEvents, Webhook

if TYPE_CHECKING:
    from genbot_local.botapi import BotApiStandIn

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "BOT_TOKEN": BOT_TOKEN,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "genbot-test",
        "POWERTOOLS_DEV": "false",
        "LOG_LEVEL": "WARNING",
        "VIDEO_POLL_SECONDS": "0",
    }
)
for _name in ("OPENAI_API_KEY", "GEMINI_API_KEYS", "SECRET_ID", "TELEGRAM_API_URL"):
    os.environ.pop(_name, None)

# As in the local stack: the offline fake serves when no real provider has keys.
from genbot_local import fake_provider  # noqa: E402

fake_provider.register(when="auto", polls=2)

EVENTS = Path(__file__).parent / "events"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# --- AWS (moto) --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from genbot_local.aws import MotoServer

    server = MotoServer().start()
    os.environ["AWS_ENDPOINT_URL"] = server.endpoint
    yield server.endpoint
    server.stop()


@pytest.fixture
def aws(moto_endpoint: str) -> dict[str, str]:
    """Empty tables, queues and bucket for this test; returns the environment they need."""
    from genbot_local.aws import bootstrap

    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    env = bootstrap(prefix="genbot", endpoint=moto_endpoint)
    os.environ.update(env)
    from genbot.config import get_settings
    from genbot.store import settings

    get_settings.cache_clear()
    settings.clear_cache()
    return env


# --- Telegram: the Bot API stand-in, recorded events, deliveries, a person ---------------------


@pytest.fixture(scope="session")
def standin_server() -> Iterator[BotApiStandIn]:
    from genbot_local.botapi import BotApiStandIn

    server = BotApiStandIn(token=BOT_TOKEN, bot_username="genbot_local_bot")
    server.start()
    os.environ["TELEGRAM_API_URL"] = server.base_url
    from genbot.config import get_settings

    get_settings.cache_clear()
    yield server
    server.stop()


@pytest.fixture
def telegram(standin_server: BotApiStandIn) -> BotApiStandIn:
    """The Bot API stand-in with an empty call record."""
    standin_server.clear_calls()
    return standin_server


@pytest.fixture(scope="session")
def recorded_events() -> RecordedEvents:
    """Events built from the recorded real shapes in ``tests/events``."""
    return RecordedEvents(EVENTS)


@pytest.fixture(scope="session")
def load_event(recorded_events: RecordedEvents) -> Callable[[str], dict[str, Any]]:
    """``load_event("sqs_jobs.json")``: a recorded event as stored."""
    return recorded_events.load


@pytest.fixture(scope="session")
def telegram_update(recorded_events: RecordedEvents) -> Callable[..., dict[str, Any]]:
    """``telegram_update("message_text", user_id=..., text=...)``: a recorded update, fresh id."""
    return recorded_events.telegram_update


@pytest.fixture
def webhook(telegram: BotApiStandIn, recorded_events: RecordedEvents) -> Webhook:
    """Telegram delivering to the webhook function; the stand-in performs the replies."""
    return Webhook(api_url=telegram.base_url, token=BOT_TOKEN, secret=WEBHOOK_SECRET, events=recorded_events)


@pytest.fixture
def deliver(webhook: Webhook) -> Callable[..., dict[str, Any]]:
    """``deliver(update, secret=...)``: one delivery to the webhook function; its response."""
    return webhook.deliver


@pytest.fixture
def chat_user(telegram: BotApiStandIn, webhook: Webhook) -> Callable[..., ChatUser]:
    """``chat_user(user_id, language="ru")``: a person using the bot through the webhook."""

    def make(user_id: int, language: str = "ru") -> ChatUser:
        return ChatUser(telegram, user_id, language, webhook=webhook)

    return make


# --- a browser for the web chat ----------------------------------------------------------------


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where browser tests leave screenshots (``tests/e2e/artifacts``)."""
    path = Path(__file__).parent / "e2e" / "artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, launched the one way this machine allows.

    Playwright never downloads a browser here; the background-networking flags keep Chromium
    from reaching for Google's hosts (there is no network). Missing Chromium: a skip locally,
    a failure in CI (scripts/setup installs it).
    """
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing (CI must have it: scripts/setup installs it)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# --- a scripted "real Telegram" for the getUpdates poller --------------------------------------


FAKE_TELEGRAM_TOKEN = "123456:ABCDEFsecret"
FAKE_WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


class FakeTelegram:
    """A few-line HTTP server playing the real Telegram for getUpdates, with its exact error bodies."""

    TOKEN = FAKE_TELEGRAM_TOKEN
    WEBHOOK_CONFLICT = FAKE_WEBHOOK_CONFLICT

    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.error: tuple[int, str] | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                method = self.path.rsplit("/", 1)[-1]
                params = json.loads(self.rfile.read(int(self.headers["Content-Length"] or 0)) or b"{}")
                fake.requests.append((method, params))
                status, payload = fake.answer(self.path, method, params)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if f"/bot{self.TOKEN}/" not in path:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        if self.error:
            code, text = self.error
            return code, {"ok": False, "error_code": code, "description": text}
        if method == "getMe":
            return 200, {"ok": True, "result": {"id": 123456, "is_bot": True, "username": "real_bot"}}
        offset = params.get("offset", 0)
        found = [u for u in self.updates if u["update_id"] >= offset]
        if not found and params.get("timeout"):
            threading.Event().wait(min(0.3, params["timeout"]))  # a (short) long poll
        return 200, {"ok": True, "result": found}


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram()
    yield fake
    fake.server.shutdown()
