"""The money code as a state machine (hypothesis): any interleaving keeps the books exact.

Each example starts from empty tables (the ``aws`` fixture's, emptied again per example), three
registered users (an operator, Alice, and Bob whom Alice invited; each granted a few credits)
and two promo codes; then up to 20 steps drawn from what moves money, each through the real
function that does it in production (moto, the Bot API and YooKassa stand-ins; nothing mocked):

- generation jobs: created (the debit; refused when too poor or too busy), started, succeeded
  and delivered, succeeded but undeliverable (refund), failed (refund), each replayed at any
  point, and a running job's success and two failures racing in threads;
- Telegram Stars payments, settled by ``genbot.payments.stars`` or by a ``successful_payment``
  update through the webhook function, and delivered again either way (also after a refund);
- YooKassa payments created at the stand-in, paid or given up there, and settled by the poll,
  by a notification through the ``payment_poll`` function, by a poll holding a stale copy of
  the payment, or by all three at once in threads;
- refunds of any payment (``genbot.payments.refunds``; after the credits were spent, and two
  at once), the operator's grants and revokes through the cabinet API (``idempotency_key``
  reused on purpose, revokes beyond the balance), promo codes (redeemed, redeemed again,
  disabled, used up), daily bonus claims inside and outside the window, and a replay of any
  ledger entry already written, with another amount.

The test keeps its own model of the books: the exact set of ledger entries (user, op id,
delta), each job's state, each payment's status. After every step: every balance >= 0, equal
to the sum of that user's ledger and to the model's; the ledger holds exactly the model's
entries, each (user, op id) once and a payment's, job's or grant's business id under one user
only; the users' active-job and generation counters agree. At the end of each example: every
job's state and payment's status agree, and ``genbot audit`` finds nothing.
"""

from __future__ import annotations

import copy
import itertools
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar

import boto3
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from genbot.cabinet.admin import grant_op_id
from genbot.config import get_settings
from genbot.jobs import service
from genbot.ledger import InsufficientFundsError, Posting, apply
from genbot.ledger.audit import audit
from genbot.payments import poll, promo, refunds, stars, yookassa
from genbot.payments.products import products
from genbot.store.models import Job, LedgerEntry, Payment, User
from genbot.users.notices import bonus_open, local_day
from genbot.users.service import BonusClaim, claim_daily_bonus, register
from genbot.vocab import EntryKind, JobStatus, Mode, PaymentStatus, Tier
from genbot_local.invoke import invoke
from genbot_local.simulate import BOT_TOKEN, WEBHOOK_SECRET, RecordedEvents
from genbot_local.webapp import sign_init_data
from genbot_local.yookassa_standin import YooKassaStandIn

OPERATOR, ALICE, BOB = 640001, 640002, 640003
USERS = (OPERATOR, ALICE, BOB)
REFERRER = {BOB: ALICE}
SHOP, SHOP_SECRET = "100500", "test_yookassa_secret"
YOOKASSA_IP = "185.71.76.5"
GRANT_KEYS = ("grant-key-01", "grant-key-02", "grant-key-03")
PROMOS = {"ONCE5": (5, 1), "TWICE1": (1, 2)}  # code -> credits, uses (3 users: both run out)
WORKER = "fuzz-worker"
SEED = 7  # credits granted to each user at the start (besides the welcome gift)
# what follows a created YooKassa payment at once: the buyer's move, and maybe a settle path
BUYER_DOES = ("pays", "pays, then poll", "pays, then notification", "gives up", "nothing yet")
# Job states in the model: the stored status, plus "delivered" (succeeded and delivered)
DELIVERED = "delivered"
JOB_STEPS = ("replay", "start", "succeed", "deliver", "fail", "undeliverable")
JOB_PATHS = (
    ("start", "deliver", "replay", "fail", "undeliverable"),  # delivered: nothing moves after
    ("start", "succeed", "undeliverable", "undeliverable", "replay"),  # refunded once
    ("start", "fail", "succeed", "fail"),  # refused by the provider
    ("fail", "start", "replay", "fail"),  # dead-lettered before it ran
    ("replay", "start", "replay", "succeed"),  # left succeeded, to deliver later
)

