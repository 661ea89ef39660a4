"""CPU of the webhook's first update after import, with and without SnapStart priming.

SnapStart runs the function's init (the handler module import), then the before-snapshot
hooks, snapshots, and on restore runs the after-restore hooks before the first invocation.
Each sample here is a fresh interpreter that imports the real handler as Lambda does and
then either (a) takes the first update straight away (a cold start without priming), or
(b) runs ``genbot.snapstart``'s before-snapshot hook, then its after-restore hook, then
takes the first update. Then warm updates on the same instance.

The first update is ``/start`` of a new user, the second ``/balance``; warm numbers are
medians of several of each. moto and the Bot API stand-in run in ANOTHER process, so only
the handler's CPU is counted (``time.process_time`` around ``invoke``). Never fails on time.

    .venv/bin/python bench/first_update.py [--runs 3] [--warm 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers/shared/python"
MARK = "FIRST_UPDATE_RESULT "

ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "genbot-bench",
    "LOG_LEVEL": "ERROR",
    "VIDEO_POLL_SECONDS": "0",
    "PYTHONPATH": os.pathsep.join([str(LAYER), str(ROOT)]),
}


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    from genbot_local.simulate import BOT_TOKEN, WEBHOOK_SECRET  # the stand-in serves this token

    env = {**os.environ, **ENV, "BOT_TOKEN": BOT_TOKEN, "WEBHOOK_SECRET": WEBHOOK_SECRET, **extra}
    # Bytecode cached as in bench/cold_import.py (PYTHONDONTWRITEBYTECODE, set to anything, would
    # have every interpreter compile aiogram again: the init line would measure the compiler).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(
        Path(tempfile.gettempdir()) / f"genbot-bench-pycache-{sys.version_info[0]}.{sys.version_info[1]}"
    )
    for name in ("OPENAI_API_KEY", "GEMINI_API_KEYS", "SECRET_ID"):
        env.pop(name, None)
    return env


# --- the services process: moto + tables, and the Bot API stand-in --------------------------


def serve() -> None:
    """Start moto (with the app's tables and queues) and the stand-in; print their env; wait."""
    from genbot_local.aws import MotoServer, bootstrap
    from genbot_local.botapi import BotApiStandIn
    from genbot_local.simulate import BOT_TOKEN

    moto = MotoServer().start()
    env = bootstrap(prefix="genbot", endpoint=moto.endpoint)
    standin = BotApiStandIn(token=BOT_TOKEN, bot_username="genbot_local_bot")
    standin.start()
    env.update(AWS_ENDPOINT_URL=moto.endpoint, TELEGRAM_API_URL=standin.base_url)
    print(json.dumps(env), flush=True)
    sys.stdin.read()  # until the parent closes the pipe
    standin.stop()
    moto.stop()


# --- one sample: a fresh interpreter driving the real handler -------------------------------


def drive(primed: bool, warm: int, base: int) -> None:
    from genbot_local.invoke import invoke, load_handler
    from genbot_local.simulate import api_event, telegram_update

    ids = iter(range(base, base + 10_000))

    def update(name: str, user_id: int, **changes: Any) -> dict[str, Any]:
        # Unique update ids per sample: every sample talks to the same tables (dedupe).
        return {**telegram_update(name, user_id=user_id, **changes), "update_id": next(ids)}

    def cpu(payload: dict[str, Any]) -> float:
        event = api_event(payload)
        started = time.process_time()
        response = invoke("webhook", event)
        spent = time.process_time() - started
        if response.get("statusCode") != 200:
            raise SystemExit(f"webhook answered {response}")
        return spent

    started = time.process_time()
    load_handler("webhook")  # the init phase: import the handler module
    result: dict[str, Any] = {"import": time.process_time() - started}
    if primed:
        from genbot import snapstart

        started = time.process_time()
        snapstart.before_snapshot()
        result["before_snapshot"] = time.process_time() - started
        started = time.process_time()
        snapstart.after_restore()
        result["after_restore"] = time.process_time() - started

    user = base
    result["first_start"] = cpu(update("message_start", user))
    result["first_balance"] = cpu(update("message_text", user, text="/balance"))
    starts, balances = [], []
    for i in range(1, warm + 1):
        starts.append(cpu(update("message_start", user + i)))
        balances.append(cpu(update("message_text", user + i, text="/balance")))
    result["warm_start"] = statistics.median(starts)
    result["warm_balance"] = statistics.median(balances)
    print(MARK + json.dumps(result), flush=True)


def sample(env: dict[str, str], primed: bool, warm: int, base: int) -> dict[str, float]:
    args = [sys.executable, __file__, "--drive", "primed" if primed else "cold"]
    args += ["--warm", str(warm), "--base", str(base)]
    out = subprocess.run(args, capture_output=True, text=True, env=_child_env(env), cwd=ROOT)
    lines = [line for line in out.stdout.splitlines() if line.startswith(MARK)]
    if out.returncode or not lines:
        raise SystemExit(f"sample failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return dict(json.loads(lines[-1][len(MARK) :]))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3, help="fresh interpreters per variant (alternating)")
    parser.add_argument("--warm", type=int, default=7, help="warm updates of each kind per interpreter")
    parser.add_argument("--drive", choices=["cold", "primed"], help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve()
    if args.drive:
        return drive(args.drive == "primed", args.warm, args.base)

    services = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_child_env({}),
        cwd=ROOT,
    )
    assert services.stdin and services.stdout
    try:
        env = json.loads(services.stdout.readline())
        samples: dict[bool, list[dict[str, float]]] = {False: [], True: []}
        for run in range(args.runs):
            for primed in (False, True):  # alternate, so machine noise hits both
                base = 1_000_000 * (2 * run + primed + 1)
                samples[primed].append(sample(env, primed, args.warm, base))
    finally:
        services.stdin.close()
        services.wait(timeout=30)

    def med(primed: bool, key: str) -> float:
        return statistics.median(s[key] for s in samples[primed])

    cold, primed = med(False, "first_start"), med(True, "first_start")
    warm = med(True, "warm_start")
    print(f"webhook, CPU (time.process_time), median of {args.runs} fresh interpreters each")
    print(f"  handler import (init):                 {ms(med(False, 'import'))}")
    print(f"  before-snapshot hook:                  {ms(med(True, 'before_snapshot'))}")
    print(f"  after-restore hook:                    {ms(med(True, 'after_restore'))}")
    print(f"  first update (/start, new user), no priming:  {ms(cold)}")
    print(f"  first update (/start, new user), after hooks: {ms(primed)}")
    print(f"  warm update (/start, new user), median:       {ms(warm)}")
    balance = f"{ms(med(False, 'first_balance'))} / {ms(med(True, 'first_balance'))}"
    print(f"  first /balance, no priming / after hooks:     {balance}")
    print(f"  warm /balance, median:                        {ms(med(True, 'warm_balance'))}")
    print(f"  ratio first-after-hooks / warm (target <= 2): {primed / warm:.2f}")
    print(f"  ratio first-without-priming / warm:           {cold / warm:.2f}")
    # The after-restore hook runs on the restored copy's first invocation's path (its Restore
    # Duration), so work moved into the hook is not work removed: show the two together too.
    hooked = statistics.median(s["after_restore"] + s["first_start"] for s in samples[True])
    print(f"  after-restore hook + first update, median:    {ms(hooked)} ({hooked / warm:.2f}x warm)")


if __name__ == "__main__":
    main()
