"""AWS and Telegram calls per cabinet API route, counted on the real code path.

Runs the ``cabinet_api`` handler in-process against a moto server and the Bot API stand-in,
with a user registered through the webhook and a ledger and gallery of a few pages, counting
every AWS API call (botocore's ``_make_api_call``: boto3 and PynamoDB both go through it) and
every Bot API call the stand-in records. Target: one Query for a page of ledger or gallery,
no Scan anywhere. Also prints the median time per request (warm instance), for ratios only.

    .venv/bin/python bench/cabinet_api.py
"""

from __future__ import annotations

import collections
import copy
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers/shared/python"), str(ROOT)]

from genbot_local.simulate import BOT_TOKEN, WEBHOOK_SECRET, api_event, load_event, telegram_update  # noqa: E402
from genbot_local.webapp import sign_init_data  # noqa: E402

os.environ.update(
    AWS_ACCESS_KEY_ID="bench",
    AWS_SECRET_ACCESS_KEY="bench",
    AWS_DEFAULT_REGION="us-east-1",
    BOT_TOKEN=BOT_TOKEN,
    WEBHOOK_SECRET=WEBHOOK_SECRET,
    POWERTOOLS_TRACE_DISABLED="true",
    LOG_LEVEL="ERROR",
)
for name in ("OPENAI_API_KEY", "GEMINI_API_KEYS", "SECRET_ID"):
    os.environ.pop(name, None)

import botocore.client  # noqa: E402

aws_calls: collections.Counter[str] = collections.Counter()
_original = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]


def _counting(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
    aws_calls[f"{self.meta.service_model.service_name}:{operation_name}"] += 1
    return _original(self, operation_name, api_params)


botocore.client.BaseClient._make_api_call = _counting  # type: ignore[attr-defined]

USER = 42
HEADER = ("route", "status", "AWS", "AWS calls", "Telegram calls", "median ms")


def request(
    method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None
) -> dict[str, Any]:
    event = copy.deepcopy(load_event("apigw_http_cabinet.json"))
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/cabinet{path}"
    event["requestContext"]["http"]["method"] = method
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    event["rawQueryString"] = urlencode(query or {})
    if query:
        event["queryStringParameters"] = {k: str(v) for k, v in query.items()}
    init_data = sign_init_data(BOT_TOKEN, {"id": USER, "first_name": "Bench"})
    event["headers"]["authorization"] = f"tma {init_data}"
    if body is not None:
        event["body"] = json.dumps(body)
        event["headers"]["content-type"] = "application/json"
    return event


def main() -> None:
    from genbot_local.aws import MotoServer, bootstrap
    from genbot_local.botapi import BotApiStandIn
    from genbot_local.invoke import invoke

    standin = BotApiStandIn(token=BOT_TOKEN, bot_username="genbot_local_bot")
    standin.start()
    os.environ["TELEGRAM_API_URL"] = standin.base_url
    moto = MotoServer().start()
    os.environ["AWS_ENDPOINT_URL"] = moto.endpoint
    os.environ.update(bootstrap(prefix="genbot", endpoint=moto.endpoint))
    from genbot.config import get_settings

    get_settings.cache_clear()
    from genbot.ledger import Posting, apply
    from genbot.payments import promo
    from genbot.store.models import Job
    from genbot.vocab import EntryKind

    invoke("webhook", api_event(telegram_update("message_start", user_id=USER)))
    for i in range(45):
        apply(Posting(USER, f"grant#bench-{i}", 1, EntryKind.GRANT))
    for i in range(45):
        mode = "chat" if i % 3 == 0 else "image"
        key = f"media/{USER}/j{i}.png" if mode == "image" else None
        Job(
            f"j{i}", user_id=USER, chat_id=USER, mode=mode, price=1, status="succeeded", result_key=key
        ).save()
    promo.create("BENCH", credits=1, max_uses=1000)

    def call(method: str, path: str, **kwargs: Any) -> Callable[[], dict[str, Any]]:
        return lambda: invoke("cabinet_api", request(method, path, **kwargs))

    first_ledger = json.loads(call("GET", "/ledger")()["body"])
    first_gallery = json.loads(call("GET", "/generations")()["body"])
    scenarios: list[tuple[str, Callable[[], dict[str, Any]], int]] = [
        ("GET /me", call("GET", "/me"), 20),
        ("GET /ledger (first page, 20)", call("GET", "/ledger"), 20),
        (
            "GET /ledger (next page)",
            call("GET", "/ledger", query={"cursor": first_ledger["next_cursor"]}),
            20,
        ),
        ("GET /generations (first page, 20)", call("GET", "/generations"), 20),
        (
            "GET /generations (next page)",
            call("GET", "/generations", query={"cursor": first_gallery["next_cursor"]}),
            20,
        ),
        ("GET /packs", call("GET", "/packs"), 20),
        ("POST /buy (stars)", call("POST", "/buy", body={"product_id": "pack_s", "method": "stars"}), 5),
        ("POST /promo (redeemed)", call("POST", "/promo", body={"code": "BENCH"}), 1),
        ("POST /promo (already used)", call("POST", "/promo", body={"code": "BENCH"}), 5),
        ("PATCH /settings (language)", call("PATCH", "/settings", body={"language": "en"}), 5),
        ("GET /ledger (foreign cursor)", call("GET", "/ledger", query={"cursor": "e30.AAAA"}), 20),
        ("GET /openapi.json", lambda: invoke("cabinet_api", _no_auth("/openapi.json")), 20),
    ]
    rows: list[tuple[str, ...]] = []
    for label, action, repeat in scenarios:
        aws_calls.clear()
        standin.clear_calls()
        result = action()
        telegram = collections.Counter(c.method for c in standin.calls)
        counted = dict(aws_calls)
        times = []
        for _ in range(repeat - 1):
            started = time.perf_counter()
            action()
            times.append((time.perf_counter() - started) * 1000)
        rows.append(
            (
                label,
                str(result["statusCode"]),
                str(sum(counted.values())),
                " ".join(f"{k}x{v}" for k, v in sorted(counted.items())) or "-",
                " ".join(f"{k}x{v}" for k, v in sorted(telegram.items())) or "-",
                f"{statistics.median(times):.1f}" if times else "-",
            )
        )
    widths = [max(len(r[i]) for r in [*rows, HEADER]) for i in range(len(HEADER))]
    for row in [HEADER, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    standin.stop()
    moto.stop()


def _no_auth(path: str) -> dict[str, Any]:
    event = request("GET", path)
    del event["headers"]["authorization"]
    return event


if __name__ == "__main__":
    main()