users = st.sampled_from(USERS)


# --- the model ---------------------------------------------------------------------------------------


@dataclass
class JobModel:
    new: service.NewJob
    state: str = JobStatus.QUEUED


@dataclass
class PaymentModel:
    payment_id: str  # stars#<charge> or yk#<id>
    user_id: int
    credits: int
    status: str | None  # None: not stored (Stars, before it is settled)
    provider_status: str = "succeeded"  # YooKassa's side (Stars: paid by definition)
    stale: Payment | None = None  # YooKassa: the item as created, as a slow poll holds it
    charge: str = ""
    payload: str = ""
    stars: int = 0


@dataclass
class Books:
    entries: dict[tuple[int, str], int] = field(default_factory=dict)
    active: Counter[int] = field(default_factory=Counter)
    jobs: dict[str, JobModel] = field(default_factory=dict)
    payments: dict[str, PaymentModel] = field(default_factory=dict)
    promo_used: Counter[str] = field(default_factory=Counter)
    promo_disabled: set[str] = field(default_factory=set)

    def balance(self, user_id: int) -> int:
        return sum(delta for (owner, _op), delta in self.entries.items() if owner == user_id)

    def post(self, user_id: int, op_id: str, delta: int) -> None:
        assert (user_id, op_id) not in self.entries, f"model: {op_id} posted twice"
        self.entries[(user_id, op_id)] = delta

    def generations(self, user_id: int) -> int:
        """Generations the user got (succeeded, delivered or still to deliver)."""
        done = (JobStatus.SUCCEEDED, DELIVERED)
        return sum(1 for j in self.jobs.values() if j.new.user_id == user_id and j.state in done)

    def has(self, user_id: int, op_id: str) -> bool:
        return (user_id, op_id) in self.entries

    def settled(self, payment: PaymentModel, referral_reward: int) -> None:
        """A payment credited: its entry, and the inviter's reward on the first one."""
        self.post(payment.user_id, f"pay#{payment.payment_id}", payment.credits)
        payment.status = PaymentStatus.SUCCEEDED
        referrer = REFERRER.get(payment.user_id)
        if referrer and referral_reward and not self.has(referrer, f"ref#{payment.user_id}"):
            self.post(referrer, f"ref#{payment.user_id}", referral_reward)


# --- the outside world the machine drives -------------------------------------------------------------


@dataclass
class Harness:
    tables: Tables
    yk: YooKassaStandIn
    telegram: Any
    events: RecordedEvents
    cabinet_event: dict[str, Any]
    webhook_event: dict[str, Any]


class Tables:
    """Every table the app has, emptied between examples (faster than a moto reset and a new
    bootstrap: a scan of the keys and a batch delete, table by table)."""

    def __init__(self) -> None:
        self.ddb: Any = boto3.client("dynamodb")
        self.keys = {
            name: [k["AttributeName"] for k in self.ddb.describe_table(TableName=name)["Table"]["KeySchema"]]
            for name in self.ddb.list_tables()["TableNames"]
        }

    def clear(self) -> None:
        for name, key in self.keys.items():
            names = {f"#k{i}": k for i, k in enumerate(key)}
            found: list[dict[str, Any]] = []
            for page in self.ddb.get_paginator("scan").paginate(
                TableName=name, ProjectionExpression=", ".join(names), ExpressionAttributeNames=names
            ):
                found += page["Items"]
            for i in range(0, len(found), 25):
                batch = [{"DeleteRequest": {"Key": item}} for item in found[i : i + 25]]
                self.ddb.batch_write_item(RequestItems={name: batch})


_ids = itertools.count(1)


