"""The job's state moves, called as the worker and the sweeper call them (``genbot.jobs.service``).

Each move is conditional: on the job's status, on the worker's lease, on the refund not being
there yet. These tests pin what each move leaves behind (the sweeper's next look, the user's
counters, the day's statistics) and what it refuses (another worker's lease, a finished job).
Written for the survivors of mutation testing (docs/mutation.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from genbot import stats
from genbot.config import get_settings
from genbot.jobs import queue, service
from genbot.ledger import Posting, apply
from genbot.ledger.audit import audit
from genbot.observability import metrics
from genbot.store.models import Job, LedgerEntry, User, now_ms
from genbot.users import register
from genbot.vocab import EntryKind, Funding, JobStatus, Mode, Tier

USER = 828000
MINUTE = 60_000
SENT: list[str] = []


@pytest.fixture(autouse=True)
def ada(aws, monkeypatch) -> Iterator[None]:
    register(get_settings(), USER, language="en", first_name="Ada")
    apply(Posting(USER, "grant#test", 20, EntryKind.GRANT))
    SENT.clear()
    monkeypatch.setattr(queue, "send", lambda message, delay_seconds=0: SENT.append(message.job_id))
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The service's clock, fixed at the real time and moved by the test (``clock[0] = ...``)."""
    fixed = [now_ms()]
    monkeypatch.setattr(service, "now_ms", lambda: fixed[0])
    return fixed


def new_job(mode: Mode = Mode.IMAGE, price: int = 2, **extra: Any) -> Job:
    new = service.NewJob(
        job_id=f"job-{uuid.uuid4().hex[:10]}",
        user_id=USER,
        chat_id=USER,
        mode=mode,
        tier=Tier.STANDARD,
        prompt="a fox",
        price=price,
        **extra,
    )
    job = service.create(get_settings(), new)
    assert job is not None
    return job


def stored(job: Job) -> Job:
    found = service.get(str(job.job_id))
    assert found is not None
    return found


def user() -> User:
    return User.get(USER, consistent_read=True)


def between(value: Any, low: int, high: int) -> bool:
    return low <= int(value) <= high


def metric(name: str) -> list[float]:
    found = metrics.metric_set.get(name)
    return list(found["Value"]) if found else []


def today(what: str, name: str) -> int:
    (day,) = stats.read(1)
    return day.get(what, name)


# --- when the sweeper looks next ----------------------------------------------------------------------


def test_each_move_sets_when_the_sweeper_looks_at_the_job_next(clock: list[int]) -> None:
    """Queued: 10 minutes. Running: its lease (3 minutes) and 10 more. Waiting on a provider's
    operation: the poll's delay and 10 more. Given back, or looked at again: as asked. (The
    service's clock is fixed and moved on a second before each move: the figures are exact.)"""
    clock[0] += 1_000
    before = clock[0]
    job = new_job()
    after = clock[0]
    assert between(stored(job).sweep_at, before + 10 * MINUTE, after + 10 * MINUTE)
    assert metric("JobsCreated") == [1.0]
    assert stored(job).variant is None  # a plain job is not a variation

    clock[0] += 1_000
    before = clock[0]
    assert service.start(job, owner="worker-a")
    after = clock[0]
    running = stored(job)
    assert between(running.lease_until, before + 3 * MINUTE, after + 3 * MINUTE)
    assert int(running.sweep_at) == int(running.lease_until) + 10 * MINUTE

    clock[0] += 1_000
    before = clock[0]
    service.record_operation(job, "worker-a", "fake", "operations/1", "key-1", "veo", poll_in_s=20)
    after = clock[0]
    waiting = stored(job)
    assert waiting.lease_owner is None and waiting.operation == "operations/1"
    assert between(waiting.sweep_at, before + 20_000 + 10 * MINUTE, after + 20_000 + 10 * MINUTE)

    clock[0] += 1_000
    before = clock[0]
    assert service.acquire(job, "worker-b")
    after = clock[0]
    polled = stored(job)
    assert between(polled.lease_until, before + 3 * MINUTE, after + 3 * MINUTE)
    assert int(polled.sweep_at) == int(polled.lease_until) + 10 * MINUTE

    clock[0] += 1_000
    before = clock[0]
    service.release(job, "worker-b", next_look_ms=5_000)
    after = clock[0]
    released = stored(job)
    assert released.lease_owner is None and between(released.sweep_at, before + 5_000, after + 5_000)

    clock[0] += 1_000
    before = clock[0]
    service.look_again(job, after_ms=7 * MINUTE)
    after = clock[0]
    assert between(stored(job).sweep_at, before + 7 * MINUTE, after + 7 * MINUTE)

    assert service.acquire(job, "worker-b")
    clock[0] += 1_000
    before = clock[0]
    assert service.succeed(
        job, owner="worker-b", result_key="k", mime="video/mp4", provider="fake", model="veo"
    )
    after = clock[0]
    succeeded = stored(job)  # the lease goes on while the result is sent
    assert (succeeded.provider, succeeded.provider_model) == ("fake", "veo")
    assert metric("JobsSucceeded") == [1.0] and metric("CreditsSpent") == [2.0]
    assert between(succeeded.lease_until, before + 3 * MINUTE, after + 3 * MINUTE)
    assert between(succeeded.sweep_at, before + 13 * MINUTE, after + 13 * MINUTE)


