"""The generate Lambda's own CPU per job, beyond the provider call, with the fake provider.

moto and the Bot API stand-in run in a child process, so this process's CPU time
(``time.process_time``) is the handler's: event parsing, DynamoDB/S3/SQS client work,
the state machine, Telegram sends. The fake provider's own CPU for the same requests is
measured separately and subtracted. Target: <= 50 ms CPU per job.

    .venv/bin/python bench/generate_overhead.py [--jobs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers/shared/python"), str(ROOT)]

from genbot_local.simulate import BOT_TOKEN, sqs_event  # noqa: E402

SERVERS = f"""
import sys, time
sys.path[:0] = [{str(ROOT / "layers/shared/python")!r}]
from genbot_local.aws import MotoServer
from genbot_local.botapi import BotApiStandIn
moto = MotoServer().start()
standin = BotApiStandIn(token={BOT_TOKEN!r}, flood=None).start()
print(moto.endpoint, standin.base_url, flush=True)
time.sleep(3600)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=30)
    count = parser.parse_args().jobs
    env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    os.environ.update(env)
    servers = subprocess.Popen(
        [sys.executable, "-c", SERVERS], stdout=subprocess.PIPE, text=True, env={**os.environ}
    )
    try:
        assert servers.stdout is not None
        moto_url, telegram_url = servers.stdout.readline().split()
        os.environ.update(
            AWS_ENDPOINT_URL=moto_url,
            TELEGRAM_API_URL=telegram_url,
            BOT_TOKEN=BOT_TOKEN,
            WEBHOOK_SECRET="bench",
            POWERTOOLS_TRACE_DISABLED="true",
            LOG_LEVEL="ERROR",
            POWERTOOLS_METRICS_NAMESPACE="bench",
        )
        run(count)
    finally:
        servers.kill()


def run(count: int) -> None:
    import boto3

    from genbot.config import get_settings
    from genbot.jobs import service
    from genbot.ledger import Posting, apply
    from genbot.providers.base import GenerationRequest
    from genbot.providers.router import ProviderRouter
    from genbot.store.models import User
    from genbot_local import fake_provider
    from genbot_local.aws import bootstrap
    from genbot_local.invoke import invoke

    fake_provider.register()

    os.environ.update(bootstrap(prefix="genbot", endpoint=os.environ["AWS_ENDPOINT_URL"]))
    os.environ["MAX_USER_QUEUE"] = str(count + 10)
    get_settings.cache_clear()
    settings = get_settings()
    sqs = boto3.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=settings.jobs_queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    User(1, balance=0).save()
    apply(Posting(1, "grant#bench", count + 1, "grant"))

    def one_job(i: int) -> float:
        service.create(
            settings, service.NewJob(f"bench-{i}", 1, 1, "image", "standard", f"a fox number {i}", 1)
        )
        message = sqs.receive_message(QueueUrl=settings.jobs_queue_url, AttributeNames=["All"])["Messages"]
        started = time.process_time()
        result = invoke("generate", sqs_event(message, arn))
        spent = time.process_time() - started
        assert not result["batchItemFailures"], result
        sqs.delete_message(QueueUrl=settings.jobs_queue_url, ReceiptHandle=message[0]["ReceiptHandle"])
        return spent

    one_job(-1)  # the first invocation imports the function: a cold start, not counted
    handler_cpu = [one_job(i) for i in range(count)]

    router = ProviderRouter(settings)
    loop = asyncio.new_event_loop()
    provider_cpu = []
    for i in range(count):
        started = time.process_time()
        loop.run_until_complete(router.run(GenerationRequest("image", "standard", f"a fox number {i}")))
        provider_cpu.append(time.process_time() - started)

    h, p = statistics.median(handler_cpu), statistics.median(provider_cpu)
    print(f"jobs: {count} (image, fake provider), warm function")
    print(f"generate handler CPU per job:   median {h * 1000:.1f} ms")
    print(f"fake provider CPU per job:      median {p * 1000:.1f} ms")
    print(f"overhead beyond the provider:   median {(h - p) * 1000:.1f} ms (target <= 50 ms)")
    from genbot import runtime

    runtime.forget_bot()  # close the function's Bot session before the interpreter goes
    loop.close()


if __name__ == "__main__":
    main()
