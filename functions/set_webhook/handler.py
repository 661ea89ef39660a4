"""CloudFormation custom resource: point Telegram's webhook at this stack's API.

Create/Update -> ``setWebhook(url, secret_token, allowed_updates, drop_pending_updates=false)``
and ``setMyCommands`` for each language in the ``Commands`` property (the first language's
list is also the default for clients in other languages), and ``setChatMenuButton`` with the
``MenuButton`` property when there is one (a ``web_app`` button opening the cabinet);
Delete -> ``deleteWebhook``, but only while the webhook still points at this stack (so deleting
an old stack does not unhook a bot another stack now serves), and the menu button back to the
default, likewise only while it still opens this stack's cabinet.

Standard library only (plus boto3, which the Lambda runtime has): the function runs without the
shared layer, so it deploys fast and cannot break when the layer does. It answers CloudFormation
itself by PUTting to the pre-signed ``ResponseURL``, and always answers, whatever happens, so a
bug here can't leave a stack waiting an hour.

Secrets come from the JSON secret ``SECRET_ID``; when that is unset (tests, local runs) from the
``BOT_TOKEN`` and ``WEBHOOK_SECRET`` environment variables. An empty ``BOT_TOKEN`` is not an error:
the first deploy happens before the operator has put the token in; they deploy again with a new
``webhookVersion`` afterwards.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from typing import Any

DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "pre_checkout_query", "my_chat_member"]
PHYSICAL_ID = "telegram-webhook"
TIMEOUT_SECONDS = 15

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)


class TelegramError(RuntimeError):
    """Telegram refused a call or could not be reached; the message never holds the token."""


PROVIDER_KEYS = ("GEMINI_API_KEYS", "OPENAI_API_KEY")


def read_secret_values() -> dict[str, str]:
    """The app secret's values from Secrets Manager, or from the environment without it."""
    names = ("BOT_TOKEN", "WEBHOOK_SECRET", *PROVIDER_KEYS)
    secret_id = os.environ.get("SECRET_ID", "")
    if not secret_id:
        return {name: os.environ.get(name, "") for name in names}
    import boto3

    raw = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    values = json.loads(raw)
    return {name: str(values.get(name) or "") for name in names}


def read_secrets() -> tuple[str, str]:
    """``(BOT_TOKEN, WEBHOOK_SECRET)``."""
    values = read_secret_values()
    return values["BOT_TOKEN"], values["WEBHOOK_SECRET"]


def provider_warning(values: dict[str, str]) -> str:
    """Say so at deploy time when no AI provider has a key: the bot then offers no generation."""
    if any(values.get(name, "").strip(" ,") for name in PROVIDER_KEYS):
        return ""
    return (
        "; WARNING: no GEMINI_API_KEYS or OPENAI_API_KEY in the secret: the bot offers no generation "
        "until one is set (it charges no one meanwhile)"
    )


