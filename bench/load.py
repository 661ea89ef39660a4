"""Load: N users' updates through the webhook from 16 threads with duplicates mixed in, then a
broadcast to M users with redelivered queue messages; every effect checked exactly.

The real handlers run in-process (``genbot_local.invoke``: warm instances, one event loop and
Bot per thread) against a moto server and the Bot API stand-in, with the API Gateway events
Telegram's POSTs become (``genbot_local.simulate``). Each of N users, on one of ``--threads``
worker threads: /start, the Balance and Bonuses menu buttons, claims the daily bonus, redeems
one shared promo code, orders a picture (/generate, mode, tier, prompt, confirm; the generate
function drains the jobs queue meanwhile, on one thread: see ``JobsConsumers``),
passes the Stars pre-checkout and pays a pack (``successful_payment``). Telegram's redeliveries
are mixed in (seeded): an exact copy of an update (same ``update_id``) right after it or racing
it on another worker, and the same Stars charge in a new update. Then: each user registered
once, balance = ledger = the expected sum computed here, one promo use, one job and one payment
per user, every callback answered once, every user's chat holds the same messages (copies
changed nothing), the stats counters, ``genbot audit``.

Per update, measured in its thread: the webhook's CPU (``time.thread_time`` around the
invocation alone) and its AWS calls (botocore's ``_make_api_call``, counted per thread).

The broadcast: users up to M in all (batch writes; the N above are among them), then
``genbot.notify.broadcast`` create + start and the broadcasts queue drained through the notify
function by 2 consumers (the queue's ``max_concurrency``); some messages (select pages and
chunks) are handed to the function a second time after it finished them (SQS at least once).
Each user must get exactly one message and the tallies must add up. Pacing is off for this
(``genbot.telegram.pacing.RATE_GUARD = 0``: ``BROADCAST_RATE`` can't be set above Telegram's 30
in the settings) and so is the stand-in's flood control: at 28/s, 10,000 sends take 6 minutes
and measure only the pacer. Figures are this machine's; nothing passes or fails on time.

    .venv/bin/python bench/load.py [--users 1000] [--threads 16] [--broadcast 10000] [--seed 7]

``tests/functional/test_load.py`` runs the same code with small numbers and asserts the effects.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import os
import random
import statistics
import sys
import threading
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT / "layers/shared/python"), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

if TYPE_CHECKING:
    from genbot_local.botapi import BotApiStandIn
    from genbot_local.simulate import Webhook

PROMO_CODE = "LOAD2026"
PROMO_CREDITS = 5
PACK = ("pack_s", 20, 100)  # product, credits, stars
FIRST_USER = 3_000_000
DUPLICATE_RATE = 0.1  # an update delivered twice (same update_id); half of those race the first
REPLAY_PAYMENT_RATE = 0.2  # the same Stars charge again in a new update
SHOWN = ("sendmessage", "sendphoto", "sendvideo", "editmessagetext", "editmessagecaption", "senddocument")


# -- counting AWS calls per thread --------------------------------------------------------------


_counting = threading.local()


@contextlib.contextmanager
def aws_calls_counted() -> Iterator[None]:
    """While open, botocore calls made on a thread inside ``counted_calls()`` are counted there."""
    import botocore.client
    import botocore.exceptions

    original = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        name = f"{self.meta.service_model.service_name}:{operation_name}"
        counter: Counter[str] | None = getattr(_counting, "counter", None)
        if counter is not None:
            counter[name] += 1
        try:
            answer = original(self, operation_name, api_params)
        except botocore.exceptions.ClientError as exc:
            _retried(name, exc.response, exc.response.get("Error", {}).get("Code", "?"))
            raise
        _retried(name, answer, "ok")
        return answer

    RETRIES.clear()
    botocore.client.BaseClient._make_api_call = counting  # type: ignore[method-assign]
    try:
        yield
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


RETRIES: list[tuple[str, int, str]] = []  # (operation, botocore's retry attempts, final outcome)


def _retried(name: str, answer: dict[str, Any], outcome: str) -> None:
    """botocore retried this call (a throttle, a 5xx, a dropped connection): a write that landed
    the first time is sent again, and a conditional one then fails on its own first write."""
    attempts = int((answer.get("ResponseMetadata") or {}).get("RetryAttempts") or 0)
    if attempts:
        RETRIES.append((name, attempts, outcome))


@contextlib.contextmanager
def counted_calls() -> Iterator[Counter[str]]:
    counter: Counter[str] = Counter()
    _counting.counter = counter
    try:
        yield counter
    finally:
        _counting.counter = None


# -- the webhook phase ----------------------------------------------------------------------------


@dataclass
class Delivery:
    """One POST of an update to the webhook, as measured in its thread."""

    user_id: int
    step: str
    update_id: int
    copy: str  # "first"; "again" (the same update right after), "race" (on another worker); "replay"
    status: int
    reply: str | None  # the Bot API method carried in the response
    cpu_ms: float
    aws: Counter[str]
    wall_ms: float = 0.0

    @property
    def processed(self) -> bool:
        """Taken, not dropped as a copy: a copy costs the dedupe marker's one PutItem, nothing else."""
        return self.reply is not None or self.aws != Counter({"dynamodb:PutItem": 1})