class LedgerMachine(RuleBasedStateMachine):
    harness: ClassVar[Harness]

    jobs = Bundle("jobs")
    star_payments = Bundle("star_payments")
    yk_payments = Bundle("yk_payments")

    def __init__(self) -> None:
        super().__init__()
        h = self.harness
        h.tables.clear()
        h.yk.clear()
        self.settings = get_settings()
        assert self.settings.is_admin(OPERATOR) and self.settings.referral_trigger == "first_payment"
        self.books = Books()
        for user_id in USERS:
            register(
                self.settings,
                user_id,
                language="en",
                first_name=f"U{user_id}",
                referrer_id=REFERRER.get(user_id),
            )
            if self.settings.free_credits:
                self.books.post(user_id, "bonus#welcome", self.settings.free_credits)
            seed = f"grant#seed-{user_id}"  # room for jobs from the start
            assert apply(Posting(user_id, seed, SEED, EntryKind.GRANT))
            self.books.post(user_id, seed, SEED)
        for code, (credits, uses) in PROMOS.items():
            promo.create(code, credits, uses)
        self.packs = products(self.settings)

    # -- generation jobs ---------------------------------------------------------------------------

    def _create_job(self, user_id: int, price: int) -> str | None:
        """The confirmation of a generation: the debit and the job in one transaction."""
        new = service.NewJob(
            job_id=f"job-{next(_ids)}",
            user_id=user_id,
            chat_id=user_id,
            mode=Mode.IMAGE,
            tier=Tier.STANDARD,
            prompt="a fox",
            price=price,
        )
        if self.books.balance(user_id) < price:
            with pytest.raises(InsufficientFundsError):
                service.create(self.settings, new)
            return None
        if self.books.active[user_id] >= self.settings.max_user_queue:
            with pytest.raises(service.TooManyJobsError):
                service.create(self.settings, new)
            return None
        job = service.create(self.settings, new)
        assert job is not None and job.job_id == new.job_id
        self.books.post(user_id, f"job#{new.job_id}#debit", -price)
        self.books.active[user_id] += 1
        self.books.jobs[new.job_id] = JobModel(new)
        return new.job_id

    def _job(self, job_id: str) -> Job:
        job = service.get(job_id)
        assert job is not None
        return job

    def _job_step(self, job_id: str, step: str) -> None:
        """One move of the worker (or of a replay), as the model says it must come out."""
        model = self.books.jobs[job_id]
        user_id, price = model.new.user_id, model.new.price
        if step == "replay":  # the same update confirmed again (Telegram redelivered it)
            assert service.create(self.settings, model.new) is None
        elif step == "start":
            started = service.start(self._job(job_id), owner=WORKER)
            assert started == (model.state == JobStatus.QUEUED)
            if started:
                model.state = JobStatus.RUNNING
        elif step in ("succeed", "deliver"):
            job = self._job(job_id)
            key = f"media/{user_id}/{job_id}.png"
            done = service.succeed(job, owner=WORKER, result_key=key, mime="image/png", provider="fake")
            assert done == (model.state == JobStatus.RUNNING)
            if done:
                self.books.active[user_id] -= 1
                model.state = JobStatus.SUCCEEDED
                if step == "deliver":
                    service.delivered(self._job(job_id), result_file_id="file-1")
                    model.state = DELIVERED
        elif step == "fail":  # refused, bad output, retries exhausted: refunded once
            failed = service.fail(self._job(job_id), "provider_refused")
            assert failed == (model.state in (JobStatus.QUEUED, JobStatus.RUNNING))
            if failed:
                self.books.post(user_id, f"job#{job_id}#refund", price)
                self.books.active[user_id] -= 1
                model.state = JobStatus.FAILED
        else:  # "undeliverable": the result Telegram will never take
            refunded = service.refund_undelivered(self._job(job_id), "chat_gone")
            assert refunded == (model.state == JobStatus.SUCCEEDED)
            if refunded:
                self.books.post(user_id, f"job#{job_id}#refund", price)
                model.state = JobStatus.FAILED

    @rule(target=jobs, user_id=users, price=st.integers(min_value=1, max_value=4))
    def create_job(self, user_id: int, price: int) -> Any:
        job_id = self._create_job(user_id, price)
        return multiple() if job_id is None else job_id

    @rule(job_id=jobs, step=st.sampled_from(JOB_STEPS))
    def job_step(self, job_id: str, step: str) -> None:
        self._job_step(job_id, step)

    @rule(
        target=jobs,
        user_id=users,
        price=st.integers(min_value=1, max_value=4),
        path=st.sampled_from(JOB_PATHS),
    )
    def job_from_start_to_end(self, user_id: int, price: int, path: tuple[str, ...]) -> Any:
        """A whole generation in one step: its money moves and its replays along the way."""
        job_id = self._create_job(user_id, price)
        if job_id is None:
            return multiple()
        for step in path:
            self._job_step(job_id, step)
        return job_id

    @rule(job_id=jobs)
    def two_copies_finish_a_job_at_once(self, job_id: str) -> None:
        """A running job: its success and two failures (another copy, the sweeper) at the same
        moment. One wins; the money follows whichever it was."""
        model = self.books.jobs[job_id]
        if model.state == JobStatus.QUEUED:
            self._job_step(job_id, "start")
        if model.state != JobStatus.RUNNING:
            return
        job = self._job(job_id)
        key = f"media/{model.new.user_id}/{job_id}.png"
        moves: list[Callable[[], bool]] = [
            lambda: service.succeed(job, owner=WORKER, result_key=key, mime="image/png", provider="fake"),
            lambda: service.fail(self._job(job_id), "dead_letter"),
            lambda: service.fail(self._job(job_id), "swept"),
        ]
        with ThreadPoolExecutor(max_workers=3) as pool:
            won = [future.result() for future in [pool.submit(move) for move in moves]]
        assert won.count(True) == 1, won
        self.books.active[model.new.user_id] -= 1
        if won[0]:
            model.state = JobStatus.SUCCEEDED
        else:
            self.books.post(model.new.user_id, f"job#{job_id}#refund", model.new.price)
            model.state = JobStatus.FAILED

    # -- Telegram Stars ---------------------------------------------------------------------------------

    def _stars_settle(self, payment: PaymentModel, via: str) -> bool | None:
        """Settle through the domain function or a ``successful_payment`` update; applied?"""
        if via == "settle":
            done = stars.settle_payment(
                self.settings,
                user_id=payment.user_id,
                payload=payment.payload,
                currency="XTR",
                total_amount=payment.stars,
                charge_id=payment.charge,
            )
            assert done is not None
            return done.applied
        update = self.harness.events.telegram_update("message_successful_payment", user_id=payment.user_id)
        update["message"]["successful_payment"].update(
            {
                "invoice_payload": payment.payload,
                "total_amount": payment.stars,
                "telegram_payment_charge_id": payment.charge,
            }
        )
        event = copy.deepcopy(self.harness.webhook_event)
        event["body"] = json.dumps(update, ensure_ascii=False)
        response = invoke("webhook", event)
        assert response["statusCode"] == 200, response
        return None  # the webhook doesn't say; the invariants do

    @rule(
        target=star_payments,
        user_id=users,
        pack=st.integers(0, 2),
        via=st.sampled_from(["settle", "webhook"]),
        then=st.sampled_from(["nothing", "nothing", "refund", "spend it all, refund"]),
    )
    def pay_with_stars(self, user_id: int, pack: int, via: str, then: str) -> Any:
        """A Stars purchase; sometimes refunded at once (after the credits were spent: the
        shortfall is recorded, the balance never goes below zero)."""
        item = self.packs[pack % len(self.packs)]
        charge = f"stxFUZZ{uuid.uuid4().hex}"
        payment = PaymentModel(
            f"stars#{charge}",
            user_id,
            item.credits,
            status=None,
            charge=charge,
            payload=stars.order_for(item, user_id).payload,
            stars=item.stars,
        )
        self.books.payments[payment.payment_id] = payment
        assert self._stars_settle(payment, via) in (True, None)
        self.books.settled(payment, self.settings.referral_reward)
        if then.startswith("spend"):
            spent = self.books.balance(user_id) - 1
            assert apply(Posting(user_id, f"job#spend-{charge}#debit", -spent, EntryKind.DEBIT))
            self.books.post(user_id, f"job#spend-{charge}#debit", -spent)
        if then != "nothing":
            self._refund(payment.payment_id)
        return payment.payment_id

    @rule(payment_id=star_payments, via=st.sampled_from(["settle", "webhook"]))
    def stars_payment_delivered_again(self, payment_id: str, via: str) -> None:
        """The same charge again (a redelivered update, a retried Lambda): never a second credit,
        even after the payment was refunded."""
        assert self._stars_settle(self.books.payments[payment_id], via) in (False, None)

    # -- YooKassa -----------------------------------------------------------------------------------------

    @rule(target=yk_payments, user_id=users, pack=st.integers(0, 2), buyer=st.sampled_from(BUYER_DOES))
    def create_yookassa_payment(self, user_id: int, pack: int, buyer: str) -> str:
        """A ruble payment created (stored pending); the buyer may pay or give up at once."""
        item = self.packs[pack % len(self.packs)]
        yookassa.save_receipt_contact(user_id, f"u{user_id}@example.com")
        user = User.get(user_id, consistent_read=True)
        created = yookassa.create_payment(
            self.settings, user, item, return_url="https://t.me/genbot_local_bot", description="Credits"
        )
        assert created.status == PaymentStatus.PENDING
        self.books.payments[created.payment_id] = PaymentModel(
            created.payment_id,
            user_id,
            item.credits,
            status=PaymentStatus.PENDING,
            provider_status="pending",
            stale=copy.copy(created),
        )
        if buyer != "nothing yet":
            self._buyer(created.payment_id, paid=buyer.startswith("pays"))
        if buyer.endswith(("poll", "notification")):
            self._settle_path(created.payment_id, buyer.rsplit(" ", 1)[1])
        return created.payment_id

    @rule(payment_id=yk_payments, paid=st.booleans())
    def buyer_pays_or_gives_up_at_yookassa(self, payment_id: str, paid: bool) -> None:
        self._buyer(payment_id, paid=paid)

    def _buyer(self, payment_id: str, *, paid: bool) -> None:
        payment = self.books.payments[payment_id]
        if payment.provider_status != "pending":
            return
        provider_id = payment_id.split("#", 1)[1]
        if paid:
            self.harness.yk.succeed(provider_id)
            payment.provider_status = "succeeded"
        else:
            self.harness.yk.cancel(provider_id, party="payment_network", reason="insufficient_funds")
            payment.provider_status = "canceled"

    def _expect_yookassa_outcome(self, payment: PaymentModel) -> None:
        """What any settle path must have done, given YooKassa's word and our record."""
        if payment.status != PaymentStatus.PENDING:
            return  # settled, canceled or refunded before: nothing moves
        if payment.provider_status == "succeeded":
            self.books.settled(payment, self.settings.referral_reward)
        elif payment.provider_status == "canceled":
            payment.status = PaymentStatus.CANCELED

    def _run_poll(self, payment_id: str) -> dict[str, Any]:
        stored = Payment.get(payment_id, consistent_read=True)
        if stored.status == PaymentStatus.PENDING:
            stored.update(actions=[Payment.next_poll_at.set(0)])  # its next look is due now
        return poll.poll_due(self.settings)

    def _notify(self, payment_id: str) -> dict[str, Any]:
        event = copy.deepcopy(self.harness.webhook_event)
        event["routeKey"] = event["requestContext"]["routeKey"] = "POST /yookassa/notifications"
        event["rawPath"] = event["requestContext"]["http"]["path"] = "/yookassa/notifications"
        event["requestContext"]["http"]["sourceIp"] = YOOKASSA_IP
        event["headers"] = {"content-type": "application/json", "x-forwarded-for": YOOKASSA_IP}
        body = {
            "type": "notification",
            "event": "payment.succeeded",
            "object": {"id": payment_id.split("#", 1)[1], "status": "succeeded", "paid": True},
        }
        event["body"] = json.dumps(body)
        answer: dict[str, Any] = invoke("payment_poll", event)
        assert answer["statusCode"] == 200, answer
        return answer

    def _stale_poll(self, payment: PaymentModel) -> str:
        """A poll that read the payment while it was pending and settles it only now."""
        assert payment.stale is not None
        fetched = yookassa.fetch(self.settings, payment.payment_id.split("#", 1)[1])
        return poll.apply(self.settings, copy.copy(payment.stale), fetched)

    @rule(payment_id=yk_payments, path=st.sampled_from(["poll", "notification", "stale poll"]))
    def yookassa_settle_path(self, payment_id: str, path: str) -> None:
        self._settle_path(payment_id, path)

    def _settle_path(self, payment_id: str, path: str) -> None:
        payment = self.books.payments[payment_id]
        if path == "poll":
            self._run_poll(payment_id)
        elif path == "notification":
            self._notify(payment_id)
        else:
            outcome = self._stale_poll(payment)
            assert outcome == payment.provider_status
        self._expect_yookassa_outcome(payment)

    @rule(payment_id=yk_payments)
    def yookassa_settle_paths_race(self, payment_id: str) -> None:
        """The poll, a notification and a stale poll at the same moment: one credit at most."""
        payment = self.books.payments[payment_id]
        jobs: list[Callable[[], Any]] = [
            lambda: self._run_poll(payment_id),
            lambda: self._notify(payment_id),
            lambda: self._stale_poll(payment),
        ]
        with ThreadPoolExecutor(max_workers=3) as pool:
            for future in [pool.submit(job) for job in jobs]:
                future.result()
        self._expect_yookassa_outcome(payment)

    # -- refunds ------------------------------------------------------------------------------------------

    def _refund(self, payment_id: str) -> None:
        payment = self.books.payments[payment_id]
        if payment.status in (PaymentStatus.PENDING, PaymentStatus.CANCELED):
            with pytest.raises(refunds.RefundError):
                refunds.refund(self.settings, payment_id)
            return
        result = refunds.refund(self.settings, payment_id)
        assert Payment.get(payment_id, consistent_read=True).status == PaymentStatus.REFUNDED
        if payment.status == PaymentStatus.REFUNDED:
            assert not result.applied
            return
        taken = min(payment.credits, self.books.balance(payment.user_id))
        assert result.applied and (result.credits, result.shortfall) == (taken, payment.credits - taken)
        self.books.post(payment.user_id, f"refund#{payment_id}", -taken)
        payment.status = PaymentStatus.REFUNDED
        assert result.balance == self.books.balance(payment.user_id)

    @rule(payment_id=star_payments)
    def refund_stars_payment(self, payment_id: str) -> None:
        self._refund(payment_id)

    @rule(payment_id=yk_payments)
    def refund_yookassa_payment(self, payment_id: str) -> None:
        self._refund(payment_id)

    @rule(payment_id=star_payments)
    def refund_clicked_twice_at_once(self, payment_id: str) -> None:
        """Two operators (or a double click) refund one Stars payment at the same moment."""
        payment = self.books.payments[payment_id]
        if payment.status != PaymentStatus.SUCCEEDED:
            return
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lambda _: refunds.refund(self.settings, payment_id), range(2)))
        assert sorted(r.applied for r in results) == [False, True], results
        taken = next(r.credits for r in results if r.applied)
        assert taken == min(payment.credits, self.books.balance(payment.user_id))
        self.books.post(payment.user_id, f"refund#{payment_id}", -taken)
        payment.status = PaymentStatus.REFUNDED

    # -- the operator, promo codes, the daily bonus ------------------------------------------------------

    @rule(
        user_id=users,
        amount=st.one_of(st.integers(-8, 8).filter(bool), st.just("all")),
        key=st.sampled_from(GRANT_KEYS),
    )
    def operator_grants_or_revokes(self, user_id: int, amount: int | str, key: str) -> None:
        """Through the cabinet API as the operator; a key used before is a double submit.
        ``all`` takes back the whole balance (what the user holds is spent, for refunds)."""
        credits = -self.books.balance(user_id) or -1 if amount == "all" else int(amount)
        event = copy.deepcopy(self.harness.cabinet_event)
        path = f"/cabinet/admin/users/{user_id}/grant"
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        event["requestContext"]["http"]["method"] = "POST"
        event["pathParameters"] = {"proxy": path.removeprefix("/cabinet/")}
        event["rawQueryString"] = ""
        user = {"id": OPERATOR, "first_name": "Op", "language_code": "en"}
        event["headers"]["authorization"] = (
            f"tma {sign_init_data(BOT_TOKEN, user, auth_date=int(time.time()))}"
        )
        event["body"] = json.dumps({"credits": credits, "reason": "fuzz", "idempotency_key": key})
        event["headers"]["content-type"] = "application/json"
        event["headers"]["content-length"] = str(len(event["body"]))
        response = invoke("cabinet_api", event)
        answer = json.loads(response.get("body") or "{}")
        op_id = grant_op_id(OPERATOR, user_id, key)
        if self.books.has(user_id, op_id):
            assert response["statusCode"] == 200 and answer["applied"] is False, answer
        elif credits < 0 and self.books.balance(user_id) < -credits:
            assert response["statusCode"] == 409, answer
        else:
            assert response["statusCode"] == 200 and answer["applied"] is True, answer
            self.books.post(user_id, op_id, credits)
            assert answer["balance"] == self.books.balance(user_id)

    @rule(
        user_id=users,
        code=st.sampled_from(sorted(PROMOS)),
        disable_first=st.integers(0, 7).map(lambda n: n == 0),
    )
    def redeem_promo(self, user_id: int, code: str, disable_first: bool) -> None:
        """A redemption (again and again: once per user, within its uses), sometimes of a code
        the operator has just disabled."""
        credits, uses = PROMOS[code]
        if disable_first:
            promo.disable(code)
            self.books.promo_disabled.add(code)
        result = promo.redeem(user_id, code)
        if self.books.has(user_id, promo.op_id(code)):
            expected = promo.Outcome.ALREADY_USED
        elif code in self.books.promo_disabled:
            expected = promo.Outcome.DISABLED
        elif self.books.promo_used[code] >= uses:
            expected = promo.Outcome.USED_UP
        else:
            expected = promo.Outcome.REDEEMED
            self.books.post(user_id, promo.op_id(code), credits)
            self.books.promo_used[code] += 1
        assert result.outcome == expected, (result, expected)

    @rule(user_id=users, hours=st.integers(min_value=-12, max_value=24 * 3 + 12))
    def claim_the_daily_bonus(self, user_id: int, hours: int) -> None:
        user = User.get(user_id, consistent_read=True)
        at = int(user.created_at) + hours * 3600
        claim = claim_daily_bonus(self.settings, user, now=at)
        op_id = f"bonus#daily#{local_day(self.settings, at).isoformat()}"
        if not bonus_open(self.settings, int(user.created_at), at):
            assert claim == BonusClaim.CLOSED
        elif self.books.has(user_id, op_id):
            assert claim == BonusClaim.ALREADY
        else:
            assert claim == BonusClaim.CLAIMED
            self.books.post(user_id, op_id, self.settings.daily_bonus)

    # -- any business id, replayed ------------------------------------------------------------------------

    @rule(data=st.data(), delta=st.integers(-50, 50))
    def replay_any_entry_with_another_amount(self, data: st.DataObject, delta: int) -> None:
        (user_id, op_id) = data.draw(st.sampled_from(sorted(self.books.entries)), label="entry")
        assert apply(Posting(user_id, op_id, delta, EntryKind.GRANT)) is False

    # -- after every step ---------------------------------------------------------------------------------

    @invariant()
    def the_books_are_exact(self) -> None:
        """Every balance >= 0, equal to its ledger's sum and to the model's; the ledger holds
        exactly the model's entries (so each op id once); the job counters agree."""
        stored = [(int(e.user_id), e.op_id, int(e.delta)) for e in LedgerEntry.scan(consistent_read=True)]
        keys = [(user_id, op_id) for user_id, op_id, _ in stored]
        assert len(keys) == len(set(keys)), "an entry stored twice"
        business = [op for _, op, _ in stored if op.startswith(("job#", "pay#", "refund#", "grant#"))]
        assert len(business) == len(set(business)), "a business id under two users"
        assert {(u, op): d for u, op, d in stored} == self.books.entries

        balances = {int(u.user_id): u for u in User.scan(consistent_read=True)}
        assert set(balances) == set(USERS)
        for user_id, user in balances.items():
            ledger_sum = sum(d for u, _, d in stored if u == user_id)
            assert int(user.balance) >= 0, user_id
            assert int(user.balance) == ledger_sum == self.books.balance(user_id), user_id
            assert int(user.active_jobs or 0) == self.books.active[user_id], user_id
            assert int(user.generations or 0) == self.books.generations(user_id), user_id

    def teardown(self) -> None:
        """At the end of each example: every job's state and payment's status, and the audit."""
        jobs = {j.job_id: (str(j.status), bool(j.delivered)) for j in Job.scan(consistent_read=True)}
        assert jobs == {
            job_id: (JobStatus.SUCCEEDED, True) if m.state == DELIVERED else (m.state, False)
            for job_id, m in self.books.jobs.items()
        }
        payments = {p.payment_id: str(p.status) for p in Payment.scan(consistent_read=True)}
        assert payments == {p.payment_id: p.status for p in self.books.payments.values() if p.status}
        assert audit() == []


