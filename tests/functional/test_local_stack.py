"""The stack object: startup checks with clear errors, the banner, the env file, /local controls.

Telegram is a small fake (real-Telegram mode: ``BOT_TOKEN`` set, ``TELEGRAM_API_URL`` at the
fake), functions are test handlers, AWS is the session's moto server; the whole bot through
the Bot API stand-in is ``tests/e2e/test_local_stack.py``.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
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

NIGHTLY = ScheduleSpec(
    name="nightly",
    function="sweeper",
    expression="cron(0 3 * * ? *)",
    timezone="Europe/Moscow",
    input={"k": 1},
)


TOKEN = "123456:ABCDEFsecret"  # the fake Telegram's (tests/conftest.py: fake_telegram)


def config(fake: Any, moto_endpoint: str, tmp_path: Path, **changes: Any) -> StackConfig:
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
            return 409, {"ok": False, "error_code": 409, "description": fake_telegram.WEBHOOK_CONFLICT}
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


# -- the stack with the real functions behind the Bot API stand-in -------------------------------


@contextmanager
def running(moto_endpoint: str, tmp_path: Path, **changes: Any) -> Iterator[LocalStack]:
    values: dict[str, Any] = {
        "port": free_port(),
        "api_port": 0,
        "aws_endpoint": moto_endpoint,
        "prefix": "genbot",
        "bot_token": None,  # the stand-in
        "sqs_wait_seconds": 1,
        "poll_timeout": 1,
        "env_file": tmp_path / "env",
        "schedules": {},
    }
    values.update(changes)
    stack = LocalStack(StackConfig(**values), out=io.StringIO()).start()
    try:
        yield stack
    finally:
        stack.stop()


def say(stack: LocalStack, user_id: int, text: str) -> list[dict[str, Any]]:
    """A user's message through getUpdates -> webhook; returns the chat once it is processed."""
    update = stack.standin.user_message(user_id, text)
    deadline = time.monotonic() + 60
    while (stack.poller.offset or 0) <= update["update_id"]:
        assert time.monotonic() < deadline, f"update {update['update_id']} was not processed"
        time.sleep(0.05)
    return stack.standin.chat_messages(user_id)


def post_update(stack: LocalStack, update: dict[str, Any]) -> dict[str, Any]:
    """Telegram's webhook delivery, through the HTTP API front door (a request thread)."""
    request = urllib.request.Request(
        f"{stack.front_door.base_url}/telegram",
        data=json.dumps(update).encode(),
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": stack.webhook_secret},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert answer.status == 200
        return dict(json.loads(answer.read() or b"{}"))


def text_update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": "John", "language_code": "en"}
    message = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": {"id": user_id, "type": "private", "first_name": "John"},
        "from": user,
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message}


def test_metrics_off_stay_quiet_however_many_updates(
    fake_telegram, aws, moto_endpoint, tmp_path, capsys, recwarn
) -> None:
    """Powertools keeps unflushed metrics while they are off and prints them at 100; not here."""
    from genbot.observability import metrics

    @metrics.log_metrics
    def webhook(event: dict, context: Any) -> dict:
        if json.loads(event["body"]).get("update_id", 0) % 10:  # some invocations add none
            metrics.add_metric(name="Updates", unit="Count", value=1)
        return {"statusCode": 200, "body": "{}"}

    metrics.clear_metrics()
    stack = LocalStack(config(fake_telegram, moto_endpoint, tmp_path, handlers={"webhook": webhook}))
    stack.start()
    try:
        for update_id in range(1, 131):
            assert (
                stack.deliver_update({"update_id": update_id, "message": {"text": "hi"}})["statusCode"] == 200
            )
    finally:
        stack.stop()
    printed = capsys.readouterr()
    assert "CloudWatchMetrics" not in printed.out + printed.err, "a metrics dump reached the console"
    assert not [w for w in recwarn if "No application metrics" in str(w.message)]