@dataclass
class UsersRun:
    users: list[int]
    threads: int
    deliveries: list[Delivery] = field(default_factory=list)
    callbacks: dict[int, str] = field(default_factory=dict)  # update_id -> callback query id
    errors: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    jobs_processed: int = 0
    jobs_redelivered: int = 0


class Users:
    """Drives N users through the webhook from a thread pool; Telegram's copies mixed in."""

    def __init__(
        self, webhook: Webhook, telegram: BotApiStandIn, *, threads: int = 16, seed: int = 7
    ) -> None:
        self.webhook = webhook
        self.telegram = telegram
        self.threads = threads
        self.random = random.Random(seed)
        self._lock = threading.Lock()
        self._copies = ThreadPoolExecutor(threads, thread_name_prefix="telegram-copy")

    # one delivery, measured
    def post(
        self, run: UsersRun, user_id: int, step: str, update: dict[str, Any], copy: str
    ) -> dict[str, Any]:
        from genbot_local.invoke import invoke
        from genbot_local.simulate import reply_body
        from genbot_local.telegram_bridge import perform_webhook_reply

        event = self.webhook.events.api_event(update, secret=self.webhook.secret)
        with counted_calls() as aws:
            began, wall = time.thread_time(), time.monotonic()
            response: dict[str, Any] = invoke(self.webhook.function, event)
            cpu, wall = time.thread_time() - began, time.monotonic() - wall
        reply = reply_body(response).get("method")
        if self.webhook.api_url:  # Telegram performs the method the response carries
            answer = perform_webhook_reply(self.webhook.api_url, self.webhook.token, response)
            if answer is not None and not answer.get("ok"):
                with self._lock:
                    run.errors.append(f"user {user_id} {step}: the reply {reply} was refused: {answer}")
        with self._lock:
            run.deliveries.append(
                Delivery(
                    user_id,
                    step,
                    update["update_id"],
                    copy,
                    response["statusCode"],
                    reply,
                    cpu * 1000,
                    aws,
                    wall * 1000,
                )
            )
        return response

    def send(self, run: UsersRun, user_id: int, step: str, update: dict[str, Any]) -> None:
        """Deliver ``update``; now and then Telegram delivers it twice (right after, or racing it)."""
        with self._lock:
            roll = self.random.random()
        if "callback_query" in update:
            with self._lock:
                run.callbacks[update["update_id"]] = update["callback_query"]["id"]
        racing = None
        if roll < DUPLICATE_RATE / 2:  # a copy at the same moment, on a thread of Telegram's own
            racing = self._copies.submit(self.post, run, user_id, step, update, "race")
        self.post(run, user_id, step, update, "first")
        if racing is not None:
            racing.result()  # the user's next update comes after this one, whichever copy took it
        if DUPLICATE_RATE / 2 <= roll < DUPLICATE_RATE:
            self.post(run, user_id, step, update, "again")

    def script(self, run: UsersRun, index: int, user_id: int) -> None:
        """One user's session, in order; every step a real update."""
        from genbot.bot.keyboards import BTN_BALANCE, BTN_BONUSES
        from genbot.i18n import translate
        from genbot.store.models import User
        from genbot.telegram.callbacks import BonusCb, DraftAction, DraftCb
        from genbot.vocab import Mode, Tier

        events = self.webhook.events
        language = "ru" if index % 3 else "en"

        def text(step: str, value: str) -> None:
            update = events.telegram_update("message_text", user_id=user_id, text=value)
            update["message"]["from"]["language_code"] = language
            self.send(run, user_id, step, update)

        def press(step: str, data: str) -> None:
            update = events.telegram_update("callback_query", user_id=user_id, data=data)
            update["callback_query"]["from"]["language_code"] = language
            self.send(run, user_id, step, update)

        def draft(action: DraftAction, **fields: Any) -> str:
            nonce = str(User.get(user_id, consistent_read=True).draft_nonce)  # the button the user sees
            return DraftCb(action=action, draft=nonce, **fields).pack()

        text("/start", "/start")
        text("balance", translate(BTN_BALANCE, language))
        text("bonuses", translate(BTN_BONUSES, language))
        press("claim bonus", BonusCb().pack())
        text("promo", f"/promo {PROMO_CODE.lower()}")
        text("/generate", "/generate")
        press("mode", draft(DraftAction.MODE, mode=Mode("image")))
        press("tier", draft(DraftAction.TIER, tier=Tier("standard")))
        text("prompt", f"a lighthouse at dusk, user {user_id}")
        press("confirm", draft(DraftAction.CONFIRM))
        product, credits, stars = PACK
        payload = f"{product}:{credits}:{stars}:{user_id}"
        checkout = events.telegram_update("pre_checkout_query", user_id=user_id)
        checkout["pre_checkout_query"].update(
            {"invoice_payload": payload, "total_amount": stars, "currency": "XTR"}
        )
        self.send(run, user_id, "pre-checkout", checkout)
        paid = events.telegram_update("message_successful_payment", user_id=user_id)
        paid["message"]["successful_payment"].update(
            {
                "invoice_payload": payload,
                "total_amount": stars,
                "telegram_payment_charge_id": charge_id(user_id),
            }
        )
        paid["message"]["from"]["language_code"] = language
        self.send(run, user_id, "payment", paid)
        with self._lock:
            replay = self.random.random() < REPLAY_PAYMENT_RATE
        if replay:  # the same charge in another update (a new update_id): credited once all the same
            again = events.telegram_update("message_successful_payment", user_id=user_id)
            again["message"] = {**paid["message"], "message_id": again["update_id"]}
            self.post(run, user_id, "payment", again, "replay")

    def run(self, users: list[int], jobs: JobsConsumers | None = None) -> UsersRun:
        """Every user's script on the pool (at most ``threads`` scripts queued at once, so a racing
        copy waits behind a few updates, well inside the dedupe lease), jobs drained meanwhile."""
        from genbot import runtime
        from genbot_local.invoke import load_handler

        load_handler(self.webhook.function)  # the warm instance, imported once
        run = UsersRun(users, self.threads)
        began = time.monotonic()
        if jobs is not None:
            jobs.start()
        slots = threading.Semaphore(self.threads)

        def one(index: int, user_id: int) -> None:
            try:
                self.script(run, index, user_id)
            except Exception as exc:  # reported, and the others go on
                with self._lock:
                    run.errors.append(f"user {user_id}: {type(exc).__name__}: {exc}")
            finally:
                slots.release()

        with ThreadPoolExecutor(self.threads, thread_name_prefix="webhook") as pool:
            scripts = []
            for index, user_id in enumerate(users):
                slots.acquire()
                scripts.append(pool.submit(one, index, user_id))
            for future in scripts:
                future.result()
            for executor in (pool, self._copies):
                every = threading.Barrier(self.threads)

                def close(barrier: threading.Barrier = every) -> None:  # each worker's Bot session
                    barrier.wait(60)
                    runtime.forget_bot()

                for future in [executor.submit(close) for _ in range(self.threads)]:
                    future.result()
        self._copies.shutdown()
        if jobs is not None:
            jobs.finish()
            run.jobs_processed, run.jobs_redelivered = jobs.processed, jobs.redelivered
            run.errors += jobs.errors
        run.wall_seconds = time.monotonic() - began
        return run


