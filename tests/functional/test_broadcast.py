"""Broadcasts end to end: the draft, the fan-out through the real queue (moto) into the real
``notify`` handler, the Bot API stand-in on the other side.

The queue is fed the way Lambda's event source mapping does (``genbot_local.sqs_driver``):
the queue's batch size, Lambda's record shape, successes deleted, failures left. Two consumer
threads play the queue's ``max_concurrency`` of 2 where the rate is what is tested.
"""

from __future__ import annotations

import io
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from genbot import runtime
from genbot.config import get_settings
from genbot.notify import broadcast
from genbot.notify.broadcast import ChunkMessage, Segment
from genbot.resources import QUEUES
from genbot.store.models import BroadcastItem, User
from genbot.telegram.callbacks import BroadcastAction, BroadcastCb
from genbot.vocab import BroadcastStatus, NoticeKind
from genbot_local.botapi import BotApiStandIn
from genbot_local.invoke import LocalContext, load_handler
from genbot_local.sqs_driver import SqsDriver, queue_depth

SEND_METHODS = ("sendmessage", "sendphoto")
ADMIN = 4242


def notify(event: dict[str, Any]) -> Any:
    """The notify function, invoked as Lambda does (its own timeout in the context)."""
    return load_handler("notify")(event, LocalContext(function_name="notify", timeout_seconds=60))


