"""Deploy-time knobs, read from CDK context (``-c key=value`` or cdk.json).

Values given on the command line arrive as strings, so every knob is parsed here, once, and a
bad value fails the synth naming the key.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from constructs import Node

SKIP_DEPS_ENV = "GENBOT_SKIP_LAYER_DEPS"
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{4,31}$")
MAX_BUTTON_TEXT = 64


class SettingsError(ValueError):
    """A context value is malformed; the message names the key."""


def flag(value: Any, key: str) -> bool:
    """A true/false context value (``-c key=false`` arrives as a string)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"context {key}={value!r}: expected true or false")


def _int(value: Any, key: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SettingsError(f"context {key}={value!r}: expected a whole number") from None


def _env(value: Any, key: str) -> dict[str, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise SettingsError(f"context {key}: expected a JSON object of NAME: value") from None
    if not isinstance(value, dict) or not all(_ENV_NAME.match(str(k)) for k in value):
        raise SettingsError(f"context {key}: expected an object with UPPER_CASE variable names")
    return {str(k): str(v) for k, v in value.items()}


def _username(value: Any) -> str | None:
    name = str(value or "").strip().removeprefix("@")
    if not name:
        return None
    if not _USERNAME.match(name):
        raise SettingsError(f"context botUsername={value!r}: expected a bot username (5-32 of A-Za-z0-9_)")
    return name


def _text(value: Any, key: str) -> str:
    text = str(value).strip()
    if not 1 <= len(text) <= MAX_BUTTON_TEXT:  # a label next to the input field: keep it short
        raise SettingsError(f"context {key}={value!r}: expected 1-{MAX_BUTTON_TEXT} characters")
    return text


_RELEASE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _release(value: Any) -> str:
    """``-c release=NAME``, else the checkout's commit (``git rev-parse --short=12 HEAD``), else
    "unknown" (not a git checkout)."""
    text = str(value or "").strip()
    if not text:
        try:
            done = subprocess.run(
                ["git", "rev-parse", "--short=12", "HEAD"],
                cwd=Path(__file__).resolve().parent,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return "unknown"
        text = done.stdout.strip() if done.returncode == 0 else ""
        return text or "unknown"
    if not _RELEASE.match(text):
        raise SettingsError(f"context release={value!r}: expected 1-64 of A-Za-z0-9._- (e.g. a commit)")
    return text


@dataclass(frozen=True)
class DeploySettings:
    """Everything about a deployment that is not in the specs."""

    bundle_deps: bool = True  # False ships only the genbot sources (fast tests)
    alarm_email: str | None = None
    webhook_version: str = "1"  # change it to re-run setWebhook (e.g. after setting BOT_TOKEN)
    telegram_api_url: str | None = None
    log_retention_days: int = 30
    api_rate_limit: int = 50  # requests/s on the default stage; Telegram opens <= 40 connections
    api_burst_limit: int = 100
    cabinet_rate_limit: int = 20  # the cabinet's routes: a person makes a handful of calls
    cabinet_burst_limit: int = 40
    api_access_logs: bool = True
    function_env: dict[str, str] = field(default_factory=dict)  # e.g. {"ADMIN_IDS": "1,2"}
    bot_username: str | None = None  # the cabinet's config.json (links to the bot); without "@"
    menu_button_text: str = "Cabinet"  # the chat's menu button that opens the cabinet
    # what is deployed (every function's GENBOT_RELEASE): a new release publishes a new version
    # of every function, so `genbot release rollback` moves them all back to the previous one
    release: str = ""

    @classmethod
    def from_context(cls, node: Node) -> DeploySettings:
        def get(key: str) -> Any:
            return node.try_get_context(key)

        bundle = flag(get("bundle"), "bundle") if get("bundle") is not None else True
        if os.environ.get(SKIP_DEPS_ENV, "").strip() in {"1", "true", "yes"}:
            bundle = False
        defaults = cls()
        return cls(
            bundle_deps=bundle,
            alarm_email=get("alarmEmail") or None,
            webhook_version=str(get("webhookVersion") or defaults.webhook_version),
            telegram_api_url=get("telegramApiUrl") or None,
            log_retention_days=_int(
                get("logRetentionDays") or defaults.log_retention_days, "logRetentionDays"
            ),
            api_rate_limit=_int(get("apiRateLimit") or defaults.api_rate_limit, "apiRateLimit"),
            api_burst_limit=_int(get("apiBurstLimit") or defaults.api_burst_limit, "apiBurstLimit"),
            cabinet_rate_limit=_int(
                get("cabinetRateLimit") or defaults.cabinet_rate_limit, "cabinetRateLimit"
            ),
            cabinet_burst_limit=_int(
                get("cabinetBurstLimit") or defaults.cabinet_burst_limit, "cabinetBurstLimit"
            ),
            api_access_logs=flag(
                get("apiAccessLogs") if get("apiAccessLogs") is not None else True, "apiAccessLogs"
            ),
            function_env=_env(get("functionEnv") or {}, "functionEnv"),
            bot_username=_username(get("botUsername")),
            menu_button_text=_text(get("menuButtonText") or defaults.menu_button_text, "menuButtonText"),
            release=_release(get("release")),
        )