def charge_id(user_id: int) -> str:
    return f"stxLOAD-{user_id}"


class JobsConsumers:
    """The jobs queue fed to the generate function (``SqsDriver``: the queue's batch size,
    Lambda's record shape) while the users go on; every ``redeliver_every``-th batch is handed to
    the function a second time after it finished (SQS delivers at least once).

    One consumer thread, as the local stack runs each function: AWS would run up to the queue's
    ``max_concurrency`` (3) instances, each a process of its own, but the generate module keeps
    one Powertools ``BatchProcessor``, whose per-invocation state threads can't share."""

    def __init__(self, queue_url: str, *, consumers: int = 1, redeliver_every: int = 5) -> None:
        from genbot.resources import QUEUES

        self.spec = QUEUES["jobs"]
        self.url = queue_url
        self.consumers = consumers
        self.redeliver_every = redeliver_every
        self.processed = self.redelivered = 0
        self.errors: list[str] = []
        self._done = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._consume, name=f"jobs-{n}", daemon=True)
            for n in range(self.consumers)
        ]
        for thread in self._threads:
            thread.start()

    def finish(self, timeout: float = 600) -> None:
        """No more jobs are coming: drain what is queued, then stop."""
        self._done.set()
        for thread in self._threads:
            thread.join(timeout)

    def _consume(self) -> None:
        import boto3

        from genbot import runtime
        from genbot_local.invoke import invoke
        from genbot_local.sqs_driver import SqsDriver

        sqs = boto3.client("sqs")
        driver = SqsDriver.for_queue(
            self.spec, self.url, functools.partial(invoke, self.spec.consumer), client=sqs, wait_seconds=0
        )
        try:
            while True:
                messages = driver.receive()
                if not messages:
                    if self._done.is_set() and queue_depth(sqs, self.url) == 0:
                        return
                    time.sleep(0.05)
                    continue
                outcome = driver.process(messages)
                with self._lock:
                    self.processed += len(messages)
                    again = self.processed % self.redeliver_every == 0
                if outcome.error is not None or outcome.failed:
                    with self._lock:
                        self.errors.append(f"jobs: {outcome.error or outcome.failed}")
                if again:
                    outcome = driver.process(messages)
                    with self._lock:
                        self.redelivered += len(messages)
                        if outcome.error is not None:
                            self.errors.append(f"jobs, a redelivered message: {outcome.error}")
        finally:
            runtime.forget_bot()


