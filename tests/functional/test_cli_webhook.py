"""``genbot webhook info|set|delete`` against the Bot API stand-in."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from genbot.cli import main
from genbot.config import get_settings
from genbot.resources import ALLOWED_UPDATES
from genbot_local.botapi import BotApiStandIn

URL = "https://abc123.execute-api.eu-central-1.amazonaws.com/telegram"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["webhook", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def secret(telegram: BotApiStandIn, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("WEBHOOK_SECRET", "s3cret-token_1")
    get_settings.cache_clear()
    return "s3cret-token_1"


def test_set_sends_the_secret_and_the_allowed_updates_then_shows_the_info(
    telegram: BotApiStandIn, secret: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "set", "--url", URL)
    assert code == 0, err
    (call,) = telegram.calls_for("setWebhook")
    assert call.params["url"] == URL and call.params["secret_token"] == secret
    assert call.params["allowed_updates"] == list(ALLOWED_UPDATES)
    assert call.params.get("drop_pending_updates") in (None, False)
    assert f"url:                  {URL}" in out and "warning" not in out
    code, out, _ = run(capsys, "info")
    assert code == 0 and URL in out and "pending updates:" in out


def test_delete_then_info_says_there_is_none(
    telegram: BotApiStandIn, secret: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "set", "--url", URL)[0] == 0
    code, out, _ = run(capsys, "delete", "--drop-pending")
    assert code == 0 and "webhook deleted" in out and "url:                  (none)" in out
    (call,) = telegram.calls_for("deleteWebhook")
    assert call.params["drop_pending_updates"] is True


def test_a_refusal_is_said_plainly(
    telegram: BotApiStandIn, secret: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "set", "--url", "http://not-https.example.com/telegram")
    assert code == 1 and "Telegram refused" in err and "HTTPS" in err


def test_no_open_webhook_without_a_secret(
    telegram: BotApiStandIn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", "")
    get_settings.cache_clear()
    code, _, err = run(capsys, "set", "--url", URL)
    assert code == 1 and "WEBHOOK_SECRET" in err and telegram.calls_for("setWebhook") == []


def test_the_deploy_time_registration_allows_the_same_updates() -> None:
    """functions/set_webhook runs without the layer, so it keeps its own copy: the same one."""
    path = Path(__file__).resolve().parents[2] / "functions" / "set_webhook" / "handler.py"
    spec = importlib.util.spec_from_file_location("set_webhook_handler_copy", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    assert tuple(module.ALLOWED_UPDATES) == ALLOWED_UPDATES