def call_telegram(token: str, method: str, params: dict[str, Any]) -> Any:
    """POST a Bot API method as JSON; returns ``result`` or raises ``TelegramError``."""
    base = os.environ.get("TELEGRAM_API_URL") or DEFAULT_TELEGRAM_API_URL
    request = urllib.request.Request(  # noqa: S310 (https, or a test server)
        f"{base.rstrip('/')}/bot{token}/{method}",
        data=json.dumps(params).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 (https or a test server)
            body = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:  # Telegram answers errors as JSON with 4xx
        try:
            body = json.loads(exc.read() or b"{}")
        except ValueError:
            body = {"description": f"HTTP {exc.code}"}
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        raise TelegramError(f"{method}: could not reach the Bot API ({_scrub(str(exc), token)})") from None
    if not body.get("ok"):
        description = _scrub(str(body.get("description") or "no description"), token)
        raise TelegramError(f"{method} refused: {description}")
    return body.get("result")


def _scrub(text: str, token: str) -> str:
    return text.replace(token, "***") if token else text


def register(url: str, token: str, secret: str) -> str:
    call_telegram(
        token,
        "setWebhook",
        {
            "url": url,
            "secret_token": secret,
            "allowed_updates": ALLOWED_UPDATES,
            "drop_pending_updates": False,
        },
    )
    return f"webhook set to {url}"


def set_commands(token: str, commands: dict[str, list[dict[str, str]]]) -> str:
    """The "/" menu per language (``language_code``), the first language also as the default."""
    for i, (language, items) in enumerate(commands.items()):
        call_telegram(token, "setMyCommands", {"commands": items, "language_code": language})
        if i == 0:
            call_telegram(token, "setMyCommands", {"commands": items})
    return f"commands set for {', '.join(commands) or 'no language'}"


def set_menu_button(token: str, button: dict[str, Any]) -> str:
    """The bot's default menu button (every private chat without one of its own)."""
    call_telegram(token, "setChatMenuButton", {"menu_button": button})
    return f"menu button opens {_button_url(button) or button.get('type')}"


def reset_menu_button(token: str, button: dict[str, Any]) -> str:
    """Back to the default (the command list), unless another stack's cabinet has it now."""
    current = call_telegram(token, "getChatMenuButton", {}) or {}
    if _button_url(current) != _button_url(button):
        return "menu button opens something else; left as it is"
    call_telegram(token, "setChatMenuButton", {"menu_button": {"type": "default"}})
    return "menu button reset"


def _button_url(button: dict[str, Any]) -> str:
    return str((button.get("web_app") or {}).get("url") or "")


def unregister(url: str, token: str) -> str:
    info = call_telegram(token, "getWebhookInfo", {}) or {}
    current = info.get("url", "")
    if current and current != url:
        return f"webhook points at {current}, not this stack; left as it is"
    call_telegram(token, "deleteWebhook", {"drop_pending_updates": False})
    return "webhook deleted"


def apply(event: dict[str, Any]) -> str:
    """Do what the request asks; returns the message for CloudFormation, raises on failure."""
    request_type = event["RequestType"]
    properties = event["ResourceProperties"]
    url = properties["Url"]
    menu = properties.get("MenuButton") or {}
    values = read_secret_values()
    token, secret = values["BOT_TOKEN"], values["WEBHOOK_SECRET"]
    if not token:
        return (
            "BOT_TOKEN is empty in the secret: webhook not registered. Put the token in the secret, "
            "then deploy again with a new webhookVersion (-c webhookVersion=<n>)."
        )
    if request_type == "Delete":  # never block a stack deletion on Telegram
        try:
            done = unregister(url, token)
        except TelegramError as exc:
            done = f"deleteWebhook skipped: {exc}"
        if menu:
            try:
                done += "; " + reset_menu_button(token, menu)
            except TelegramError as exc:
                done += f"; menu button reset skipped: {exc}"
        return done
    if not secret:
        raise TelegramError("WEBHOOK_SECRET is empty in the secret; set one (A-Za-z0-9_-, 1-256 chars)")
    done = register(url, token, secret)
    commands = properties.get("Commands") or {}
    if commands:
        done += "; " + set_commands(token, commands)
    if menu:
        done += "; " + set_menu_button(token, menu)
    warning = provider_warning(values)
    if warning:
        logger.warning(warning.lstrip("; "))
    return done + warning


def respond(event: dict[str, Any], status: str, reason: str) -> None:
    body = {
        "Status": status,
        "Reason": reason[:3000],
        "PhysicalResourceId": event.get("PhysicalResourceId") or PHYSICAL_ID,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "NoEcho": False,
        "Data": {"Message": reason[:1000]},
    }
    request = urllib.request.Request(  # noqa: S310 (CloudFormation's pre-signed https URL)
        event["ResponseURL"],
        data=json.dumps(body).encode(),
        headers={"Content-Type": ""},  # the pre-signed URL was signed without one
        method="PUT",
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 (CloudFormation's URL)
        response.read()


def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    request_type = event.get("RequestType", "?")
    try:
        status, reason = "SUCCESS", apply(event)
    except Exception as exc:
        status, reason = "FAILED", f"{type(exc).__name__}: {exc}"
    log = logger.info if status == "SUCCESS" else logger.error
    log("custom resource %s: %s %s", request_type, status, reason)
    respond(event, status, reason)
    return {"Status": status, "Reason": reason}