def queue_depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(v) for v in attrs.values())


def create_promo(users: int) -> None:
    from genbot.payments import promo

    promo.create(PROMO_CODE, credits=PROMO_CREDITS, max_uses=users, created_by="load")


def expected_balance() -> int:
    """Computed here from the settings, not read from the bot: welcome + daily bonus + promo +
    the pack - one standard picture."""
    from genbot.config import get_settings

    settings = get_settings()
    return settings.free_credits + settings.daily_bonus + PROMO_CREDITS + PACK[1] - settings.cost_image


def check_users(run: UsersRun, telegram: BotApiStandIn) -> list[str]:
    """Every effect of the run, exactly; the problems found (none: all good)."""
    from genbot import cli, stats
    from genbot.ledger.audit import audit
    from genbot.store.models import Job, LedgerEntry, Payment, PromoCode, User

    problems: list[str] = list(run.errors)
    users = set(run.users)
    n = len(users)
    want = expected_balance()

    # the webhook's answers: all 200; a copy carries no reply and a replayed charge no receipt
    problems += [
        f"{d.user_id} {d.step} ({d.copy}): HTTP {d.status}" for d in run.deliveries if d.status != 200
    ]
    taken: Counter[int] = Counter(d.update_id for d in run.deliveries if d.processed)
    steps = {d.update_id: f"user {d.user_id} {d.step}" for d in run.deliveries}
    problems += [f"{steps[u]}: update {u} processed {taken[u]} times" for u in sorted(steps) if taken[u] != 1]
    # registered once, balances, the ledger
    found = {int(u.user_id): u for u in User.scan(consistent_read=True) if int(u.user_id) in users}
    problems += [f"user {u} was never registered" for u in sorted(users - set(found))]
    entries: dict[int, list[LedgerEntry]] = defaultdict(list)
    for entry in LedgerEntry.scan(consistent_read=True):
        if int(entry.user_id) in users:
            entries[int(entry.user_id)].append(entry)
    kinds_wanted = Counter({"welcome": 1, "daily": 1, "promo": 1, "purchase": 1, "debit": 1})
    for user_id, user in sorted(found.items()):
        mine = entries[user_id]
        ops = [str(e.op_id) for e in mine]
        if len(ops) != len(set(ops)):
            problems.append(f"user {user_id}: a ledger op_id twice: {sorted(ops)}")
        kinds = Counter(str(e.kind) for e in mine)
        if kinds != kinds_wanted:
            problems.append(f"user {user_id}: ledger kinds {dict(kinds)}, expected {dict(kinds_wanted)}")
        total = sum(int(e.delta) for e in mine)
        if not int(user.balance) == total == want:
            problems.append(f"user {user_id}: balance {user.balance}, ledger {total}, expected {want}")
        if f"pay#stars#{charge_id(user_id)}" not in ops or f"promo#{PROMO_CODE}" not in ops:
            problems.append(f"user {user_id}: no payment or promo entry: {sorted(ops)}")
    mismatches = audit()
    if mismatches:
        problems.append(f"audit: {mismatches[:5]}")
    with contextlib.redirect_stdout(io.StringIO()):
        if cli.main(["audit"]) != 0:
            problems.append("genbot audit exited non-zero")
    # the promo code, the jobs, the payments
    used = int(PromoCode.get(PROMO_CODE, consistent_read=True).used)
    if used != n:
        problems.append(f"promo {PROMO_CODE}: used {used}, expected {n}")
    jobs: Counter[int] = Counter()
    statuses: Counter[str] = Counter()
    for job in Job.scan(consistent_read=True):
        if int(job.user_id) in users:
            jobs[int(job.user_id)] += 1
            statuses[str(job.status)] += 1
    problems += [f"user {u}: {jobs[u]} jobs" for u in sorted(users) if jobs[u] != 1]
    if statuses != Counter({"succeeded": n}):
        problems.append(f"jobs: {dict(statuses)}, expected {n} succeeded")
    payments = [p for p in Payment.scan(consistent_read=True) if int(p.user_id) in users]
    by_charge = Counter(str(p.payment_id) for p in payments)
    if sorted(by_charge) != sorted(f"stars#{charge_id(u)}" for u in users) or set(by_charge.values()) != {1}:
        problems.append(f"payments: {len(payments)} items for {n} charges")
    problems += [f"payment {p.payment_id}: {p.status}" for p in payments if str(p.status) != "succeeded"]
    receipts = Counter(d.user_id for d in run.deliveries if d.step == "payment" and d.reply)
    problems += [f"user {u}: {receipts[u]} payment receipts" for u in sorted(users) if receipts[u] != 1]

    # no update processed twice: each callback answered once, every chat alike
    # (the stand-in keeps its last 20,000 calls, about 16 a user here: beyond ~1,200 users a
    # trimmed record would show as chats that differ, never as a pass)
    calls = telegram.calls
    answered = Counter(
        str(c.params.get("callback_query_id")) for c in calls if c.method == "answerCallbackQuery"
    )
    problems += [  # at most: the draft's mode and tier buttons edit the menu and answer nothing
        f"callback {cq} (update {uid}) answered {answered[cq]} times"
        for uid, cq in sorted(run.callbacks.items())
        if answered[cq] > 1
    ]
    shown: dict[int, Counter[str]] = defaultdict(Counter)
    for call in calls:
        if call.method.lower() in SHOWN and call.ok and "chat_id" in call.params:
            shown[int(call.params["chat_id"])][call.method] += 1
    signatures = Counter(tuple(sorted(shown[u].items())) for u in users)
    if len(signatures) != 1:
        common, _ = signatures.most_common(1)[0]
        odd = [u for u in sorted(users) if tuple(sorted(shown[u].items())) != common]
        problems.append(
            f"chats differ: most have {dict(common)}; {len(odd)} others, e.g. {odd[0]}: {dict(shown[odd[0]])}"
        )
    # the operator's counters (a run across midnight in TIMEZONE splits over two days)
    days = stats.read(2)
    totals: Counter[str] = Counter()
    for day in days:
        for what, values in day.counters.items():
            for name, value in values.items():
                totals[f"{what}.{name}" if not what.startswith("gen#") else f"gen.{name}"] += value
    _, credits, stars = PACK
    wanted = {
        "users.new_users": n,
        "users.active_users": n,
        "pay#XTR.payments": n,
        "pay#XTR.amount": n * stars,
        "pay#XTR.credits": n * credits,
        "gen.jobs": n,
        "gen.succeeded": n,
    }
    problems += [f"stats {k}: {totals[k]}, expected {v}" for k, v in wanted.items() if totals[k] != v]
    if problems and RETRIES:  # a likely cause (see tests/functional/test_sdk_retries.py)
        problems.append(f"botocore retried {len(RETRIES)} AWS calls: {Counter(RETRIES).most_common(5)}")
    return problems


