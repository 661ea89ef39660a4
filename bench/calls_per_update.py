"""AWS and Telegram calls per update, counted on the real code path.

Runs the webhook and generate handlers in-process against a moto server and the Bot API
stand-in, counting every AWS API call (botocore's ``_make_api_call``, which boto3 and
PynamoDB both go through) and every Bot API call the stand-in records. A reply carried in
the webhook response is listed separately: Telegram executes it, costing us no round trip.

    .venv/bin/python bench/calls_per_update.py
"""

from __future__ import annotations

import collections
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers/shared/python"), str(ROOT)]

from genbot_local.simulate import (  # noqa: E402
    BOT_TOKEN,
    WEBHOOK_SECRET,
    api_event,
    reply_body,
    sqs_event,
    telegram_update,
)

os.environ.update(
    AWS_ACCESS_KEY_ID="bench",
    AWS_SECRET_ACCESS_KEY="bench",
    AWS_DEFAULT_REGION="us-east-1",
    BOT_TOKEN=BOT_TOKEN,
    WEBHOOK_SECRET=WEBHOOK_SECRET,
    POWERTOOLS_TRACE_DISABLED="true",
    LOG_LEVEL="ERROR",
    VIDEO_POLL_SECONDS="0",
)
for name in ("OPENAI_API_KEY", "GEMINI_API_KEYS", "SECRET_ID"):
    os.environ.pop(name, None)

import botocore.client  # noqa: E402

aws_calls: collections.Counter[str] = collections.Counter()
_original = botocore.client.BaseClient._make_api_call


def _counting(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
    aws_calls[f"{self.meta.service_model.service_name}:{operation_name}"] += 1
    return _original(self, operation_name, api_params)


botocore.client.BaseClient._make_api_call = _counting  # type: ignore[method-assign]


def measure(label: str, action: Callable[[], Any], standin: Any, rows: list[tuple[str, ...]]) -> Any:
    aws_calls.clear()
    standin.clear_calls()
    result = action()
    telegram = collections.Counter(c.method for c in standin.calls)
    in_reply = (
        reply_body(result).get("method", "-") if isinstance(result, dict) and "statusCode" in result else "-"
    )
    rows.append(
        (
            label,
            str(sum(aws_calls.values())),
            " ".join(f"{k}x{v}" for k, v in sorted(aws_calls.items())),
            str(sum(telegram.values())),
            " ".join(f"{k}x{v}" for k, v in sorted(telegram.items())),
            in_reply,
        )
    )
    return result


def main() -> None:
    from genbot_local import fake_provider
    from genbot_local.aws import MotoServer, bootstrap
    from genbot_local.botapi import BotApiStandIn
    from genbot_local.invoke import invoke

    fake_provider.register()

    standin = BotApiStandIn(token=BOT_TOKEN, bot_username="genbot_local_bot")
    standin.start()
    os.environ["TELEGRAM_API_URL"] = standin.base_url
    moto = MotoServer().start()
    os.environ["AWS_ENDPOINT_URL"] = moto.endpoint
    os.environ.update(bootstrap(prefix="genbot", endpoint=moto.endpoint))
    from genbot.config import get_settings

    get_settings.cache_clear()  # bootstrap read them before the tables' names were set
    from genbot.resources import QUEUES
    from genbot.store.models import User
    from genbot.telegram.callbacks import DraftAction, DraftCb
    from genbot_local.sqs_driver import SqsDriver

    def webhook(update: dict[str, Any]) -> dict[str, Any]:
        return invoke("webhook", api_event(update))

    invoke("webhook", api_event(telegram_update("message_start", user_id=1)))  # warm the instance
    rows: list[tuple[str, ...]] = []
    measure("/start, new user", lambda: webhook(telegram_update("message_start", user_id=42)), standin, rows)
    measure(
        "/start, known user", lambda: webhook(telegram_update("message_start", user_id=42)), standin, rows
    )
    measure(
        "/balance",
        lambda: webhook(telegram_update("message_text", user_id=42, text="/balance")),
        standin,
        rows,
    )
    duplicate = telegram_update("message_text", user_id=42, text="/balance")
    webhook(duplicate)
    measure("duplicate delivery", lambda: webhook(duplicate), standin, rows)
    measure(
        "forged secret",
        lambda: invoke("webhook", api_event(telegram_update("message_start", user_id=42), secret="x")),
        standin,
        rows,
    )

    # A generation: walk the menu, then count the confirmation (accept) and the job (complete).
    def press(action: DraftAction, **fields: Any) -> dict[str, Any]:
        draft = str(User.get(42).draft_nonce)
        data = DraftCb(action=action, draft=draft, **fields).pack()
        return telegram_update("callback_query", user_id=42, data=data)

    webhook(telegram_update("message_text", user_id=42, text="/generate"))
    webhook(press(DraftAction.MODE, mode="image"))
    webhook(press(DraftAction.TIER, tier="standard"))
    measure(
        "prompt text (draft step)",
        lambda: webhook(telegram_update("message_text", user_id=42, text="a fox")),
        standin,
        rows,
    )
    confirm = press(DraftAction.CONFIRM)
    measure("accept a generation (confirm)", lambda: webhook(confirm), standin, rows)
    spec = QUEUES["jobs"]
    jobs = SqsDriver.for_queue(
        spec, os.environ[spec.env_var], lambda e: invoke(spec.consumer, e), wait_seconds=0
    )
    message = jobs.receive()  # received as the event source does; the invocation alone is counted
    measure(
        "complete a job (generate)", lambda: invoke("generate", sqs_event(message, jobs.arn)), standin, rows
    )

    widths = [max(len(r[i]) for r in [*rows, HEADER]) for i in range(len(HEADER))]
    for row in [HEADER, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    standin.stop()
    moto.stop()


HEADER = ("scenario", "AWS", "AWS calls", "Telegram", "Telegram calls", "reply in response")

if __name__ == "__main__":
    main()
