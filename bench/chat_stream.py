"""The assistant's streaming: time to the first visible piece, pieces shown per answer, AWS calls.

Runs the webhook and generate handlers in-process against a moto server, the Bot API stand-in
and the OpenAI stand-in (streaming ``--tokens``-token answers at ``--delay`` s a chunk). For each
of ``--questions`` questions: AWS calls of the webhook (the question charged and queued) and of
the generate invocation (context read, answer streamed and stored, usage recorded); the time
from the first token the client received to the first piece Telegram took (``first_piece_ms``,
target <= 1 s; the queue's wait excluded); the drafts shown (within ~1/s a chat) and the
answer's duration. Figures are counts and this machine's times, compared within one run.

    .venv/bin/python bench/chat_stream.py [--questions 5] [--tokens 300] [--delay 0.05]
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _offline import use_offline_env

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers/shared/python"), str(ROOT)]
use_offline_env()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=300, help="words in each answer")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds between streamed chunks")
    args = parser.parse_args()

    import botocore.client

    from genbot_local.ai_standins import OpenAIStandIn
    from genbot_local.aws import MotoServer, bootstrap
    from genbot_local.botapi import BotApiStandIn
    from genbot_local.invoke import invoke
    from genbot_local.simulate import BOT_TOKEN, WEBHOOK_SECRET, api_event, sqs_event, telegram_update
    from genbot_local.sqs_driver import SqsDriver

    standin = BotApiStandIn(token=BOT_TOKEN, bot_username="genbot_local_bot").start()
    openai = OpenAIStandIn(keys=("sk-bench",), stream_delay=args.delay, chunk_tokens=3).start()
    moto = MotoServer().start()
    os.environ.update(
        {
            "TELEGRAM_API_URL": standin.base_url,
            "BOT_TOKEN": BOT_TOKEN,
            "WEBHOOK_SECRET": WEBHOOK_SECRET,
            "AWS_ENDPOINT_URL": moto.endpoint,
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_BASE_URL": openai.base_url,
        }
    )
    os.environ.update(bootstrap(prefix="genbot", endpoint=moto.endpoint))
    from genbot.config import get_settings
    from genbot.resources import QUEUES
    from genbot.store.models import Job

    get_settings.cache_clear()
    calls: collections.Counter[str] = collections.Counter()
    original = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation: str, params: dict[str, Any]) -> Any:
        calls[f"{self.meta.service_model.service_name}:{operation}"] += 1
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = counting  # type: ignore[method-assign]

    def webhook(text: str | None = None, data: str | None = None) -> Any:
        kind = "callback_query" if data else "message_text"
        fields = {"data": data} if data else {"text": text}
        update = telegram_update(kind, user_id=42, **fields)
        return invoke("webhook", api_event(update))

    webhook("/start")
    webhook("/ask")
    webhook(data="chat:trial")
    spec = QUEUES["jobs"]
    jobs = SqsDriver.for_queue(
        spec, os.environ[spec.env_var], lambda e: invoke(spec.consumer, e), wait_seconds=0
    )
    rows = []
    for i in range(args.questions):
        openai.reply_next(" ".join(f"word{n}" for n in range(args.tokens)))
        standin.clear_calls()
        calls.clear()
        webhook(f"question {i}")
        asked = sum(calls.values())
        message = jobs.receive()
        calls.clear()
        started = time.monotonic()
        invoke("generate", sqs_event(message, jobs.arn))
        took = time.monotonic() - started
        answered, detail = sum(calls.values()), dict(calls)
        drafts = len([c for c in standin.calls_for("sendMessageDraft") if c.ok])
        flood = len([c for c in standin.calls if not c.ok and (c.response or {}).get("error_code") == 429])
        job = max((j for j in Job.scan() if j.mode == "chat"), key=lambda j: j.created_at)
        rows.append((asked, answered, job.first_piece_ms, drafts, took, flood, detail))
    for n, (asked, answered, first, drafts, took, flood, _) in enumerate(rows):
        print(
            f"question {n}: AWS calls webhook {asked} + generate {answered}; first piece {first} ms after "
            f"the first token; drafts {drafts} in {took:.1f} s ({drafts / took:.2f}/s); 429s {flood}"
        )
    print(f"generate's AWS calls (last answer): {rows[-1][6]}")
    firsts = [r[2] for r in rows if r[2] is not None]
    print(
        f"first visible piece after the first token: median {statistics.median(firsts):.0f} ms, "
        f"max {max(firsts)} ms (target <= 1000)"
    )
    print(f"AWS calls per chat message: {statistics.mean(r[0] + r[1] for r in rows):.1f}")
    botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]
    from genbot import runtime

    runtime.forget_bot()
    for server in (standin, openai, moto):
        server.stop()


if __name__ == "__main__":
    main()
