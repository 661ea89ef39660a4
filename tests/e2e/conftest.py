"""The local stack as the browser tests use it: the Bot API stand-in, moto, every function."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from genbot_local.aws import free_port
from genbot_local.stack import LocalStack, StackConfig


@pytest.fixture
def stack(aws, moto_endpoint: str, tmp_path: Path) -> Iterator[LocalStack]:  # type: ignore[no-untyped-def]
    config = StackConfig(
        port=free_port(),
        api_port=0,
        aws_endpoint=moto_endpoint,
        prefix="genbot",  # the names the test process's models already use
        bot_token=None,  # the Bot API stand-in
        sqs_wait_seconds=1,
        poll_timeout=1,
        env_file=tmp_path / "env",
        extra_env={"VIDEO_POLL_SECONDS": "1"},  # the video is polled through 1 s delayed messages
    )
    out = io.StringIO()
    running = LocalStack(config, out=out).start()
    running.output = out  # type: ignore[attr-defined]
    yield running
    running.stop()


@pytest.fixture
def shots(artifacts: Path) -> Path:
    """Where the cabinet's screenshots go: ``tests/e2e/artifacts/cabinet/`` (git-ignored)."""
    path = artifacts / "cabinet"
    path.mkdir(exist_ok=True)
    return path
