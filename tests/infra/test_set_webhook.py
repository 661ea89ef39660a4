"""The webhook-registration custom resource, against a local stand-in for Telegram and CloudFormation.

One tiny HTTP server plays both: it answers Bot API calls (``/bot<token>/<method>``) and records
the PUT CloudFormation's pre-signed ``ResponseURL`` would receive. Only the secret read is
swapped: without ``SECRET_ID`` the handler reads ``BOT_TOKEN``/``WEBHOOK_SECRET`` from the env.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

TOKEN = "123456:TEST-token"
SECRET = "s3cretToken_from-the-secret"
URL = "https://abc.execute-api.eu-central-1.amazonaws.com/telegram"


@pytest.fixture(scope="module")
def handler(repo_root: Path) -> ModuleType:
    """``functions/set_webhook/handler.py``, loaded from its file as Lambda would (no package)."""
    path = repo_root / "functions" / "set_webhook" / "handler.py"
    spec = importlib.util.spec_from_file_location("set_webhook_handler", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class StandIn:
    base_url: str
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (token, method, body)
    responses: list[dict[str, Any]] = field(default_factory=list)  # CloudFormation PUTs
    answers: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)  # method -> reply

    def methods(self) -> list[str]:
        return [m for _, m, _ in self.calls]


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    state = StandIn(base_url="")

    class Handler(BaseHTTPRequestHandler):
        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            _, bot, method = self.path.split("/", 2)
            state.calls.append((bot.removeprefix("bot"), method, self._body()))
            status, body = state.answers.get(method, (200, {"ok": True, "result": True}))
            self._reply(status, body)

        def do_PUT(self) -> None:
            state.responses.append(self._body())
            self._reply(200, {})

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.delenv("SECRET_ID", raising=False)
    monkeypatch.setenv("TELEGRAM_API_URL", state.base_url)
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    yield state
    server.shutdown()
    server.server_close()


def _event(standin: StandIn, request_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": f"{standin.base_url}/cfn-response?X-Amz-Signature=abc",
        "StackId": "arn:aws:cloudformation:eu-central-1:123456789012:stack/GenbotStack/guid",
        "RequestId": "req-1",
        "LogicalResourceId": "WebhookRegistration",
        "ResourceType": "Custom::TelegramWebhook",
        "ResourceProperties": {"ServiceToken": "arn:aws:lambda:...", "Url": URL, "Version": "1"},
        **extra,
    }


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_create_and_update_set_the_webhook_with_the_secret_token(
    handler: ModuleType, standin: StandIn, request_type: str
) -> None:
    # when CloudFormation creates or updates the resource
    handler.handler(_event(standin, request_type, PhysicalResourceId="telegram-webhook"), None)

    # then Telegram got exactly one setWebhook with our URL, secret and update types
    assert standin.calls == [
        (
            TOKEN,
            "setWebhook",
            {
                "url": URL,
                "secret_token": SECRET,
                "allowed_updates": [
                    "message",
                    "edited_message",
                    "callback_query",
                    "pre_checkout_query",
                    "my_chat_member",
                ],
                "drop_pending_updates": False,
            },
        )
    ]
    # and CloudFormation was told it succeeded, with a stable physical id (no replacement)
    (response,) = standin.responses
    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == "telegram-webhook"
    assert response["RequestId"] == "req-1"
    assert response["LogicalResourceId"] == "WebhookRegistration"


def test_empty_bot_token_succeeds_without_calling_telegram(
    handler: ModuleType, standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the operator has not put the token in yet (first deploy)
    monkeypatch.setenv("BOT_TOKEN", "")

    handler.handler(_event(standin, "Create"), None)

    assert standin.calls == []
    (response,) = standin.responses
    assert response["Status"] == "SUCCESS"
    assert "BOT_TOKEN is empty" in response["Reason"]
    assert "webhookVersion" in response["Reason"]


def test_telegram_refusal_fails_the_deploy_without_leaking_the_token(
    handler: ModuleType, standin: StandIn
) -> None:
    # given Telegram rejects the token
    standin.answers["setWebhook"] = (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})

    handler.handler(_event(standin, "Create"), None)

    (response,) = standin.responses
    assert response["Status"] == "FAILED"
    assert "setWebhook refused: Unauthorized" in response["Reason"]
    assert TOKEN not in json.dumps(response)


def test_unreachable_telegram_fails_with_a_clear_reason(
    handler: ModuleType, standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:9")  # discard port: connection refused

    handler.handler(_event(standin, "Update"), None)

    (response,) = standin.responses
    assert response["Status"] == "FAILED"
    assert "could not reach the Bot API" in response["Reason"]
    assert TOKEN not in response["Reason"]


def test_delete_removes_our_webhook(handler: ModuleType, standin: StandIn) -> None:
    standin.answers["getWebhookInfo"] = (200, {"ok": True, "result": {"url": URL}})

    handler.handler(_event(standin, "Delete", PhysicalResourceId="telegram-webhook"), None)

    assert standin.methods() == ["getWebhookInfo", "deleteWebhook"]
    assert standin.calls[-1][2] == {"drop_pending_updates": False}
    assert standin.responses[0]["Status"] == "SUCCESS"


def test_delete_leaves_a_webhook_another_stack_now_serves(handler: ModuleType, standin: StandIn) -> None:
    standin.answers["getWebhookInfo"] = (
        200,
        {"ok": True, "result": {"url": "https://other.example/telegram"}},
    )

    handler.handler(_event(standin, "Delete", PhysicalResourceId="telegram-webhook"), None)

    assert standin.methods() == ["getWebhookInfo"]
    assert standin.responses[0]["Status"] == "SUCCESS"
    assert "left as it is" in standin.responses[0]["Reason"]


def test_delete_never_blocks_stack_deletion(handler: ModuleType, standin: StandIn) -> None:
    standin.answers["getWebhookInfo"] = (500, {"ok": False, "description": "Internal Server Error"})

    handler.handler(_event(standin, "Delete", PhysicalResourceId="telegram-webhook"), None)

    assert standin.responses[0]["Status"] == "SUCCESS"
    assert "deleteWebhook skipped" in standin.responses[0]["Reason"]


def test_missing_webhook_secret_fails_instead_of_registering_an_open_webhook(
    handler: ModuleType, standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", "")

    handler.handler(_event(standin, "Create"), None)

    assert standin.calls == []
    assert standin.responses[0]["Status"] == "FAILED"
    assert "WEBHOOK_SECRET" in standin.responses[0]["Reason"]


def test_secrets_are_read_from_the_json_secret_when_secret_id_is_set(
    handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the secret as CDK creates it, filled in by the operator (moto stands in for AWS)
    from moto import mock_aws

    with mock_aws():
        import boto3

        client = boto3.client("secretsmanager", region_name="us-east-1")
        arn = client.create_secret(
            Name="genbot/app",
            SecretString=json.dumps({"BOT_TOKEN": TOKEN, "WEBHOOK_SECRET": SECRET, "X": "y"}),
        )["ARN"]
        monkeypatch.setenv("SECRET_ID", arn)
        monkeypatch.setenv("BOT_TOKEN", "from-env-must-be-ignored")
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)

        assert handler.read_secrets() == (TOKEN, SECRET)


def test_the_command_menu_is_registered_per_language_and_as_the_default(
    handler: ModuleType, standin: StandIn
) -> None:
    # given the commands the stack passes (the same list /help shows)
    from genbot.commands import command_lists

    commands = command_lists()
    event = _event(standin, "Update", PhysicalResourceId="telegram-webhook")
    event["ResourceProperties"]["Commands"] = commands

    handler.handler(event, None)

    # then each language gets its menu, and the first one is the default for other languages
    assert standin.methods() == ["setWebhook", "setMyCommands", "setMyCommands", "setMyCommands"]
    menus = [body for _, method, body in standin.calls if method == "setMyCommands"]
    assert menus[0] == {"commands": commands["ru"], "language_code": "ru"}
    assert menus[1] == {"commands": commands["ru"]}
    assert menus[2] == {"commands": commands["en"], "language_code": "en"}
    assert {c["command"] for c in commands["en"]} >= {"start", "generate", "balance", "buy", "help"}
    assert next(c for c in commands["ru"] if c["command"] == "balance")["description"] == "кредиты и история"
    (response,) = standin.responses
    assert response["Status"] == "SUCCESS" and "commands set for ru, en" in response["Reason"]


def test_the_stack_passes_the_command_lists_to_the_registration(template: Any) -> None:
    from aws_cdk.assertions import Match

    from genbot.commands import command_lists

    template.has_resource_properties(
        "Custom::TelegramWebhook", {"Commands": command_lists(), "Url": Match.any_value()}
    )


def test_a_deploy_without_any_provider_key_says_generation_is_off(
    handler: ModuleType, standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEMINI_API_KEYS", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    handler.handler(_event(standin, "Update", PhysicalResourceId="telegram-webhook"), None)
    (without,) = standin.responses
    assert without["Status"] == "SUCCESS" and "no GEMINI_API_KEYS or OPENAI_API_KEY" in without["Reason"]

    monkeypatch.setenv("OPENAI_API_KEY", "sk-1")
    handler.handler(_event(standin, "Update", PhysicalResourceId="telegram-webhook"), None)
    assert "WARNING" not in standin.responses[1]["Reason"]


CABINET = "https://d111111abcdef8.cloudfront.net/"
MENU_BUTTON = {"type": "web_app", "text": "Cabinet", "web_app": {"url": CABINET}}


def test_the_menu_button_is_set_to_open_the_cabinet(handler: ModuleType, standin: StandIn) -> None:
    # given the stack passes the cabinet's menu button (infra.webhook_registration.menu_button)
    event = _event(standin, "Update", PhysicalResourceId="telegram-webhook")
    event["ResourceProperties"]["MenuButton"] = MENU_BUTTON

    handler.handler(event, None)

    # then the bot's default menu button (no chat_id: every private chat) opens the Mini App
    assert standin.methods() == ["setWebhook", "setChatMenuButton"]
    assert standin.calls[-1] == (TOKEN, "setChatMenuButton", {"menu_button": MENU_BUTTON})
    (response,) = standin.responses
    assert response["Status"] == "SUCCESS" and f"menu button opens {CABINET}" in response["Reason"]


def test_a_refused_menu_button_fails_the_deploy(handler: ModuleType, standin: StandIn) -> None:
    standin.answers["setChatMenuButton"] = (400, {"ok": False, "description": "Bad Request: invalid url"})
    event = _event(standin, "Create")
    event["ResourceProperties"]["MenuButton"] = MENU_BUTTON

    handler.handler(event, None)

    (response,) = standin.responses
    assert response["Status"] == "FAILED"
    assert "setChatMenuButton refused: Bad Request: invalid url" in response["Reason"]


@pytest.mark.parametrize(
    ("current", "reset"),
    [
        (MENU_BUTTON, True),  # still ours: back to the command list
        ({"type": "web_app", "text": "Cabinet", "web_app": {"url": "https://other.example/"}}, False),
        ({"type": "commands"}, False),
    ],
    ids=["ours", "another-cabinet", "commands"],
)
def test_delete_resets_the_menu_button_only_while_it_opens_this_cabinet(
    handler: ModuleType, standin: StandIn, current: dict[str, Any], reset: bool
) -> None:
    standin.answers["getWebhookInfo"] = (200, {"ok": True, "result": {"url": URL}})
    standin.answers["getChatMenuButton"] = (200, {"ok": True, "result": current})
    event = _event(standin, "Delete", PhysicalResourceId="telegram-webhook")
    event["ResourceProperties"]["MenuButton"] = MENU_BUTTON

    handler.handler(event, None)

    expected = ["getWebhookInfo", "deleteWebhook", "getChatMenuButton"]
    assert standin.methods() == [*expected, "setChatMenuButton"] if reset else expected
    if reset:
        assert standin.calls[-1][2] == {"menu_button": {"type": "default"}}
    assert standin.responses[0]["Status"] == "SUCCESS"


def test_delete_succeeds_when_the_menu_button_cannot_be_reset(handler: ModuleType, standin: StandIn) -> None:
    standin.answers["getWebhookInfo"] = (200, {"ok": True, "result": {"url": URL}})
    standin.answers["getChatMenuButton"] = (500, {"ok": False, "description": "Internal Server Error"})
    event = _event(standin, "Delete", PhysicalResourceId="telegram-webhook")
    event["ResourceProperties"]["MenuButton"] = MENU_BUTTON

    handler.handler(event, None)

    (response,) = standin.responses
    assert response["Status"] == "SUCCESS"
    assert "webhook deleted; menu button reset skipped" in response["Reason"]


def test_the_stack_passes_the_cabinet_url_as_the_menu_button(
    template: Any, app_stack: Any, logical_id: Any
) -> None:
    domain = {"Fn::GetAtt": [logical_id(app_stack.site.distribution), "DomainName"]}
    url = {"Fn::Join": ["", ["https://", domain, "/"]]}
    template.has_resource_properties(
        "Custom::TelegramWebhook",
        {"MenuButton": {"type": "web_app", "text": "Cabinet", "web_app": {"url": url}}},
    )