# -- the broadcast phase --------------------------------------------------------------------------


@dataclass
class BroadcastRun:
    broadcast_id: str
    recipients: list[int]
    wall_seconds: float
    invocations: int
    redelivered: int
    errors: list[str]


def add_users(first: int, count: int) -> list[int]:
    """Users as the table holds them (batch writes, no webhook)."""
    from genbot.store.models import User

    ids = list(range(first, first + count))
    with User.batch_write() as batch:
        for n, user_id in enumerate(ids):
            batch.save(User(user_id, language="ru" if n % 3 else "en"))
    return ids


def broadcast(
    queue_url: str, recipients: list[int], *, consumers: int = 2, redeliver_every: int = 4
) -> BroadcastRun:
    """create + start, then the queue drained by ``consumers`` notify instances; every
    ``redeliver_every``-th message handed to the function again once it has finished it."""
    import boto3

    from genbot import runtime
    from genbot.config import get_settings
    from genbot.notify import broadcast as service
    from genbot.resources import QUEUES
    from genbot.telegram import pacing
    from genbot_local.invoke import invoke, load_handler
    from genbot_local.sqs_driver import SqsDriver

    spec = QUEUES["broadcasts"]
    settings = get_settings()
    load_handler("notify")
    sqs = boto3.client("sqs")
    counts = {"invocations": 0, "redelivered": 0}
    errors: list[str] = []
    lock = threading.Lock()

    def consume() -> None:
        driver = SqsDriver.for_queue(
            spec, queue_url, lambda e: invoke("notify", e), client=sqs, wait_seconds=0
        )
        try:
            while not errors:
                messages = driver.receive()
                if not messages:
                    if queue_depth(sqs, queue_url) == 0:
                        return
                    time.sleep(0.1)
                    continue
                rounds = 1
                with lock:
                    counts["invocations"] += 1
                    if counts["invocations"] % redeliver_every == 0:
                        rounds, counts["redelivered"] = 2, counts["redelivered"] + 1
                for _ in range(rounds):
                    outcome = driver.process(messages)
                    if outcome.error is not None or outcome.failed:
                        with lock:
                            errors.append(f"notify: {outcome.error or outcome.result}")
        finally:
            runtime.forget_bot()

    guard = pacing.RATE_GUARD
    pacing.RATE_GUARD = 0.0  # no pacing: see the module's docstring
    try:
        item = service.create(settings, "Load <b>test</b>: hello", created_by="load")
        began = time.monotonic()
        if not service.start(settings, item.broadcast_id):
            errors.append("start returned False")
        threads = [threading.Thread(target=consume, name=f"notify-{n}") for n in range(consumers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - began
    finally:
        pacing.RATE_GUARD = guard
    return BroadcastRun(
        item.broadcast_id, recipients, wall, counts["invocations"], counts["redelivered"], errors
    )


def check_broadcast(run: BroadcastRun, telegram: BotApiStandIn) -> list[str]:
    from genbot.notify import broadcast as service

    problems = list(run.errors)
    sent = [c for c in telegram.calls if c.method.lower() in ("sendmessage", "sendphoto") and c.ok]
    got = Counter(
        int(c.params["chat_id"]) for c in sent if "Load <b>test</b>" in str(c.params.get("text", ""))
    )
    lost = [u for u in run.recipients if got[u] == 0]
    twice = [u for u in run.recipients if got[u] > 1]
    strangers = set(got) - set(run.recipients)
    if lost:
        problems.append(f"broadcast: {len(lost)} users got nothing, e.g. {lost[:5]}")
    if twice:
        problems.append(f"broadcast: {len(twice)} users got it more than once, e.g. {twice[:5]}")
    if strangers:
        problems.append(f"broadcast: sent to {len(strangers)} users who are not in the table")
    meta = service.get(run.broadcast_id)
    if meta is None:
        return [*problems, "broadcast: the meta item is gone"]
    p = service.progress(meta)
    n = len(run.recipients)
    tallies = {
        "status": p.status,
        "selected": p.selected,
        "sent": p.sent,
        "failed": p.failed,
        "blocked": p.blocked,
        "skipped": p.skipped,
    }
    wanted = {"status": "done", "selected": n, "sent": n, "failed": 0, "blocked": 0, "skipped": 0}
    if tallies != wanted:
        problems.append(f"broadcast tallies {tallies}, expected {wanted}")
    return problems


# -- figures --------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def report_users(run: UsersRun) -> list[str]:
    first = [d for d in run.deliveries if d.processed]  # whichever copy of an update took it
    copies = [d for d in run.deliveries if not d.processed]
    sent = dict(Counter(d.copy for d in run.deliveries if d.copy != "first"))
    lines = [
        f"users: {len(run.users)} on {run.threads} threads; updates delivered: {len(run.deliveries)} "
        f"({len(first)} processed; copies sent {sent}, {len(copies)} dropped by the dedupe); "
        f"wall {run.wall_seconds:.1f} s ({len(run.deliveries) / max(run.wall_seconds, 1e-9):.0f} updates/s); "
        f"jobs processed {run.jobs_processed} (+{run.jobs_redelivered} redelivered)",
    ]

    def row(label: str, group: list[Delivery]) -> str:
        cpu = [d.cpu_ms for d in group]
        aws = [sum(d.aws.values()) for d in group]
        return (
            f"  {label:<16} {len(group):>6}  cpu p50 {percentile(cpu, 50):6.1f} ms"
            f"  p99 {percentile(cpu, 99):6.1f} ms"
            f"  max {max(cpu, default=0):6.1f} ms   AWS calls mean {statistics.fmean(aws) if aws else 0:4.1f}"
            f"  p99 {percentile([float(a) for a in aws], 99):3.0f}"
            f"   wall p50 {percentile([d.wall_ms for d in group], 50):6.1f} ms"
            f" max {max((d.wall_ms for d in group), default=0):6.0f} ms"
        )

    lines.append("webhook CPU (time.thread_time around the invocation) and AWS calls per update:")
    lines.append(row("all processed", first))
    lines.append(row("copies dropped", copies))
    steps = list(dict.fromkeys(d.step for d in first))
    lines += [row(step, [d for d in first if d.step == step]) for step in steps]
    total: Counter[str] = Counter()
    for d in first:
        total.update(d.aws)
    per = ", ".join(f"{k} {v / len(first):.2f}" for k, v in total.most_common()) if first else "-"
    lines.append(f"AWS calls per processed update by operation: {per}")
    lines.append(
        f"AWS calls botocore retried (all threads): {len(RETRIES)} {Counter(RETRIES).most_common(8)}"
    )
    return lines


# -- the long run, by hand ------------------------------------------------------------------------


def patient_checks(read_timeout_seconds: int = 120) -> None:
    """The checks scan whole tables (consistent reads, 1 MB pages): moto serves such a page in
    seconds on a loaded machine, past the models' 3 s read timeout (meant for the webhook's
    single-item calls). The measured phase is over: give the checks' reads time."""
    from pynamodb.models import Model

    from genbot.store import models

    for value in vars(models).values():
        if isinstance(value, type) and issubclass(value, Model) and value is not Model:
            value.Meta.read_timeout_seconds = read_timeout_seconds
            value._connection = None  # the next call builds a connection with the new timeout
    from genbot.store import transaction

    transaction.connection.cache_clear()


class MotoProcess:
    """``genbot_local.aws.MotoServer`` (atomic DynamoDB writes included) in a child process: moto's
    CPU off the GIL the measured threads share."""

    def __init__(self) -> None:
        import subprocess
        import urllib.request

        from genbot_local.aws import free_port

        self.endpoint = f"http://127.0.0.1:{free_port()}"
        port = self.endpoint.rsplit(":", 1)[1]
        code = (  # serves until this process is gone (its parent id changes)
            "import os, sys, time; parent = os.getppid(); sys.path[:0] = sys.argv[2:]\n"
            "from genbot_local.aws import MotoServer\n"
            "MotoServer(port=int(sys.argv[1])).start()\n"
            "while os.getppid() == parent: time.sleep(1)\n"
        )
        paths = [str(ROOT / "layers/shared/python"), str(ROOT)]
        self.process = subprocess.Popen([sys.executable, "-c", code, port, *paths])
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("moto did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--broadcast", type=int, default=10_000, help="broadcast recipients in all (0: none)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--moto-in-process",
        dest="moto_process",
        action="store_false",
        help="run moto in this process (as the tests do) instead of its own, which gets the other core",
    )
    args = parser.parse_args()

    warnings.filterwarnings("ignore", "No application metrics to publish")  # as the local stack does
    sys.path.insert(0, str(ROOT / "bench"))
    from _offline import use_offline_env

    use_offline_env()
    from genbot_local.simulate import BOT_TOKEN, WEBHOOK_SECRET, Webhook

    os.environ.update(BOT_TOKEN=BOT_TOKEN, WEBHOOK_SECRET=WEBHOOK_SECRET, VIDEO_POLL_SECONDS="0")
    for name in ("OPENAI_API_KEY", "GEMINI_API_KEYS", "SECRET_ID"):
        os.environ.pop(name, None)
    from genbot_local import fake_provider
    from genbot_local.aws import MotoServer, bootstrap
    from genbot_local.botapi import BotApiStandIn

    fake_provider.register(when="auto", polls=2)
    telegram = BotApiStandIn(token=BOT_TOKEN, bot_username="genbot_local_bot", flood=None).start()
    moto = MotoProcess() if args.moto_process else MotoServer().start()
    os.environ.update(TELEGRAM_API_URL=telegram.base_url, AWS_ENDPOINT_URL=moto.endpoint)
    env = bootstrap(prefix="genbot", endpoint=moto.endpoint)
    os.environ.update(env)
    from genbot.config import get_settings
    from genbot.resources import QUEUES

    get_settings.cache_clear()
    ok = True
    try:
        users = list(range(FIRST_USER, FIRST_USER + args.users))
        create_promo(len(users))
        driver = Users(Webhook(api_url=telegram.base_url), telegram, threads=args.threads, seed=args.seed)
        jobs = JobsConsumers(env[QUEUES["jobs"].env_var])
        logs = io.StringIO()  # the functions' JSON logs (errors only) and Powertools' EMF lines
        with aws_calls_counted(), contextlib.redirect_stdout(logs):
            run = driver.run(users, jobs)
        errors = [line for line in logs.getvalue().splitlines() if '"level":"ERROR"' in line]
        print(f"function errors logged: {len(errors)}")
        for line in errors[:5]:
            print(f"  {line[:2000]}")
        print("\n".join(report_users(run)))
        patient_checks()
        problems = check_users(run, telegram)
        print(
            f"effects checked ({len(users)} users): "
            + ("all exact" if not problems else f"{len(problems)} problems")
        )
        for problem in problems[:20]:
            print(f"  PROBLEM {problem}")
        ok = not problems
        if args.broadcast:
            telegram.clear_calls()
            extra = add_users(FIRST_USER + args.users, max(0, args.broadcast - len(users)))
            from genbot.store.models import User

            registered = [int(u.user_id) for u in User.batch_get(users, attributes_to_get=["user_id"])]
            with contextlib.redirect_stdout(io.StringIO()):
                sent = broadcast(env[QUEUES["broadcasts"].env_var], sorted(registered) + extra)
            found = check_broadcast(sent, telegram)
            print(
                f"broadcast to {len(sent.recipients)} users ({len(extra)} added by batch writes): "
                f"{sent.wall_seconds:.1f} s from start to an empty queue "
                f"({len(sent.recipients) / max(sent.wall_seconds, 1e-9):.0f} messages/s, unpaced); "
                f"{sent.invocations} invocations, {sent.redelivered} messages handed over twice"
            )
            print("broadcast checked: " + ("each user got exactly one; tallies match" if not found else ""))
            for problem in found[:20]:
                print(f"  PROBLEM {problem}")
            ok = ok and not found
    finally:
        from genbot import runtime

        runtime.forget_bot()
        telegram.stop()
        moto.stop()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
