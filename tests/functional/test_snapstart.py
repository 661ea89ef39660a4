"""SnapStart's lifecycle around the real webhook handler: init, hooks, then updates on moto.

In-process, the hooks run on the already-imported handler; in a fresh interpreter, the
handler's own wiring registers them with a stand-in ``snapshot_restore_py`` and they run as
the Lambda runtime runs them (before-snapshot hooks last registered first, then after-restore).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from genbot import snapstart
from genbot.store.models import User
from genbot_local.invoke import load_handler
from genbot_local.simulate import reply_body

pytestmark = pytest.mark.usefixtures("aws")

ROOT = Path(__file__).resolve().parents[2]
ANNA = 555000111


def test_the_first_update_after_the_hooks_goes_through_the_handler(
    telegram, deliver, telegram_update, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_handler("webhook")  # init: the handler module, imported once per process
    assert snapstart.before_snapshot() == []
    primed = {id(client) for client in snapstart.thread_session()._shared_clients.values()}
    built: list[str] = []
    build = botocore.session.Session.create_client

    def counting(self: botocore.session.Session, service_name: str, *args: Any, **kwargs: Any) -> Any:
        built.append(service_name)
        return build(self, service_name, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", counting)

    snapstart.after_restore()

    # this copy's DynamoDB clients, built by the hook: the models' and the stats counters' (which
    # makes one attempt per call: genbot.stats)
    assert built == ["dynamodb", "dynamodb"]
    hooked = snapstart.thread_session()._shared_clients.copy()
    assert not primed & {id(client) for client in hooked.values()}  # none crosses the snapshot

    response = deliver(telegram_update("message_start", user_id=ANNA))

    assert response["statusCode"] == 200
    assert reply_body(response)["method"] == "sendMessage" and reply_body(response)["chat_id"] == ANNA
    assert User.get(ANNA).balance > 0  # registered, welcome credits included
    assert "dynamodb" not in built[2:]  # the first update (dedupe, user, transaction, count) reused them
    assert snapstart.thread_session()._shared_clients == hooked
    balance = deliver(telegram_update("message_text", user_id=ANNA, text="/balance"))
    assert balance["statusCode"] == 200 and reply_body(balance)["chat_id"] == ANNA


LIFECYCLE = """
import json, sys, types

before, after = [], []
runtime = types.ModuleType("snapshot_restore_py")
runtime.register_before_snapshot = lambda f, *a, **k: before.append((f, a, k)) or f
runtime.register_after_restore = lambda f, *a, **k: after.append((f, a, k)) or f
sys.modules["snapshot_restore_py"] = runtime

from genbot_local.invoke import invoke, load_handler
from genbot_local.simulate import api_event, telegram_update

load_handler("webhook")  # init
registered = [[f.__module__ + "." + f.__name__ for f, _, _ in hooks] for hooks in (before, after)]
primed = []
while before:  # the runtime runs before-snapshot hooks last registered first
    func, args, kwargs = before.pop()
    primed.append(func(*args, **kwargs))
for func, args, kwargs in after:
    func(*args, **kwargs)

responses = [
    invoke("webhook", api_event(telegram_update(name, user_id=%(user)d, **changes)))
    for name, changes in (("message_start", {}), ("message_text", {"text": "/balance"}))
]
print("LIFECYCLE " + json.dumps({"registered": registered, "primed": primed, "responses": responses}))
"""


def test_the_handler_registers_the_hooks_and_a_restored_copy_serves_updates(telegram) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers/shared/python"), str(ROOT)])}
    out = subprocess.run(
        [sys.executable, "-c", LIFECYCLE % {"user": ANNA}],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("LIFECYCLE ")]
    assert out.returncode == 0 and lines, out.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("LIFECYCLE "))

    assert result["registered"] == [["genbot.snapstart.before_snapshot"], ["genbot.snapstart.after_restore"]]
    assert result["primed"] == [[]]  # no priming step failed
    start, balance = result["responses"]
    assert start["statusCode"] == balance["statusCode"] == 200
    assert reply_body(start)["method"] == "sendMessage" and reply_body(start)["chat_id"] == ANNA
    assert reply_body(balance)["chat_id"] == ANNA
    assert User.get(ANNA).balance > 0
