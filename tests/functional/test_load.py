"""The load suite, small enough for CI: ``bench/load.py``'s own driver and checks with 60 users on
16 threads and a broadcast to 500; ``GENBOT_LOAD=full`` runs 1,000 users and a broadcast to 10,000
(as ``bench/load.py`` does by default, which also prints the figures).

Exact effects only, never timings: each user registered once, balance = ledger = the sum worked
out independently, one promo use, one job and one payment per user, every update processed
exactly once whatever copies Telegram sent (same ``update_id``, right after or racing; the same
Stars charge in a new update), every chat alike, the stats counters, ``genbot audit``; then
every broadcast recipient messaged exactly once with redelivered queue messages, tallies equal.

The stand-in's flood control is off here and the broadcast is unpaced (the bench's docstring
says why): what is tested is what happens, not Telegram's rate.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from genbot import stats
from genbot.resources import QUEUES
from genbot.store.models import User
from genbot_local.botapi.model import FloodLimits
from tests.functional.sdk_faults import fail_once

BENCH = Path(__file__).resolve().parents[2] / "bench" / "load.py"
# GENBOT_LOAD=full runs the sizes (1,000 users, a broadcast to 10,000: about an hour here);
# CI runs the small one, the same code and checks
FULL = os.environ.get("GENBOT_LOAD", "").strip().lower() == "full"
USERS, THREADS, BROADCAST = (1000, 16, 10_000) if FULL else (60, 16, 500)


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("genbot_bench_load", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


load = _bench()
# Lambda runs one invocation per instance; here 16 threads share Powertools' one Metrics object,
# so a flush often finds another thread's invocation already flushed everything
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


@pytest.fixture
def unflooded(telegram, monkeypatch):  # type: ignore[no-untyped-def]
    """The Bot API stand-in without flood control (restored after the test)."""
    monkeypatch.setattr(telegram, "flood", FloodLimits.disabled())
    return telegram


def test_users_on_16_threads_with_telegrams_copies_then_a_broadcast(aws, webhook, unflooded) -> None:
    telegram = unflooded
    users = list(range(load.FIRST_USER, load.FIRST_USER + USERS))
    load.create_promo(len(users))
    driver = load.Users(webhook, telegram, threads=THREADS, seed=7)
    jobs = load.JobsConsumers(aws[QUEUES["jobs"].env_var])

    with load.aws_calls_counted():
        run = driver.run(users, jobs)

    copies = Counter(d.copy for d in run.deliveries)
    assert copies["race"] and copies["again"] and copies["replay"], copies  # each kind of copy was sent
    assert run.jobs_redelivered > 0
    assert load.check_users(run, telegram) == []
    processed = [d for d in run.deliveries if d.processed]
    assert all(d.aws for d in processed)  # the per-thread counting saw every update's calls

    telegram.clear_calls()
    extra = load.add_users(load.FIRST_USER + USERS, BROADCAST - USERS)
    sent = load.broadcast(aws[QUEUES["broadcasts"].env_var], users + extra)

    assert sent.redelivered > 0
    assert load.check_broadcast(sent, telegram) == []


# --- what the load found: an SDK retry of a write that landed ------------------------------------
#
# Under load some DynamoDB answers took longer than the models' 3 s read timeout
# (``genbot.store.models._Meta``); botocore then sends the same request again, although the first
# one was applied. Real DynamoDB does this too when an answer is lost (a timeout, a reset
# connection). Reproduced here exactly: the first matching request reaches moto (or, for a
# connection never made, does not), its answer is replaced by the error, botocore retries.
# Both tests failed before the fixes (the update was dropped as a copy; the count was 2).

USER = 3_900_001


def test_an_update_is_processed_when_the_sdk_retries_its_dedupe_marker(
    aws, deliver, telegram_update, monkeypatch
) -> None:
    lost = fail_once(monkeypatch, "PutItem", '"update#', landed=True)

    response = deliver(telegram_update("message_start", user_id=USER))

    assert lost and response["statusCode"] == 200  # the marker's answer was lost and retried
    assert User.count(USER) == 1  # the /start was processed: the user exists
    again = deliver(telegram_update("message_start", user_id=USER))  # Telegram's copy: still dropped
    assert again["statusCode"] == 200 and stats.read(1)[0].get(stats.USERS, "new_users") == 1


def test_a_registration_counts_once_when_the_sdk_retries_the_counter(
    aws, deliver, telegram_update, monkeypatch
) -> None:
    lost = fail_once(monkeypatch, "UpdateItem", '"new_users"', landed=True)

    deliver(telegram_update("message_start", user_id=USER))

    assert lost and User.count(USER) == 1
    (today,) = stats.read(1)
    assert today.get(stats.USERS, "new_users") == 1


def test_a_counter_whose_connection_failed_is_sent_again_and_counts_once(
    aws, deliver, telegram_update, monkeypatch
) -> None:
    failed = fail_once(monkeypatch, "UpdateItem", '"new_users"', landed=False)

    deliver(telegram_update("message_start", user_id=USER))

    assert failed and User.count(USER) == 1
    (today,) = stats.read(1)
    assert today.get(stats.USERS, "new_users") == 1  # not lost: nothing was written the first time