# --- the test ------------------------------------------------------------------------------------------


@pytest.fixture
def harness(
    aws: dict[str, str],
    telegram: Any,
    recorded_events: RecordedEvents,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Harness]:
    yk = YooKassaStandIn(shop_id=SHOP, secret_key=SHOP_SECRET, receipt_required=True).start()
    monkeypatch.setenv("ADMIN_IDS", str(OPERATOR))
    monkeypatch.setenv("YOOKASSA_SHOP_ID", SHOP)
    monkeypatch.setenv("YOOKASSA_SECRET_KEY", SHOP_SECRET)
    monkeypatch.setenv("YOOKASSA_API_URL", yk.base_url)
    monkeypatch.setattr(yookassa, "REQUEST_TIMEOUT", (2.0, 2.0))
    monkeypatch.setattr(yookassa, "RETRY_PAUSE_SECONDS", 0.0)
    get_settings.cache_clear()
    try:
        yield Harness(
            tables=Tables(),
            yk=yk,
            telegram=telegram,
            events=recorded_events,
            cabinet_event=recorded_events.load("apigw_http_cabinet.json"),
            webhook_event=recorded_events.api_event("{}", secret=WEBHOOK_SECRET),
        )
    finally:
        yk.stop()
        get_settings.cache_clear()


@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_any_interleaving_of_money_moves_keeps_the_books_exact(harness: Harness) -> None:
    LedgerMachine.harness = harness
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