def test_stopping_closes_every_client_session_and_loop(aws, moto_endpoint, tmp_path, caplog) -> None:
    """aiogram's per-thread Bot (genbot.runtime) holds an aiohttp session; stop closes them all."""
    import aiohttp

    def open_sessions() -> set[int]:
        return {id(o) for o in gc.get_objects() if isinstance(o, aiohttp.ClientSession) and not o.closed}

    gc.collect()
    before = open_sessions()
    with running(moto_endpoint, tmp_path) as stack:
        say(stack, 100001, "/start")
        say(stack, 100001, "🎁 Бонусы")  # the referral link: bot.me(), a getMe through the session
        assert any("start=ref_100001" in (m.get("text") or "") for m in stack.standin.chat_messages(100001))
        post_update(stack, text_update(900001, 100002, "/start"))  # and on a front door request thread
        post_update(stack, text_update(900002, 100002, "🎁 Bonuses"))
        assert open_sessions() - before, "the functions opened sessions (else this test tests nothing)"
    gc.collect()
    assert not open_sessions() - before
    assert "Unclosed client session" not in caplog.text


def test_the_banner_audit_command_works_from_the_repo_root_as_printed(
    fake_telegram, aws, moto_endpoint, tmp_path
) -> None:
    stack = LocalStack(config(fake_telegram, moto_endpoint, tmp_path)).start()
    try:
        (line,) = [line for line in stack.banner().splitlines() if "audit" in line and "set -a" in line]
        command = line.split(":", 1)[1].strip()
        # a new terminal at the repo root: no venv activated, none of this process's variables
        shell = subprocess.run(
            ["bash", "-c", command],
            cwd=stack_module.ROOT if hasattr(stack_module, "ROOT") else Path.cwd(),
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        stack.stop()
    assert shell.returncode == 0, f"{command}\n{shell.stdout}\n{shell.stderr}"
    assert "audit: ok" in shell.stdout


def test_every_busy_port_is_reported_in_one_error(fake_telegram, aws, moto_endpoint, tmp_path) -> None:
    with socket.socket() as one, socket.socket() as two, socket.socket() as three:
        for sock in (one, two, three):
            sock.bind(("127.0.0.1", 0))
            sock.listen()
        ports = [s.getsockname()[1] for s in (one, two, three)]
        cfg = config(
            fake_telegram,
            None,
            tmp_path,
            bot_token=None,
            port=ports[0],
            api_port=ports[1],
            aws_endpoint=None,
            moto_port=ports[2],
        )
        with pytest.raises(PortInUseError) as caught:
            LocalStack(cfg).start()
    message = str(caught.value)
    for port, flag in zip(ports, ("--port", "--api-port", "--moto-port"), strict=True):
        assert f"port {port}" in message and flag in message, message
    assert "--aws-endpoint" in message


def test_one_region_for_everything_the_stack_starts(moto_endpoint, tmp_path) -> None:
    """Only AWS_REGION exported (no default region): tables, functions and clients agree on it.

    (And the web chat shows times on the bot's TIMEZONE clock.)
    """
    import boto3

    from genbot.config import get_settings

    saved = {name: os.environ.get(name) for name in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    os.environ["AWS_REGION"] = "eu-central-1"
    os.environ.pop("AWS_DEFAULT_REGION", None)
    get_settings.cache_clear()
    try:
        with running(
            moto_endpoint, tmp_path, prefix="genbot-eu", extra_env={"TIMEZONE": "Asia/Tokyo"}
        ) as stack:
            assert stack.standin.timezone == "Asia/Tokyo"  # the web chat's clock is the bot's
            assert (os.environ["AWS_REGION"], os.environ["AWS_DEFAULT_REGION"]) == ("eu-central-1",) * 2
            lines = (tmp_path / "env").read_text().splitlines()
            env = dict(line.split("=", 1) for line in lines if "=" in line)
            assert (env["AWS_REGION"], env["AWS_DEFAULT_REGION"]) == ("eu-central-1", "eu-central-1")
            assert ":eu-central-1:" in env["JOBS_DLQ_ARN"]
            chat = say(stack, 100001, "/start")
            assert len(chat) >= 2 and "Анна" in (chat[-1].get("text") or ""), chat
            dynamodb = boto3.client("dynamodb", region_name="eu-central-1", endpoint_url=moto_endpoint)
            user = dynamodb.get_item(TableName="genbot-eu-users", Key={"user_id": {"N": "100001"}})
            assert user["Item"]["balance"] == {"N": "3"}
            assert "update message" in stack.out.getvalue() and " 200" in stack.out.getvalue()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


def test_the_stack_is_not_up_when_the_functions_cannot_reach_their_tables(
    moto_endpoint, tmp_path, monkeypatch
) -> None:
    """A start-up self-check reads the users table the way the functions will."""
    from genbot.config import get_settings
    from genbot_local import aws as aws_module

    real = aws_module.bootstrap

    def elsewhere(*args: Any, **kwargs: Any) -> dict[str, str]:
        """Bootstrap in a region the functions won't look in (as a stale shell variable would)."""
        saved = {name: os.environ.get(name) for name in ("AWS_REGION", "AWS_DEFAULT_REGION")}
        os.environ.update(AWS_REGION="ap-southeast-2", AWS_DEFAULT_REGION="ap-southeast-2")
        get_settings.cache_clear()
        try:
            return real(*args, **kwargs)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            get_settings.cache_clear()

    monkeypatch.setattr(aws_module, "bootstrap", elsewhere)
    out = io.StringIO()
    with pytest.raises(StackError) as caught:
        LocalStack(
            StackConfig(
                port=free_port(),
                api_port=0,
                aws_endpoint=moto_endpoint,
                prefix="genbot-elsewhere",
                bot_token=None,
                env_file=tmp_path / "env",
                schedules={},
            ),
            out=out,
        ).start()
    message = str(caught.value)
    assert "genbot-elsewhere-users" in message and "us-east-1" in message, message
    assert "is up" not in out.getvalue()


def test_the_stack_fills_the_command_menu_per_language_like_the_deploy(aws, moto_endpoint, tmp_path) -> None:
    from genbot.commands import command_lists

    with running(moto_endpoint, tmp_path) as stack:
        api = f"{stack.telegram_api_url}/bot{stack.bot_token}"

        def menu(**params: str) -> list[dict[str, Any]]:
            request = urllib.request.Request(
                f"{api}/getMyCommands",
                data=json.dumps(params).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                return list(json.loads(answer.read())["result"])

        lists = command_lists()
        assert menu(language_code="ru") == lists["ru"] and menu(language_code="en") == lists["en"]
        assert menu() == lists["ru"]  # the default for clients in other languages
        assert "/generate" in [f"/{c['command']}" for c in lists["en"]]


def test_the_assistant_answers_in_the_local_stack_streaming_through_drafts(
    aws, moto_endpoint, tmp_path
) -> None:
    """No OpenAI key: the stack's OpenAI stand-in answers the assistant at a visible pace."""
    with running(moto_endpoint, tmp_path) as stack:
        assert stack.assistant is not None and "Assistant" in stack.banner()
        say(stack, 100011, "/start")
        offer = say(stack, 100011, "/ask")[-1]
        button = offer["reply_markup"]["inline_keyboard"][0][0]
        update = stack.standin.user_callback(100011, offer["message_id"], button["callback_data"])
        deadline = time.monotonic() + 60
        while (stack.poller.offset or 0) <= update["update_id"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        stack.assistant.reply_next("Lima is the **capital** of Peru. " * 20, delay=0.05)
        say(stack, 100011, "What is the capital of Peru?")
        deadline = time.monotonic() + 60
        while not any("Lima" in (m.get("text") or "") for m in stack.standin.chat_messages(100011)):
            assert time.monotonic() < deadline, "no answer"
            time.sleep(0.1)
        drafts = [c for c in stack.standin.calls_for("sendMessageDraft") if c.ok]
        assert drafts and drafts[0].params["chat_id"] == 100011
