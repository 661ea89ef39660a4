"""Fixtures for the provider tests: the Gemini and OpenAI stand-ins, settings pointing at them.

Import the fixtures you use into the test module. DynamoDB (the key pool's state) comes from
the shared ``aws`` fixture in ``tests/conftest.py``: one moto server per session, so no test
here moves ``AWS_ENDPOINT_URL`` under another test's feet.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from genbot.config import Settings
from genbot_local.ai_standins import GeminiStandIn, OpenAIStandIn

GEMINI_KEYS = ("gemini-key-a", "gemini-key-b")
OPENAI_KEYS = ("sk-openai-one", "sk-openai-two")


@pytest.fixture(scope="session")
def _gemini_server() -> Iterator[GeminiStandIn]:
    server = GeminiStandIn(keys=GEMINI_KEYS, video_polls=3).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _openai_server() -> Iterator[OpenAIStandIn]:
    server = OpenAIStandIn(keys=OPENAI_KEYS).start()
    yield server
    server.stop()


@pytest.fixture
def gemini_api(_gemini_server: GeminiStandIn) -> GeminiStandIn:
    """The Gemini stand-in with no recorded requests and nothing scripted."""
    _gemini_server.clear()
    _gemini_server.video_polls = 3
    return _gemini_server


@pytest.fixture
def openai_api(_openai_server: OpenAIStandIn) -> OpenAIStandIn:
    """The OpenAI stand-in with no recorded requests and nothing scripted."""
    _openai_server.clear()
    return _openai_server


@pytest.fixture
def pool_tables(aws: dict[str, str]) -> dict[str, str]:
    """Fresh tables for the key pool, and no cached settings items from an earlier test."""
    from genbot.store import settings

    settings.clear_cache()
    return aws


def provider_settings(
    gemini: GeminiStandIn | None = None, openai: OpenAIStandIn | None = None, **extra: Any
) -> Settings:
    """Settings with keys and base URLs for whichever stand-ins are given."""
    values: dict[str, Any] = {}
    if gemini is not None:
        values |= {"gemini_api_keys": list(GEMINI_KEYS), "gemini_base_url": gemini.base_url}
    if openai is not None:
        values |= {"openai_api_key": ",".join(OPENAI_KEYS), "openai_base_url": openai.base_url}
    return Settings(**(values | extra))