class BroadcastQueue:
    """The broadcasts queue fed to the notify function, by one or two consumers."""

    def __init__(self, env: dict[str, str]) -> None:
        self.spec = QUEUES["broadcasts"]
        self.sqs = boto3.client("sqs")
        self.url = env[self.spec.env_var]
        load_handler("notify")  # imported once, before any consumer thread
        self.seen: list[dict[str, Any]] = []  # every message handed to the function

    def driver(self, target: Callable[[dict[str, Any]], Any] = notify) -> SqsDriver:
        return SqsDriver.for_queue(self.spec, self.url, target, client=self.sqs, wait_seconds=0)

    def depth(self) -> int:
        return queue_depth(self.sqs, self.url)

    def receive(self) -> list[dict[str, Any]]:
        """The next message(s), not yet processed (they stay in flight)."""
        messages = self.driver().receive()
        self.seen += messages
        return messages

    def process(self, messages: list[dict[str, Any]]) -> None:
        outcome = self.driver().process(messages)
        if outcome.error is not None:
            raise outcome.error
        assert not outcome.failed, outcome.result

    def drain(self, consumers: int = 1, timeout: float = 120) -> None:
        """Run until the queue is empty (delayed and in-flight messages included)."""
        errors: list[BaseException] = []
        deadline = time.monotonic() + timeout

        def consume() -> None:
            driver = self.driver()
            try:
                while time.monotonic() < deadline and not errors:
                    messages = driver.receive()
                    if not messages:
                        if self.depth() == 0:
                            return
                        time.sleep(0.1)
                        continue
                    self.seen += messages
                    outcome = driver.process(messages)
                    if outcome.error is not None:
                        errors.append(outcome.error)
            finally:
                runtime.forget_bot()  # this thread's Bot: close its session

        threads = [threading.Thread(target=consume) for _ in range(consumers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        assert self.depth() == 0, "the queue did not drain in time"


@pytest.fixture
def queue(aws: dict[str, str]) -> BroadcastQueue:
    return BroadcastQueue(aws)


@pytest.fixture
def blocked_chats(telegram: BotApiStandIn) -> Iterator[Callable[[list[int]], None]]:
    """``blocked_chats(ids)``: these users blocked the bot (the stand-in answers 403) for this test."""
    chosen: list[int] = []

    def block(ids: list[int]) -> None:
        chosen.extend(ids)
        for user_id in ids:
            telegram.block(user_id)

    yield block
    for user_id in chosen:
        telegram.unblock(user_id)


def add_users(first: int, count: int, **attrs: Any) -> list[int]:
    ids = list(range(first, first + count))
    with User.batch_write() as batch:
        for user_id in ids:
            batch.save(User(user_id, **attrs))
    return ids


def sends(telegram: BotApiStandIn) -> list[Any]:
    return [c for c in telegram.calls if c.method.lower() in SEND_METHODS]


def delivered(telegram: BotApiStandIn) -> Counter[int]:
    """Messages that reached each chat (the stand-in answered ok)."""
    return Counter(int(c.params["chat_id"]) for c in sends(telegram) if c.ok)


def meta(broadcast_id: str) -> BroadcastItem:
    item = broadcast.get(broadcast_id)
    assert item is not None
    return item


def counts(broadcast_id: str) -> dict[str, Any]:
    p = broadcast.progress(meta(broadcast_id))
    return {
        "status": p.status,
        "selected": p.selected,
        "sent": p.sent,
        "failed": p.failed,
        "blocked": p.blocked,
        "skipped": p.skipped,
    }


def started(text: str = "Hello <b>everyone</b>", segment: Segment | None = None, **kwargs: Any) -> str:
    item = broadcast.create(get_settings(), text, segment=segment, created_by="test", **kwargs)
    assert broadcast.start(get_settings(), item.broadcast_id)
    return item.broadcast_id


def busiest_second(calls: list[Any]) -> int:
    """The most calls the stand-in saw in any 1-second window [t, t + 1)."""
    times = sorted(c.at for c in calls)
    best, j = 0, 0
    for i, at in enumerate(times):
        while times[j] < at - 1.0 + 1e-9:
            j += 1
        best = max(best, i - j + 1)
    return best


# --- the whole way, at Telegram's rate ---------------------------------------------------------------


def test_500_users_through_429s_and_403s_each_get_one_message_within_the_rate(
    aws: dict[str, str], telegram: BotApiStandIn, queue: BroadcastQueue, blocked_chats: Any
) -> None:
    ids = add_users(500_000, 250, language="ru") + add_users(500_250, 250, language="en")
    gone = ids[7::25]  # 20 users who blocked the bot
    blocked_chats(gone)
    broadcast_id = started(button=broadcast.Button(text="Open", url="https://example.com/sale"))
    # Telegram's flood control answers 429 (retry_after 1) for a while, a few seconds in
    flood = threading.Timer(
        3.0,
        lambda: telegram.fail_next(
            "sendMessage", 429, "Too Many Requests: retry after 1", times=6, retry_after=1
        ),
    )
    flood.start()
    try:
        queue.drain(consumers=2)
    finally:
        flood.cancel()

    got = delivered(telegram)
    assert set(got) == set(ids) - set(gone)
    assert set(got.values()) == {1}  # exactly one message each
    assert all(User.get(user_id).blocked for user_id in gone)
    assert not any(User.get(user_id).blocked for user_id in ids[:5])
    assert counts(broadcast_id) == {
        "status": "done",
        "selected": 500,
        "sent": 480,
        "failed": 0,
        "blocked": 20,
        "skipped": 0,
    }
    calls = sends(telegram)
    assert sum(1 for c in calls if c.response.get("error_code") == 429) == 6  # waited out and retried
    assert busiest_second(calls) <= get_settings().broadcast_rate
    # as users see it: the text, the footer in their language, the button
    first_en = next(c for c in calls if c.ok and c.params["chat_id"] == ids[300])
    assert first_en.params["text"].startswith("Hello <b>everyone</b>\n\n")
    assert "/settings" in first_en.params["text"]
    markup = first_en.params["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    assert markup["inline_keyboard"][0][0]["url"] == "https://example.com/sale"
    done = meta(broadcast_id)
    assert done.finished_at is not None and done.started_at is not None and done.selection_done


def test_blocked_and_opted_out_users_are_never_messaged(
    aws: dict[str, str], telegram: BotApiStandIn, queue: BroadcastQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROADCAST_RATE", "30")
    get_settings.cache_clear()
    add_users(510_000, 5)
    add_users(510_100, 3, blocked=True)  # never selected
    add_users(510_200, 2, muted={str(NoticeKind.OFFERS)})  # selected, skipped
    add_users(510_300, 1, muted={str(NoticeKind.BONUS)})  # only bonus reminders off: gets it
    broadcast_id = started()
    queue.drain()
    assert set(delivered(telegram)) == {*range(510_000, 510_005), 510_300}
    assert counts(broadcast_id) == {
        "status": "done",
        "selected": 8,
        "sent": 6,
        "failed": 0,
        "blocked": 0,
        "skipped": 2,
    }


# --- segments --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        (Segment(), {1, 2, 3, 4, 5, 6}),
        (Segment(language="en"), {2, 4}),
        (Segment(language="ru"), {1, 3, 5, 6}),  # 6 was stored without a language: ru by default
        (Segment(paying=True), {1, 2}),
        (Segment(paying=False), {3, 4, 5, 6}),
        (Segment(active_days=7), {1, 3, 4}),
        (Segment(language="ru", paying=False, active_days=7), {3}),
    ],
)
def test_segments(
    aws: dict[str, str],
    telegram: BotApiStandIn,
    queue: BroadcastQueue,
    monkeypatch: pytest.MonkeyPatch,
    segment: Segment,
    expected: set[int],
) -> None:
    monkeypatch.setenv("BROADCAST_RATE", "30")
    get_settings.cache_clear()
    now = int(time.time())
    base = 520_000
    User(base + 1, language="ru", first_paid_at=1, seen_at=now - 3600).save()
    User(base + 2, language="en", first_paid_at=1, seen_at=now - 8 * 86_400).save()
    User(base + 3, language="ru", seen_at=now - 6 * 86_400).save()
    User(base + 4, language="en", seen_at=now).save()
    User(base + 5, language="ru").save()  # never seen since seen_at exists
    User(base + 6).update(actions=[User.balance.set(0)])  # an item with no language attribute
    User(base + 7, language="ru", first_paid_at=1, seen_at=now, blocked=True).save()  # never
    broadcast_id = started(segment=segment)
    queue.drain()
    assert set(delivered(telegram)) == {base + n for n in expected}
    assert counts(broadcast_id)["selected"] == len(expected)
    assert counts(broadcast_id)["status"] == "done"


def test_a_broadcast_to_nobody_is_done_at_once(aws: dict[str, str], queue: BroadcastQueue) -> None:
    broadcast_id = started(segment=Segment(language="en"))
    queue.drain()
    assert counts(broadcast_id) == {
        "status": "done",
        "selected": 0,
        "sent": 0,
        "failed": 0,
        "blocked": 0,
        "skipped": 0,
    }


# --- redeliveries, crashes, continuations -------------------------------------------------------------


def test_a_redelivered_select_page_and_chunk_change_nothing(
    aws: dict[str, str], telegram: BotApiStandIn, queue: BroadcastQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROADCAST_RATE", "30")
    get_settings.cache_clear()
    ids = add_users(530_000, 120)
    broadcast_id = started()
    [select] = queue.receive()
    queue.process([select])
    queue.process([select])  # SQS delivers the page again: same page item, nothing new counted
    assert queue.depth() == 3  # the page's 3 chunks (one page: 120 < 500), the redelivery added none
    queue.drain()
    # a chunk message delivered again after it was counted
    seen_chunks = [m for m in queue.seen if json.loads(m["Body"])["kind"] == "chunk"]
    assert sorted(json.loads(m["Body"])["chunk"] for m in seen_chunks) == ["0-0", "0-1", "0-2"]
    before = counts(broadcast_id)
    queue.process([seen_chunks[0]])
    assert (
        counts(broadcast_id)
        == before
        == {
            "status": "done",
            "selected": 120,
            "sent": 120,
            "failed": 0,
            "blocked": 0,
            "skipped": 0,
        }
    )
    assert set(delivered(telegram)) == set(ids) and set(delivered(telegram).values()) == {1}
    assert meta(broadcast_id).pages == 1


def test_a_crashed_invocations_chunk_is_resumed_after_its_lease(
    aws: dict[str, str], telegram: BotApiStandIn, queue: BroadcastQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An invocation died mid-chunk: 3 users sent, the 4th claimed (its lease now over), no tally."""
    monkeypatch.setenv("BROADCAST_RATE", "30")
    get_settings.cache_clear()
    ids = add_users(540_000, 10)
    broadcast_id = started()
    [select] = queue.receive()
    queue.process([select])
    [chunk] = queue.receive()
    for user_id in ids[:3]:
        BroadcastItem(broadcast_id, f"u#{user_id}", status="sent").save()
    BroadcastItem(
        broadcast_id, f"u#{ids[3]}", status="sending", lease_until=int(time.time() * 1000) - 1
    ).save()
    queue.process([chunk])  # SQS delivers it again after the visibility timeout
    assert set(delivered(telegram)) == set(ids[3:])
    assert counts(broadcast_id) == {
        "status": "done",
        "selected": 10,
        "sent": 10,
        "failed": 0,
        "blocked": 0,
        "skipped": 0,
    }


def test_a_user_held_by_a_live_lease_waits_for_it(
    aws: dict[str, str], telegram: BotApiStandIn, queue: BroadcastQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two copies of one chunk at once: the second leaves the first's user to it, counts nothing."""
    monkeypatch.setenv("BROADCAST_RATE", "30")
    get_settings.cache_clear()
    ids = add_users(545_000, 4)
    broadcast_id = started()
    [select] = queue.receive()
    queue.process([select])
    [chunk] = queue.receive()
    held = BroadcastItem(
        broadcast_id, f"u#{ids[0]}", status="sending", lease_until=int(time.time() * 1000) + 2000
    )
    held.save()
    queue.process([chunk])
    assert set(delivered(telegram)) == set(ids[1:])
    assert meta(broadcast_id).status == BroadcastStatus.SENDING  # the chunk is not counted yet
    assert queue.depth() == 1  # the continuation, delayed until the lease ends
    held.update(actions=[BroadcastItem.lease_until.set(1)])  # the other copy died after all
    queue.drain(timeout=30)
    assert set(delivered(telegram)) == set(ids) and set(delivered(telegram).values()) == {1}
    assert counts(broadcast_id)["sent"] == 4 and counts(broadcast_id)["status"] == "done"


def test_a_long_flood_wait_puts_the_rest_back_with_a_delay(
    aws: dict[str, str], telegram: BotApiStandIn, queue: BroadcastQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROADCAST_RATE", "30")
    get_settings.cache_clear()
    ids = add_users(550_000, 6)
    broadcast_id = started()
    [select] = queue.receive()
    queue.process([select])
    [chunk] = queue.receive()
    wait = broadcast.INLINE_RETRY_SECONDS + 1  # longer than the invocation waits out
    telegram.fail_next("sendMessage", 429, f"Too Many Requests: retry after {wait}", retry_after=wait)
    began = time.monotonic()
    queue.process([chunk])
    assert time.monotonic() - began < wait  # not slept on
    assert delivered(telegram) == Counter() and meta(broadcast_id).status == BroadcastStatus.SENDING
    assert queue.depth() == 1 and queue.receive() == []  # the continuation, delayed by retry_after
    queue.drain(timeout=30)
    assert time.monotonic() - began >= wait
    assert set(delivered(telegram)) == set(ids) and set(delivered(telegram).values()) == {1}
    assert counts(broadcast_id)["sent"] == 6 and counts(broadcast_id)["status"] == "done"


def test_a_chunk_running_out_of_time_continues_in_a_new_message(
    aws: dict[str, str], telegram: BotApiStandIn, queue: BroadcastQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROADCAST_RATE", "10")  # 5 a second for this consumer
    get_settings.cache_clear()
    ids = add_users(560_000, 20)
    broadcast_id = started()
    [select] = queue.receive()
    queue.process([select])

    def short_lived(event: dict[str, Any]) -> Any:
        # 1.5 s of sending before the stop margin
        context = LocalContext(function_name="notify", timeout_seconds=broadcast.STOP_MARGIN_MS // 1000 + 1.5)  # type: ignore[arg-type]
        return load_handler("notify")(event, context)

    messages = queue.receive()
    outcome = queue.driver(short_lived).process(messages)
    assert outcome.ok
    part = len(delivered(telegram))
    assert 0 < part < 20
    [continuation] = queue.receive()
    body = ChunkMessage.model_validate_json(continuation["Body"])
    assert body.chunk == "0-0" and len(body.users) == 20 - part and body.counted == {"sent": part}
    queue.process([continuation])
    assert set(delivered(telegram)) == set(ids) and set(delivered(telegram).values()) == {1}
    assert counts(broadcast_id)["sent"] == 20 and counts(broadcast_id)["status"] == "done"


def test_a_cancelled_broadcast_sends_no_more(
    aws: dict[str, str], telegram: BotApiStandIn, queue: BroadcastQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROADCAST_RATE", "30")
    get_settings.cache_clear()
    add_users(565_000, 60)
    broadcast_id = started()
    [select] = queue.receive()
    queue.process([select])
    assert broadcast.cancel(broadcast_id)
    queue.drain()
    assert delivered(telegram) == Counter()
    assert meta(broadcast_id).status == BroadcastStatus.CANCELLED


# --- drafts: checks, start once -----------------------------------------------------------------------


def test_start_moves_a_draft_once(aws: dict[str, str], queue: BroadcastQueue) -> None:
    item = broadcast.create(get_settings(), "Hi", created_by="test")
    assert item.status == BroadcastStatus.DRAFT and queue.depth() == 0
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(broadcast.start(get_settings(), item.broadcast_id)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    assert queue.depth() == 1
    assert not broadcast.start(get_settings(), "no-such-broadcast")


@pytest.mark.parametrize(
    ("text", "kwargs", "problem"),
    [
        ("<b>bold", {}, "never closed"),
        ("<div>x</div>", {}, "not a tag"),
        ("1 < 2", {}, "&lt;"),
        ("Tom & Jerry", {}, "&amp;"),
        ("x" * 4080, {}, "characters"),
        ("x" * 1000, {"photo": "AgACAgIAAx"}, "caption"),
        ("   ", {}, "empty"),
        ("ok", {"button": broadcast.Button(text="Go", url="javascript:alert(1)")}, "link"),
    ],
)
def test_a_message_telegram_would_refuse_is_not_created(
    aws: dict[str, str], text: str, kwargs: dict[str, Any], problem: str
) -> None:
    with pytest.raises(broadcast.BroadcastError, match=problem):
        broadcast.create(get_settings(), text, **kwargs)
    assert broadcast.recent() == []


# --- the admin's /broadcast ------------------------------------------------------------------------


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch, aws: dict[str, str], chat_user: Callable[..., Any]) -> Any:
    monkeypatch.setenv("ADMIN_IDS", str(ADMIN))
    get_settings.cache_clear()
    person = chat_user(ADMIN, "en")
    person.start()
    return person


def test_admin_previews_then_sends_once_even_on_a_double_tap(
    admin: Any, telegram: BotApiStandIn, queue: BroadcastQueue
) -> None:
    fresh = add_users(570_000, 3, language="en", seen_at=int(time.time()))
    stale = add_users(570_010, 2, language="en", seen_at=int(time.time()) - 31 * 86_400)
    before = len(telegram.calls)
    confirm = admin.send("/broadcast lang=en active=30\nBig <news> & more\n[Open](https://example.com/x)")
    new_calls = [c for c in telegram.calls[before:] if c.method.lower() == "sendmessage"]
    preview, question = new_calls[0].params, confirm
    assert preview["chat_id"] == ADMIN
    assert preview["text"].startswith("Big &lt;news&gt; &amp; more\n\n") and "/settings" in preview["text"]
    markup = preview["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    assert markup["inline_keyboard"][0][0] == {"text": "Open", "url": "https://example.com/x"}
    assert "language en" in question["text"] and "active in the last 30 days" in question["text"]
    [item] = broadcast.recent()
    assert item.status == BroadcastStatus.DRAFT and queue.depth() == 0
    send_data = admin.buttons()[next(label for label in admin.buttons() if "Send" in label)]
    message_id = admin.last_message_id
    admin.press(send_data, message_id)
    second = admin.press(send_data, message_id)  # the double tap
    assert "already" in second.get("text", "")
    assert meta(item.broadcast_id).status == BroadcastStatus.SENDING
    assert queue.depth() == 1  # one select message: started once
    queue.drain()
    got = delivered(telegram)
    assert all(got[user_id] == 1 for user_id in fresh) and not any(got[user_id] for user_id in stale)
    done = counts(item.broadcast_id)
    assert done["status"] == "done" and done["sent"] == done["selected"] >= len(fresh)


def test_admin_formatting_photo_and_cancel(
    admin: Any, telegram: BotApiStandIn, queue: BroadcastQueue, jpeg: Callable[..., bytes]
) -> None:
    admin.send_photo(jpeg(), caption="/broadcast New styles!")
    photo_previews = telegram.calls_for("sendPhoto")
    assert photo_previews and photo_previews[-1].params["caption"].startswith("New styles!\n\n")
    assert "all users" in admin.last["text"]
    [item] = broadcast.recent()
    assert (item.data or {}).get("photo")
    cancel = admin.buttons()[next(label for label in admin.buttons() if "Cancel" in label)]
    admin.press(cancel)
    assert meta(item.broadcast_id).status == BroadcastStatus.CANCELLED
    assert queue.depth() == 0


def test_broadcast_is_an_unknown_command_for_everyone_else(
    aws: dict[str, str], chat_user: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADMIN_IDS", str(ADMIN))
    get_settings.cache_clear()
    person = chat_user(575_001, "en")
    person.start()
    unknown = person.send("/nosuchcommand hello")
    answer = person.send("/broadcast hello everyone")
    assert answer["text"] == unknown["text"]
    assert broadcast.recent() == []
    # a forged Send button: the answer any stale button gets; the draft stays a draft
    item = broadcast.create(get_settings(), "Hi", created_by="test")
    stale = person.press(BroadcastCb(action=BroadcastAction.SEND, broadcast=item.broadcast_id).pack())
    assert "no longer works" in stale["text"]
    assert meta(item.broadcast_id).status == BroadcastStatus.DRAFT


def test_admin_message_with_a_problem_is_explained(admin: Any) -> None:
    answer = admin.send("/broadcast")
    assert "/broadcast" in answer["text"] and broadcast.recent() == []
    answer = admin.send("/broadcast lang=de\nHallo")
    assert "language" in answer["text"] and broadcast.recent() == []


# --- the CLI ------------------------------------------------------------------------------------------


def run_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = ""
) -> tuple[int, str, str]:
    from genbot.cli import main

    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_send_status_and_list(
    aws: dict[str, str],
    telegram: BotApiStandIn,
    queue: BroadcastQueue,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    blocked_chats: Any,
) -> None:
    monkeypatch.setenv("BROADCAST_RATE", "30")
    get_settings.cache_clear()
    add_users(580_000, 4, language="ru", first_paid_at=1)
    add_users(580_010, 2, language="ru")
    blocked_chats([580_001])
    # no terminal and no --yes: refused, nothing created
    code, _, err = run_cli(monkeypatch, capsys, "broadcast", "send", "--text", "Hi")
    assert code == 1 and "--yes" in err and broadcast.recent() == []
    send = ["send", "--text", "Sale <b>today</b>", "--paying", "--language", "ru", "--yes"]
    code, out, _ = run_cli(monkeypatch, capsys, "broadcast", *send, "--button", "Buy|https://example.com/buy")
    assert code == 0
    broadcast_id = out.split()[1]
    queue.drain()
    code, out, _ = run_cli(monkeypatch, capsys, "broadcast", "status", broadcast_id)
    assert code == 0
    lines = dict(line.split(":", 1) for line in out.splitlines())
    assert lines["status"].strip() == "done"
    assert lines["segment"].strip() == "users: language ru, paying"
    assert lines["selected"].strip().startswith("4 ")
    assert (lines["sent"].strip(), lines["blocked"].strip(), lines["failed"].strip()) == ("3", "1", "0")
    assert lines["finished"].strip() != "-"
    code, out, _ = run_cli(monkeypatch, capsys, "broadcast", "list")
    assert code == 0 and broadcast_id in out and "sent 3/4" in out
    code, _, err = run_cli(monkeypatch, capsys, "broadcast", "status", "nope")
    assert code == 1 and "no broadcast" in err


def test_cli_asks_on_a_terminal(
    aws: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    queue: BroadcastQueue,
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    from genbot.cli import main

    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    assert main(["broadcast", "send", "--text", "Hi <i>there</i>", "--active-days", "7"]) == 1
    out = capsys.readouterr().out
    assert "--- preview (ru) ---" in out and "--- preview (en) ---" in out and "Hi <i>there</i>" in out
    assert "active in the last 7 days" in out and "not sent" in out
    assert broadcast.recent() == []
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    assert main(["broadcast", "send", "--text", "Hi"]) == 0
    assert [i.status for i in broadcast.recent()] == [BroadcastStatus.SENDING] and queue.depth() == 1
