"""The stack object: startup checks with clear errors, the banner, the env file, /local controls.

Telegram is a small fake (real-Telegram mode: ``BOT_TOKEN`` set, ``TELEGRAM_API_URL`` at the
fake), functions are test handlers, AWS is the session's moto server; the whole bot through
the Bot API stand-in is ``tests/e2e/test_local_stack.py``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from genbot.resources import ScheduleSpec
from genbot.store.models import User
from genbot_local import stack as stack_module
from genbot_local.aws import free_port
from genbot_local.stack import (
    LocalStack,
    MissingDependencyError,
    PortInUseError,
    StackConfig,
    StackError,
    add_arguments,
    require_module,
)
from tests.unit.test_local_poller import TOKEN, WEBHOOK_CONFLICT, FakeTelegram

NIGHTLY = ScheduleSpec(
    name="nightly",
    function="sweeper",
    expression="cron(0 3 * * ? *)",
    timezone="Europe/Moscow",
    input={"k": 1},
)


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram()
    yield fake
    fake.server.shutdown()


def config(fake: FakeTelegram, moto_endpoint: str, tmp_path: Path, **changes: Any) -> StackConfig:
    values: dict[str, Any] = {
        "port": free_port(),
        "api_port": 0,
        "aws_endpoint": moto_endpoint,
        "prefix": "genbot",
        "bot_token": TOKEN,
        "telegram_api_url": fake.url,
        "webhook_secret": "s3cret",
        "sqs_wait_seconds": 1,
        "poll_timeout": 1,
        "env_file": tmp_path / "env",
        "schedules": {"nightly": NIGHTLY},
    }
    values.update(changes)
    return StackConfig(**values)


def test_the_stack_starts_reports_and_serves_its_controls(
    fake_telegram, aws, moto_endpoint, tmp_path
) -> None:
    calls: list[tuple[str, dict]] = []
    out = io.StringIO()
    handlers = {
        "sweeper": lambda event, context: calls.append((context.function_name, event)) or {"swept": 1}
    }
    before = dict(os.environ)
    stack = LocalStack(config(fake_telegram, moto_endpoint, tmp_path, handlers=handlers), out=out).start()
    try:
        assert (
            os.environ["TELEGRAM_API_URL"] == fake_telegram.url and os.environ["WEBHOOK_SECRET"] == "s3cret"
        )
        banner = stack.banner()
        assert "long polling as @real_bot" in banner and "nightly" in banner
        assert "Providers" in banner and "fake" in banner
        assert "jobs -> generate" in banner and "jobs-dlq -> generate" in banner
        env = dict(line.split("=", 1) for line in (tmp_path / "env").read_text().splitlines() if "=" in line)
        assert env["AWS_ENDPOINT_URL"] == moto_endpoint and env["USERS_TABLE"] == "genbot-users"
        assert "BOT_TOKEN" not in env

        base = stack.front_door.base_url
        with urllib.request.urlopen(f"{base}/local/health", timeout=10) as answer:
            assert json.loads(answer.read())["ok"] is True
        with urllib.request.urlopen(f"{base}/local/schedules", timeout=10) as answer:
            listed = json.loads(answer.read())["schedules"]
        assert listed[0]["name"] == "nightly" and listed[0]["next"].endswith("+00:00")
        request = urllib.request.Request(f"{base}/local/schedules/nightly", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert json.loads(answer.read()) == {"fired": "nightly", "result": {"swept": 1}}
        assert calls == [("sweeper", {"k": 1})]
        assert "sweeper" in out.getvalue() and "schedule nightly (manual)" in out.getvalue()
        missing = urllib.request.Request(f"{base}/local/schedules/nope", data=b"", method="POST")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(missing, timeout=10)
        assert caught.value.code == 404
    finally:
        stack.stop()
    stack.stop()  # twice is fine
    assert os.environ.get("TELEGRAM_API_URL") == before.get("TELEGRAM_API_URL")
    assert User.Meta.table_name == "genbot-users"


def test_updates_from_telegram_reach_the_webhook_function_as_api_gateway_events(
    fake_telegram, aws, moto_endpoint, tmp_path
) -> None:
    seen: list[dict] = []

    def webhook(event: dict, context: Any) -> dict:
        seen.append(event)
        return {"statusCode": 200, "body": json.dumps({"method": "sendMessage", "chat_id": 1, "text": "hi"})}

    fake_telegram.updates = [{"update_id": 41, "message": {"text": "/start"}}]
    out = io.StringIO()
    stack = LocalStack(config(fake_telegram, moto_endpoint, tmp_path, handlers={"webhook": webhook}), out=out)
    stack.start()
    try:
        assert seen, "the first getUpdates runs during start"
        event = seen[0]
        assert event["routeKey"] == "POST /telegram"
        assert event["headers"]["x-telegram-bot-api-secret-token"] == "s3cret"
        assert json.loads(event["body"])["update_id"] == 41
        assert ("sendMessage", {"chat_id": 1, "text": "hi"}) in fake_telegram.requests  # the reply, performed
        assert "update message" in out.getvalue() and "update 41" in out.getvalue()
    finally:
        stack.stop()


def test_an_invalid_token_is_a_clear_error_and_exit_code_2(
    fake_telegram, aws, moto_endpoint, tmp_path, monkeypatch, capsys
) -> None:
    with pytest.raises(StackError) as caught:
        LocalStack(config(fake_telegram, moto_endpoint, tmp_path, bot_token="123456:wrong")).start()
    assert "rejected BOT_TOKEN 123456:wro…" in str(caught.value) and "@BotFather" in str(caught.value)

    monkeypatch.setenv("BOT_TOKEN", "123456:wrong")
    monkeypatch.setenv("TELEGRAM_API_URL", fake_telegram.url)
    args = argparse.Namespace(
        port=free_port(),
        api_port=0,
        moto_port=0,
        aws_endpoint=moto_endpoint,
        prefix="genbot",
        env_file=str(tmp_path / "e"),
    )
    assert stack_module.main(args) == 2
    assert "Telegram rejected BOT_TOKEN" in capsys.readouterr().err


def test_a_webhook_conflict_stops_the_start_with_advice(fake_telegram, aws, moto_endpoint, tmp_path) -> None:
    stack = LocalStack(config(fake_telegram, moto_endpoint, tmp_path))
    fake_telegram.error = None
    original = fake_telegram.answer

    def conflict(path: str, method: str, params: dict) -> tuple[int, dict]:
        if method == "getUpdates":
            return 409, {"ok": False, "error_code": 409, "description": WEBHOOK_CONFLICT}
        return original(path, method, params)

    fake_telegram.answer = conflict  # type: ignore[method-assign]
    with pytest.raises(StackError) as caught:
        stack.start()
    assert "deleteWebhook" in str(caught.value) and "does not delete webhooks" in str(caught.value)


def test_a_port_in_use_names_the_port_and_the_flag(fake_telegram, aws, moto_endpoint, tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(PortInUseError) as caught:
            LocalStack(config(fake_telegram, moto_endpoint, tmp_path, api_port=port)).start()
        assert f"port {port}" in str(caught.value) and "--api-port" in str(caught.value)
        with pytest.raises(PortInUseError) as caught:
            LocalStack(config(fake_telegram, None, tmp_path, aws_endpoint=None, moto_port=port)).start()
        assert "--moto-port" in str(caught.value) and "--aws-endpoint" in str(caught.value)


def test_a_missing_dependency_says_to_run_scripts_dev() -> None:
    with pytest.raises(MissingDependencyError) as caught:
        require_module("genbot_no_such_module", "moto (the local AWS)")
    assert "./scripts/dev" in str(caught.value)


def test_the_dev_flags() -> None:
    args = add_arguments(argparse.ArgumentParser()).parse_args(
        ["--port", "9000", "--fast-schedules", "--verbose"]
    )
    cfg = StackConfig.from_args(args, environ={"BOT_TOKEN": "1:x"})
    assert (cfg.port, cfg.api_port, cfg.moto_port, cfg.fast_schedules, cfg.verbose) == (
        9000,
        8081,
        4566,
        True,
        True,
    )
    assert cfg.bot_token == "1:x" and cfg.env_file is not None and cfg.env_file.name == "env"
