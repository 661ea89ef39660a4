"""Shared fixtures: a moto server with the app's resources, and the Bot API stand-in.

The environment is set before anything imports boto3/PynamoDB clients, as Lambda's would be.
Each test gets freshly bootstrapped tables (moto reset + ``genbot_local.aws.bootstrap``),
built from the same specs the CDK app uses.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator

import pytest

from tests.helpers import BOT_TOKEN, WEBHOOK_SECRET

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


@pytest.fixture(scope="session")
def standin_server() -> Iterator[object]:
    from genbot_local.botapi import BotApiStandIn

    server = BotApiStandIn(token=BOT_TOKEN, bot_username="genbot_local_bot")
    server.start()
    os.environ["TELEGRAM_API_URL"] = server.base_url
    from genbot.config import get_settings

    get_settings.cache_clear()
    yield server
    server.stop()


@pytest.fixture
def telegram(standin_server):  # type: ignore[no-untyped-def]
    """The Bot API stand-in with an empty call record."""
    standin_server.clear_calls()
    return standin_server