def test_a_finished_job_is_not_looked_at_again() -> None:
    job = new_job()
    assert service.fail(job, "provider_refused")

    service.look_again(job, after_ms=MINUTE)  # the sweeper re-sent it as it finished: no error

    assert stored(job).sweep_at is None and stored(job).sweep is None


# --- another worker's lease ---------------------------------------------------------------------------


@pytest.mark.parametrize("other", ["worker-a", "worker-z"])  # sorting before and after the holder
def test_a_worker_without_the_lease_changes_nothing(other: str) -> None:
    job = new_job()
    assert service.start(job, owner="worker-m")
    service.record_operation(job, "worker-m", "fake", "operations/m", "key-1", "veo", poll_in_s=20)
    assert service.acquire(job, "worker-m")
    held = stored(job)

    assert not service.acquire(job, other)
    with pytest.raises(Exception):
        service.record_operation(job, other, "fake", f"operations/{other[-1]}", "key-1", "veo", poll_in_s=20)
    service.release(job, other)
    assert not service.succeed(job, owner=other, result_key="k", mime="image/png", provider="fake")

    now = stored(job)
    assert (now.status, now.lease_owner, now.lease_until, now.operation) == (
        "running",
        "worker-m",
        held.lease_until,
        "operations/m",
    )


def test_a_lease_is_held_to_its_last_millisecond(clock: list[int]) -> None:
    job = new_job()
    assert service.start(job, owner="worker-m")
    expires = int(stored(job).lease_until)
    assert expires == clock[0] + 3 * MINUTE

    clock[0] = expires
    assert not service.acquire(job, "worker-z")
    clock[0] = expires + 1
    assert service.acquire(job, "worker-z") and stored(job).lease_owner == "worker-z"


def test_only_a_job_in_the_right_state_is_started_or_leased() -> None:
    queued = new_job()
    assert not service.acquire(queued, "worker-a")  # a poll or delivery step before the start
    assert stored(queued).lease_owner is None

    failed = new_job()
    assert service.fail(failed, "provider_refused")
    assert not service.start(failed, owner="worker-a")
    assert not service.acquire(failed, "worker-a")
    assert (stored(failed).status, stored(failed).lease_owner, stored(failed).attempts) == ("failed", None, 0)

    done = new_job()
    assert service.start(done, owner="worker-a")
    assert service.succeed(done, owner="worker-a", result_key="k", mime="image/png", provider="fake")
    Job(done.job_id).update(actions=[Job.lease_until.set(now_ms() - 1)])  # its sender died
    assert not service.acquire(done, "worker-z")  # a late provider poll: nothing to poll
    assert service.acquire(done, "worker-z", JobStatus.SUCCEEDED)  # the delivery step takes it


def test_no_operation_is_recorded_on_a_job_that_already_succeeded() -> None:
    """The worker that succeeded still holds the lease (to send the result): a late poll step of
    its own must not turn the finished job back into one waiting on a provider."""
    job = new_job()
    assert service.start(job, owner="worker-a")
    assert service.succeed(job, owner="worker-a", result_key="k", mime="image/png", provider="fake")

    with pytest.raises(Exception):
        service.record_operation(job, "worker-a", "fake", "operations/late", "key-1", "veo", poll_in_s=20)

    done = stored(job)
    assert (done.status, done.operation, done.lease_owner) == ("succeeded", None, "worker-a")


# --- the assistant's message --------------------------------------------------------------------------


USAGE = service.ChatUsage(
    tokens_in=120, tokens_out=40, cost_micro_usd=42, latency_ms=900, first_piece_ms=300, model="gpt-x"
)


def chat_job(funding: Funding = Funding.CREDITS) -> Job:
    return new_job(Mode.CHAT, price=1, funding=funding)


def test_an_answered_message_finishes_its_job_once_and_frees_the_slot() -> None:
    job = chat_job()
    assert service.start(job, owner="worker-a") and int(user().active_jobs) == 1

    assert service.answered(job, "worker-a", USAGE)
    assert not service.answered(job, "worker-a", USAGE)  # a second copy of the message

    done = stored(job)
    assert (done.status, done.delivered, done.provider_model) == ("succeeded", True, "gpt-x")
    assert (int(done.tokens_in), int(done.tokens_out), int(done.cost_micro_usd)) == (120, 40, 42)
    assert done.lease_owner is None and done.sweep_at is None
    assert int(user().active_jobs) == 0
    assert metric("ChatAnswered") == [1.0] and today(stats.CHAT, "messages") == 1


@pytest.mark.parametrize("other", ["worker-a", "worker-z"])
def test_an_answer_by_a_worker_without_the_lease_is_refused(other: str) -> None:
    job = chat_job()
    assert service.start(job, owner="worker-m")

    assert not service.answered(job, other, USAGE)

    assert stored(job).status == "running" and int(user().active_jobs) == 1


def test_a_message_to_the_assistant_keeps_a_picture_being_set_up() -> None:
    """Asking the assistant mid-draft leaves the draft: only a started generation ends it."""
    draft = {"mode": "image", "prompt": "a fox"}
    User(USER).update(actions=[User.draft.set(draft), User.draft_nonce.set("n1")])
    chat_job()
    assert (user().draft, user().draft_nonce) == (draft, "n1")

    new_job()
    assert (user().draft, user().draft_nonce) == (None, None)


@pytest.mark.parametrize(
    ("funding", "given_back"),
    [(Funding.SUBSCRIPTION, ("chat_day_count", 2)), (Funding.TRIAL, ("chat_trial_left", 4))],
)
def test_a_failed_message_gives_back_what_paid_for_it(funding: Funding, given_back: tuple[str, int]) -> None:
    User(USER).update(actions=[User.chat_day_count.set(3), User.chat_trial_left.set(3)])
    job = chat_job(funding)

    assert service.fail(job, "provider_error")

    name, value = given_back
    assert int(getattr(user(), name)) == value
    assert today(stats.CHAT, "failed") == 1


# --- finished jobs ------------------------------------------------------------------------------------


def test_a_failed_generation_counts_as_a_job_and_a_failure_of_the_day() -> None:
    job = new_job()
    assert service.fail(job, "provider_refused")
    assert metric("JobsFailed") == [1.0] and metric("CreditsRefunded") == [2.0]
    key = stats.generation_key("image", None)
    assert (today(key, "jobs"), today(key, "failed"), today(key, "succeeded")) == (1, 1, 0)


def test_a_job_the_queue_refuses_is_refunded_before_the_error_goes_up(monkeypatch) -> None:
    def unavailable(message: Any, delay_seconds: int = 0) -> None:
        raise ConnectionError("SQS is down")

    monkeypatch.setattr(queue, "send", unavailable)
    with pytest.raises(ConnectionError):
        new_job()

    (job,) = [j for j in Job.scan() if j.user_id == USER]
    assert (job.status, job.error_code) == ("failed", "queue_unavailable")
    assert (int(user().balance), int(user().active_jobs)) == (3 + 20, 0) and audit() == []


def test_a_user_above_a_lowered_limit_gets_no_new_job() -> None:
    """The operator lowers MAX_USER_QUEUE while a user has more jobs in flight than the new limit."""
    limit = get_settings().max_user_queue
    User(USER).update(actions=[User.active_jobs.set(limit + 1)])

    with pytest.raises(service.TooManyJobsError):
        new_job()

    assert int(user().active_jobs) == limit + 1 and int(user().balance) == 3 + 20 and SENT == []


@pytest.mark.parametrize("current", ["a-newer-draft", "z-newer-draft"])  # sorting before and after
def test_a_confirmation_of_a_replaced_draft_charges_nothing(current: str) -> None:
    User(USER).update(actions=[User.draft_nonce.set(current)])
    new = service.NewJob(
        job_id="job-stale",
        user_id=USER,
        chat_id=USER,
        mode=Mode.IMAGE,
        tier=Tier.STANDARD,
        prompt="x",
        price=2,
    )

    with pytest.raises(service.StaleDraftError):
        service.create(get_settings(), new, draft_id="m-old-draft")

    assert service.get("job-stale") is None and int(user().balance) == 3 + 20 and SENT == []


def test_a_result_not_sent_yet_is_not_refunded_as_undeliverable_while_running() -> None:
    job = new_job()
    assert service.start(job, owner="worker-a")

    assert not service.refund_undelivered(stored(job), "chat_gone")
    assert stored(job).status == "running" and int(user().balance) == 3 + 20 - 2


def test_a_succeeded_job_is_not_failed_or_refunded_by_a_late_copy() -> None:
    job = new_job()
    assert service.start(job, owner="worker-a")
    assert service.succeed(job, owner="worker-a", result_key="k", mime="image/png", provider="fake")

    assert not service.fail(job, "dead_letter")  # a late copy of the message, or the DLQ

    assert stored(job).status == "succeeded"
    assert f"job#{job.job_id}#refund" not in {e.op_id for e in LedgerEntry.query(USER)}


def test_a_success_recorded_twice_by_its_worker_counts_once() -> None:
    """The worker keeps its lease after the success (it sends the result next): a second call
    must still not free the slot or count the generation again."""
    job = new_job()
    assert service.start(job, owner="worker-a")
    assert service.succeed(job, owner="worker-a", result_key="k", mime="image/png", provider="fake")

    assert not service.succeed(job, owner="worker-a", result_key="k", mime="image/png", provider="fake")

    assert (int(user().active_jobs), int(user().generations)) == (0, 1)
    assert today(stats.generation_key("image", "fake"), "succeeded") == 1


def test_an_undeliverable_result_is_refunded_once_and_counted_as_failed() -> None:
    job = new_job()
    assert service.start(job, owner="worker-a")
    assert service.succeed(job, owner="worker-a", result_key="k", mime="image/png", provider="fake")
    key = stats.generation_key("image", "fake")
    assert (int(user().generations), today(key, "succeeded"), today(key, "credits")) == (1, 1, 2)
    assert today(key, "jobs") == 1

    assert service.refund_undelivered(stored(job), "chat_gone")  # as the worker reads it
    assert metric("JobsRefundedUndelivered") == [1.0] and today(key, "failed") == 1
    assert not service.refund_undelivered(stored(job), "chat_gone")

    assert int(user().generations) == 0 and int(user().balance) == 3 + 20
    assert (stored(job).status, stored(job).delivered) == ("failed", False)
    assert (today(key, "succeeded"), today(key, "failed"), today(key, "credits")) == (0, 1, 0)
    assert metric("JobsRefundedUndelivered") == [1.0]
    assert audit() == []


def test_a_delivered_result_is_not_refunded() -> None:
    job = new_job()
    assert service.start(job, owner="worker-a")
    assert service.succeed(job, owner="worker-a", result_key="k", mime="image/png", provider="fake")
    Job(job.job_id).update(actions=[Job.delivered.set(True)])

    assert not service.refund_undelivered(job, "chat_gone")
    assert stored(job).status == "succeeded" and int(user().balance) == 3 + 20 - 2


def test_a_replayed_creation_queues_only_a_job_still_queued() -> None:
    job = new_job()
    assert [job.job_id] == SENT
    service.resume(str(job.job_id))
    assert [job.job_id] * 2 == SENT  # still queued: its message may have been lost

    assert service.start(job, owner="worker-a")
    service.resume(str(job.job_id))
    assert [job.job_id] * 2 == SENT  # a worker has it: nothing to send

    assert service.succeed(job, owner="worker-a", result_key="k", mime="image/png", provider="fake")
    service.resume(str(job.job_id))
    assert [job.job_id] * 2 == SENT  # finished: nothing to send

    failed = new_job()
    assert service.fail(failed, "provider_refused")
    service.resume(str(failed.job_id))
    assert SENT.count(failed.job_id) == 1


# --- the original file --------------------------------------------------------------------------------


def test_the_original_can_be_asked_for_again_two_minutes_after_a_request() -> None:
    job = new_job()
    assert service.claim_original(job)
    assert not service.claim_original(job)  # one request in flight

    Job(job.job_id).update(actions=[Job.original_requested_at.set(now_ms() - 2 * MINUTE - 1_000)])
    assert service.claim_original(job)  # the first one died: a new request may go

    service.original_done(job)
    assert service.claim_original(job)


def test_the_original_is_refused_until_two_full_minutes_have_passed(clock: list[int]) -> None:
    job = new_job()
    assert service.claim_original(job)
    asked = clock[0]

    clock[0] = asked + 2 * MINUTE
    assert not service.claim_original(job)
    clock[0] = asked + 2 * MINUTE + 1
    assert service.claim_original(job)


def test_a_request_stamped_ahead_of_this_clock_is_still_pending(clock: list[int]) -> None:
    """Another Lambda's clock may run ahead: its request is in flight, not ours to repeat."""
    job = new_job()
    now = clock[0]
    Job(job.job_id).update(actions=[Job.original_requested_at.set(now + 1_000)])

    assert not service.claim_original(job)
    assert int(stored(job).original_requested_at) == now + 1_000
