"""Broadcasts: the operator's message to every user or a segment, fanned out through SQS.

Life of a broadcast (items in the broadcasts table, messages on the broadcasts queue):

1. ``create`` writes the meta item as a draft (content checked against Telegram's HTML and
   length limits); ``start`` moves it draft -> sending once (a double tap or a second CLI call
   finds it sending) and enqueues the first *select* message.
2. A select message reads one Scan page of the users table (the segment is the FilterExpression;
   blocked users never match) and writes what it chose as the page item ``p#<n>`` together
   with the meta's ``selected`` count, in one transaction: a redelivered page finds its item
   and fans out the very same chunks (ids ``<page>-<n>``), never different ones, and never
   counts twice. Then the chunks (50 users each, one SendMessageBatch) and the next page's
   select message with the Scan cursor go out; the last page marks the selection done.
3. A chunk message sends to its users one at a time: claim the recipient item ``u#<id>``
   (absent, or "sending" under an expired lease), read the user (opted out of offers or
   blocked since: skipped), send through ``common.deliver`` at the paced rate, record the
   outcome. A 429 asking a short wait is waited out; a long one, the invocation's time
   running low, or another copy's live lease puts the rest of the chunk back on the queue as
   a continuation (same chunk id, with the outcomes so far, delayed). When every user of the
   chunk has an outcome, the chunk's counts are added to the meta once (condition: the chunk
   id is not yet in ``chunks``). When all selected users are counted the broadcast is done.

Two consumers (the queue's ``max_concurrency``) send at once, so each paces itself to
``BROADCAST_RATE // 2`` messages per second: together they stay under Telegram's limit in any
1-second window. Nothing is sent twice except a user whose send went out just before its
invocation died (before the outcome was written): that one is sent again when the lease ends.
"""

from __future__ import annotations

import math
import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Annotated, Any, Literal

from aiogram import Bot
from aiogram.methods import SendMessage, SendPhoto
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, TypeAdapter, ValidationError, field_validator
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from genbot import runtime
from genbot.config import Settings, get_settings
from genbot.i18n import LANGUAGES, N_, translate
from genbot.notify.common import HOW_TO_MUTE, Outcome, deliver, wants, with_footer
from genbot.observability import adopt_trace, logger, metrics, trace_attributes
from genbot.resources import FUNCTIONS
from genbot.store.clients import client
from genbot.store.models import BroadcastItem, User, condition_failed, now_ms
from genbot.store.transaction import Transaction, TransactionCancelledError
from genbot.telegram.pacing import Pacer, pacer
from genbot.vocab import BroadcastStatus, NoticeKind

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

META = "meta"
KIND = "broadcast"  # BroadcastItem.kind on meta items: the sparse by_created index
PAGE_SIZE = 500  # users one select page's Scan evaluates
CHUNK_SIZE = 50  # recipients per chunk message: a full page is 10 chunks, one SendMessageBatch
SQS_BATCH = 10  # SendMessageBatch's limit
MAX_DELAY_SECONDS = 900  # SQS's DelaySeconds limit
LEASE_MS = 120_000  # a claimed recipient is someone's for this long (the function runs 60 s)
KEEP_DAYS = 30  # pages and recipients expire (TTL); the meta item stays
STOP_MARGIN_MS = 25_000  # take no new user with less left: one send may take 20 s (aiogram's timeout)
INLINE_RETRY_SECONDS = 3  # a 429 asking this long or less is waited out in the invocation
MAX_ATTEMPTS = 5  # tries of one recipient per invocation before it waits in a continuation
MAX_ROUNDS = 50  # continuations of one chunk; then what is left counts as failed
RETRY_SOON_SECONDS = 10  # a record that raised comes back this soon (not the 6-minute visibility)
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
BUTTON_LABEL_LIMIT = 64
URL_PATTERN = re.compile(r"(https?|tg)://\S+", re.IGNORECASE)
# Telegram's HTML: these tags, nested properly; <, > and & elsewhere as entities
ALLOWED_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
        "a", "tg-emoji", "code", "pre", "blockquote",
    }
)  # fmt: skip

ALL_USERS = N_("all users")
USERS_WHERE = N_("users: {filters}")
LANGUAGE_IS = N_("language {code}")
PAYING = N_("paying")
NEVER_PAID = N_("never paid")
ACTIVE_DAYS = N_("active in the last {days} days")


class BroadcastError(ValueError):
    """A broadcast that can't be created or started as given; the message says why."""


# -- what is sent, to whom ------------------------------------------------------------------------


class Button(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    text: str
    url: str


class Segment(BaseModel):
    """Who gets it: every user who hasn't blocked the bot, narrowed by these (None: any)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    language: str | None = None
    paying: bool | None = None  # True: has paid (User.first_paid_at set); False: never paid
    active_days: PositiveInt | None = None  # User.seen_at within the last N days

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is not None and value not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
        return value

    def condition(self, now: float) -> Condition:
        """The Scan's FilterExpression: the segment, never a blocked or banned user."""
        condition = User.blocked.does_not_exist() | (User.blocked == False)  # noqa: E712 (a DynamoDB condition)
        condition &= User.banned.does_not_exist()  # set only while banned
        if self.language is not None:
            same = User.language == self.language
            # language's default is "ru": an item written without it reads as ru
            condition &= (same | User.language.does_not_exist()) if self.language == "ru" else same
        if self.paying is True:
            condition &= User.first_paid_at.exists()
        elif self.paying is False:
            condition &= User.first_paid_at.does_not_exist()
        if self.active_days is not None:
            condition &= User.seen_at >= int(now) - self.active_days * 86_400
        return condition

    def describe(self, language: str = "en") -> str:
        """``all users``, or ``users: language ru, paying, active in the last 7 days``."""
        parts = []
        if self.language is not None:
            parts.append(translate(LANGUAGE_IS, language, code=self.language))
        if self.paying is not None:
            parts.append(translate(PAYING if self.paying else NEVER_PAID, language))
        if self.active_days is not None:
            parts.append(translate(ACTIVE_DAYS, language, days=self.active_days))
        if not parts:
            return translate(ALL_USERS, language)
        return translate(USERS_WHERE, language, filters=", ".join(parts))


class Content(BaseModel):
    """The message: Telegram HTML text, an optional photo (file id or URL), one URL button."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    text: str
    photo: str | None = None
    button: Button | None = None


class _HtmlCheck(HTMLParser):
    """Telegram's HTML rules (allowed tags, properly nested, <>& escaped) and the visible length."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)  # entities come one by one: raw text stays raw
        self.stack: list[str] = []
        self.visible = 0
        self.problem = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problem = self.problem or f"<{tag}> is not a tag Telegram allows"
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problem = self.problem or f"</{tag}> closes nothing open"
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if any(c in data for c in "<>&"):
            self.problem = self.problem or "write <, > and & as &lt;, &gt; and &amp;"
        self.visible += len(data)

    def handle_entityref(self, name: str) -> None:
        self.visible += 1

    def handle_charref(self, name: str) -> None:
        self.visible += 1


def check(content: Content) -> None:
    """Raise ``BroadcastError`` unless Telegram will take this message in every language."""
    parser = _HtmlCheck()
    parser.feed(content.text)
    parser.close()
    if parser.stack and not parser.problem:
        parser.problem = f"<{parser.stack[-1]}> is never closed"
    if parser.problem:
        raise BroadcastError(f"text: {parser.problem} (the text is Telegram HTML)")
    if not content.text.strip():
        raise BroadcastError("text: empty")
    footer = max(len(translate(HOW_TO_MUTE, language)) for language in LANGUAGES) + 2
    limit = CAPTION_LIMIT if content.photo else TEXT_LIMIT
    if parser.visible + footer > limit:
        raise BroadcastError(
            f"text: {parser.visible} characters; with the settings line at most {limit - footer} "
            f"{'in a photo caption' if content.photo else 'in a message'}"
        )
    if content.photo is not None and not content.photo.strip():
        raise BroadcastError("photo: empty")
    if content.button is not None:
        if not 1 <= len(content.button.text.strip()) <= BUTTON_LABEL_LIMIT:
            raise BroadcastError(f"button: a label of 1 to {BUTTON_LABEL_LIMIT} characters")
        if not URL_PATTERN.fullmatch(content.button.url):
            raise BroadcastError("button: the link must start with https://, http:// or tg://")


def parse_button(value: str) -> Button:
    """``Label|https://...`` (the CLI's --button)."""
    label, bar, url = value.rpartition("|")
    if not bar:
        raise BroadcastError('button: give "Label|https://..."')
    return Button(text=label.strip(), url=url.strip())


def render(content: Content, chat_id: int, language: str) -> SendMessage | SendPhoto:
    """The message exactly as one user gets it (the preview is this too), footer included."""
    markup = None
    if content.button is not None:
        markup = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text=content.button.text, url=content.button.url)]]
        )
    body = with_footer(content.text, language)
    if content.photo:
        return SendPhoto(chat_id=chat_id, photo=content.photo, caption=body, reply_markup=markup)
    return SendMessage(chat_id=chat_id, text=body, reply_markup=markup)


def content_of(item: BroadcastItem) -> Content:
    return Content.model_validate(item.data or {})


def segment_of(item: BroadcastItem) -> Segment:
    return Segment.model_validate((item.data or {}).get("segment") or {})


# -- the operator's side: create, start, cancel, read ---------------------------------------------


def new_id() -> str:
    """Sortable, short enough for callback data: ``20261130-1754-3fa9c1``."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M}-{secrets.token_hex(3)}"


def create(
    settings: Settings,
    text: str,
    photo: str | None = None,
    button: Button | None = None,
    segment: Segment | None = None,
    created_by: str = "",
) -> BroadcastItem:
    """A draft: checked, stored, not sent until ``start``."""
    content = Content(text=text.strip(), photo=(photo or "").strip() or None, button=button)
    check(content)
    segment = segment or Segment()
    item = BroadcastItem(
        new_id(),
        META,
        kind=KIND,
        status=BroadcastStatus.DRAFT,
        data={
            **content.model_dump(exclude_none=True),
            "segment": segment.model_dump(),
            "created_by": created_by,
        },
    )
    try:
        item.save(condition=BroadcastItem.part.does_not_exist())
    except PutError as exc:
        # an id taken already, unless by this very PutItem: its SDK resend (the first attempt
        # landed, its answer was lost) is what failed; one read tells, on that path only
        if not condition_failed(exc):
            raise
        found = get(item.broadcast_id)
        if found is None or found.data != item.data:
            raise
    logger.info("broadcast created", extra={"broadcast_id": item.broadcast_id, "by": created_by})
    return item


def get(broadcast_id: str) -> BroadcastItem | None:
    try:
        return BroadcastItem.get(broadcast_id, META, consistent_read=True)
    except DoesNotExist:
        return None


def recent(limit: int = 20) -> list[BroadcastItem]:
    """The newest broadcasts first (the sparse index: meta items only)."""
    return list(BroadcastItem.by_created.query(KIND, scan_index_forward=False, limit=limit))


def start(settings: Settings, broadcast_id: str) -> bool:
    """Draft -> sending, once: True for the call that started it, False for any other.

    The update writes a token: when its condition fails, one read (that path only) tells this
    call's own SDK resend (the first attempt landed, its answer was lost) from another start, so
    a broadcast this call started is not left "sending" with nothing on the queue.
    """
    now = now_ms()
    token = secrets.token_hex(16)
    item = BroadcastItem(broadcast_id, META)
    try:
        item.update(
            actions=[
                BroadcastItem.status.set(BroadcastStatus.SENDING),
                BroadcastItem.owner.set(token),
                BroadcastItem.started_at.set(now),
                BroadcastItem.updated_at.set(now),
                *(
                    getattr(BroadcastItem, n).set(0)
                    for n in ("selected", "sent", "failed", "blocked", "skipped")
                ),
                BroadcastItem.pages.set(0),
            ],
            condition=BroadcastItem.status == BroadcastStatus.DRAFT,
        )
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        if not _wrote(broadcast_id, META, token):
            return False
    try:
        enqueue(settings, [SelectMessage(broadcast_id=broadcast_id)])
    except Exception:
        # not on its way: back to a draft, so starting it again works
        item.update(
            actions=[BroadcastItem.status.set(BroadcastStatus.DRAFT)],
            condition=BroadcastItem.status == BroadcastStatus.SENDING,
        )
        raise
    logger.info("broadcast started", extra={"broadcast_id": broadcast_id})
    metrics.add_metric(name="BroadcastsStarted", unit="Count", value=1)
    return True


def cancel(broadcast_id: str) -> bool:
    """A draft or a broadcast on its way -> cancelled (chunks not yet sent are dropped); False
    when it was neither (its own SDK resend is told apart by a token, as in ``start``)."""
    now = now_ms()
    token = secrets.token_hex(16)
    try:
        BroadcastItem(broadcast_id, META).update(
            actions=[
                BroadcastItem.status.set(BroadcastStatus.CANCELLED),
                BroadcastItem.owner.set(token),
                BroadcastItem.finished_at.set(now),
                BroadcastItem.updated_at.set(now),
            ],
            condition=BroadcastItem.status.is_in(BroadcastStatus.DRAFT, BroadcastStatus.SENDING),
        )
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        if not _wrote(broadcast_id, META, token):
            return False
    logger.info("broadcast cancelled", extra={"broadcast_id": broadcast_id})
    return True


def _wrote(broadcast_id: str, part: str, token: str) -> bool:
    """After a conditional write carrying ``token`` failed its condition: did it land all the
    same (its SDK resend is what failed)? One strongly consistent read, on that path only."""
    try:
        found = BroadcastItem.get(broadcast_id, part, consistent_read=True, attributes_to_get=["owner"])
    except DoesNotExist:
        return False
    return found.owner == token


@dataclass(frozen=True)
class Progress:
    """What ``genbot broadcast status`` shows."""

    broadcast_id: str
    status: str
    selected: int
    sent: int
    failed: int
    blocked: int
    skipped: int
    pages: int
    selection_done: bool
    created_at: int
    started_at: int | None
    finished_at: int | None

    @property
    def counted(self) -> int:
        return self.sent + self.failed + self.blocked + self.skipped


def progress(item: BroadcastItem) -> Progress:
    return Progress(
        broadcast_id=item.broadcast_id,
        status=str(item.status),
        selected=int(item.selected or 0),
        sent=int(item.sent or 0),
        failed=int(item.failed or 0),
        blocked=int(item.blocked or 0),
        skipped=int(item.skipped or 0),
        pages=int(item.pages or 0),
        selection_done=bool(item.selection_done),
        created_at=int(item.created_at),
        started_at=int(item.started_at) if item.started_at is not None else None,
        finished_at=int(item.finished_at) if item.finished_at is not None else None,
    )


# -- the queue ------------------------------------------------------------------------------------


class SelectMessage(BaseModel):
    """Read selection page ``page`` from ``cursor`` (the previous page's LastEvaluatedKey)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: Literal["select"] = "select"
    broadcast_id: str
    page: int = 0
    cursor: dict[str, Any] | None = None


class ChunkMessage(BaseModel):
    """Send to ``users``; ``counted``: outcomes of the chunk's users done in earlier rounds."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: Literal["chunk"] = "chunk"
    broadcast_id: str
    chunk: str
    users: list[int]
    counted: dict[str, int] = Field(default_factory=dict)
    round: int = 0


BroadcastMessage = Annotated[SelectMessage | ChunkMessage, Field(discriminator="kind")]
_messages: TypeAdapter[SelectMessage | ChunkMessage] = TypeAdapter(BroadcastMessage)


def enqueue(settings: Settings, messages: list[SelectMessage] | list[ChunkMessage], delay: int = 0) -> None:
    """SendMessageBatch, 10 at a time; a message SQS refuses raises (the caller is retried)."""
    sqs = client("sqs")
    pending: list[SelectMessage | ChunkMessage] = list(messages)
    trace = trace_attributes()  # the admin's request or update that started the broadcast
    for start_at in range(0, len(pending), SQS_BATCH):
        batch = pending[start_at : start_at + SQS_BATCH]
        answer = sqs.send_message_batch(
            QueueUrl=settings.broadcasts_queue_url,
            Entries=[
                {
                    "Id": str(n),
                    "MessageBody": m.model_dump_json(exclude_none=True),
                    "DelaySeconds": max(0, min(MAX_DELAY_SECONDS, delay)),
                    "MessageAttributes": {
                        **trace,
                        "broadcast_id": {"DataType": "String", "StringValue": m.broadcast_id},
                    },
                }
                for n, m in enumerate(batch)
            ],
        )
        if answer.get("Failed"):
            raise RuntimeError(f"SQS refused broadcast messages: {answer['Failed']}"[:500])


def handle_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The broadcast queue's batch (size 1): partial batch response, failures retried soon.

    Powertools' batch utility is imported here, not with the module: the webhook imports this
    module (an admin's /broadcast) and never handles a batch.
    """
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.batch.base import FailureResponse
    from aws_lambda_powertools.utilities.batch.exceptions import ExceptionInfo

    class BroadcastBatchProcessor(BatchProcessor):
        """Logs every failed record at ERROR and counts it (it comes back soon)."""

        def failure_handler(self, record: Any, exception: ExceptionInfo) -> FailureResponse:
            logger.error(
                "broadcast record failed",
                extra={"error": f"{type(exception[1]).__name__}: {exception[1]}"[:500]},
            )
            metrics.add_metric(name="BroadcastRecordFailures", unit="Count", value=1)
            return super().failure_handler(record, exception)

    processor = BroadcastBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(
        process_partial_response(
            event=event, record_handler=handle_record, processor=processor, context=context
        )
    )


def handle_record(record: SQSRecord, lambda_context: Any = None) -> None:
    """One select page or one chunk; raises to have SQS deliver the message again."""
    try:
        message = _messages.validate_json(record.body)
    except ValidationError as exc:
        logger.error("broadcast message dropped: not ours", extra={"error": str(exc)[:300]})
        metrics.add_metric(name="BroadcastBadMessages", unit="Count", value=1)
        return
    adopt_trace(record.raw_event.get("messageAttributes"))  # who started it: an admin request or update
    logger.append_keys(broadcast_id=message.broadcast_id)
    settings = get_settings()
    try:
        if isinstance(message, SelectMessage):
            select_page(settings, message)
        else:
            runtime.run(send_chunk(settings, message, Deadline(lambda_context)))
    except Exception:
        _retry_soon(settings, record.receipt_handle)
        raise


def _retry_soon(settings: Settings, receipt_handle: str) -> None:
    try:
        client("sqs").change_message_visibility(
            QueueUrl=settings.broadcasts_queue_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=RETRY_SOON_SECONDS,
        )
    except Exception as exc:  # the message comes back after the queue's visibility timeout instead
        logger.warning("broadcast retry delay not set", extra={"error": str(exc)[:200]})


# -- selection --------------------------------------------------------------------------------------


def _page(broadcast_id: str, page: int) -> BroadcastItem | None:
    try:
        return BroadcastItem.get(broadcast_id, f"p#{page}", consistent_read=True)
    except DoesNotExist:
        return None


def select_page(settings: Settings, message: SelectMessage) -> None:
    """One Scan page -> its page item and counts (once) -> its chunks and the next page."""
    meta = get(message.broadcast_id)
    if meta is None or meta.status != BroadcastStatus.SENDING:
        logger.info("select page dropped: broadcast not sending", extra={"status": meta and meta.status})
        return
    page = _page(message.broadcast_id, message.page) or _scan_page(meta, message)
    if page is None:
        return
    data = page.data or {}
    bid, number = message.broadcast_id, message.page
    if page.fanned_out:  # a redelivery: its chunks and the next page are on their way
        if not data.get("cursor"):
            _finish_if_counted(meta)  # the first copy may have died before this check
        return
    chunks = [
        ChunkMessage(broadcast_id=bid, chunk=f"{number}-{n}", users=list(users))
        for n, users in enumerate(data.get("chunks") or [])
    ]
    enqueue(settings, chunks)
    cursor = data.get("cursor")
    if cursor:
        enqueue(settings, [SelectMessage(broadcast_id=bid, page=number + 1, cursor=cursor)])
    page.update(actions=[BroadcastItem.fanned_out.set(True)])
    logger.info(
        "broadcast page selected",
        extra={"page": number, "users": int(page.selected or 0), "chunks": len(chunks), "last": not cursor},
    )
    if not cursor:
        finished = get(bid)
        if finished is not None:
            _finish_if_counted(finished)


def _scan_page(meta: BroadcastItem, message: SelectMessage) -> BroadcastItem | None:
    """Scan one page and store it with the meta's counts in one transaction (None: stopped)."""
    bid = message.broadcast_id
    answer = User._get_connection().scan(
        filter_condition=segment_of(meta).condition(time.time()),
        attributes_to_get=["user_id"],
        limit=PAGE_SIZE,
        exclusive_start_key=message.cursor,  # type: ignore[arg-type]  # PynamoDB types it str; it's the key
    )
    ids = [int(item["user_id"]["N"]) for item in answer.get("Items", [])]
    cursor = answer.get("LastEvaluatedKey")
    page = BroadcastItem(
        bid,
        f"p#{message.page}",
        data={"chunks": [ids[i : i + CHUNK_SIZE] for i in range(0, len(ids), CHUNK_SIZE)], "cursor": cursor},
        selected=len(ids),
        fanned_out=False,
        expiration=timedelta(days=KEEP_DAYS),
    )
    actions: list[Action] = [
        BroadcastItem.selected.add(len(ids)),
        BroadcastItem.pages.add(1),
        BroadcastItem.updated_at.set(now_ms()),
    ]
    if not cursor:
        actions.append(BroadcastItem.selection_done.set(True))
    for attempt in range(3):
        try:
            (
                Transaction()
                .save("page", page, condition=BroadcastItem.part.does_not_exist())
                .update(
                    "meta",
                    BroadcastItem(bid, META),
                    actions,
                    condition=BroadcastItem.status == BroadcastStatus.SENDING,
                )
                .commit()
            )
            return page
        except TransactionCancelledError as exc:
            if exc.failed("page"):  # another copy of this message stored it first
                return _page(bid, message.page)
            if exc.failed("meta"):
                logger.info("select page dropped: broadcast no longer sending")
                return None
            if not exc.conflict or attempt == 2:
                raise
            time.sleep(0.05 * (attempt + 1))  # a chunk's tally was updating the meta item
    return None


# -- sending ----------------------------------------------------------------------------------------


class Deadline:
    """The invocation's time left (Lambda's context; without one, the function's timeout)."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.started = time.monotonic()

    def remaining_ms(self) -> int:
        if self.context is not None and hasattr(self.context, "get_remaining_time_in_millis"):
            return int(self.context.get_remaining_time_in_millis())
        return int((FUNCTIONS["notify"].timeout_seconds - (time.monotonic() - self.started)) * 1000)

    def low(self) -> bool:
        return self.remaining_ms() < STOP_MARGIN_MS

    def allows(self, wait_seconds: float) -> bool:
        return self.remaining_ms() - wait_seconds * 1000 >= STOP_MARGIN_MS


@dataclass(frozen=True)
class Later:
    """Not now: look at this user again in ``seconds`` (``busy``: another copy holds them)."""

    seconds: int
    busy: bool = False


def _recipient(user_id: int) -> str:
    return f"u#{user_id}"


def claim(broadcast_id: str, user_id: int) -> int | Outcome | Later:
    """Take the recipient: our lease (epoch ms), their final outcome, or ``Later`` if held."""
    now = now_ms()
    lease = now + LEASE_MS
    part = _recipient(user_id)
    token = secrets.token_hex(16)  # the same bytes in every SDK attempt of this one PutItem
    item = BroadcastItem(
        broadcast_id,
        part,
        status=BroadcastStatus.SENDING,
        lease_until=lease,
        owner=token,
        expiration=timedelta(days=KEEP_DAYS),
    )
    free = BroadcastItem.part.does_not_exist() | (
        (BroadcastItem.status == BroadcastStatus.SENDING) & (BroadcastItem.lease_until < now)
    )
    try:
        item.save(condition=free)
        return lease
    except PutError as exc:
        if not condition_failed(exc):
            raise
    found = BroadcastItem.get(broadcast_id, part, consistent_read=True)
    if found.owner == token:  # our claim landed; its SDK resend (the answer lost) is what failed
        return lease
    if found.status == BroadcastStatus.SENDING:
        return Later(max(1, math.ceil((int(found.lease_until or now) - now) / 1000)), busy=True)
    return Outcome(str(found.status))


def _settle(broadcast_id: str, user_id: int, lease: int, outcome: Outcome | None) -> None:
    """Record the outcome (None: release the claim for a later round) while the lease is ours."""
    actions: list[Any] = [BroadcastItem.updated_at.set(now_ms())]
    if outcome is None:
        actions.append(BroadcastItem.lease_until.set(0))
    else:
        actions += [BroadcastItem.status.set(outcome), BroadcastItem.lease_until.remove()]
    try:
        BroadcastItem(broadcast_id, _recipient(user_id)).update(
            actions=actions, condition=BroadcastItem.lease_until == lease
        )
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        logger.warning("recipient lease lost before its outcome was written", extra={"user_id": user_id})


def _user(user_id: int) -> User | None:
    try:
        return User.get(user_id, attributes_to_get=["user_id", "language", "blocked", "muted"])
    except DoesNotExist:
        return None


async def send_one(
    bot: Bot, content: Content, broadcast_id: str, user_id: int, pace: Pacer, deadline: Deadline
) -> Outcome | Later:
    """Claim, check, send (429s short enough waited out), record: the user's outcome."""
    claimed = claim(broadcast_id, user_id)
    if not isinstance(claimed, int):
        return claimed
    user = _user(user_id)
    if user is None or not wants(user, NoticeKind.OFFERS):
        _settle(broadcast_id, user_id, claimed, Outcome.SKIPPED)
        return Outcome.SKIPPED
    method = render(content, user_id, str(user.language))
    retry_after = 0
    for _attempt in range(MAX_ATTEMPTS):
        outcome, retry_after = await deliver(bot, user, method, kind="broadcast", pace=pace)
        if outcome != Outcome.RETRY:
            _settle(broadcast_id, user_id, claimed, outcome)
            return outcome
        metrics.add_metric(name="BroadcastRetries", unit="Count", value=1)
        if retry_after > INLINE_RETRY_SECONDS or not deadline.allows(retry_after):
            break
    _settle(broadcast_id, user_id, claimed, None)
    return Later(max(1, retry_after))


async def send_chunk(settings: Settings, message: ChunkMessage, deadline: Deadline) -> None:
    """Send to the chunk's users; count the chunk once when all have an outcome, else continue."""
    bid = message.broadcast_id
    meta = get(bid)
    if meta is None or meta.status != BroadcastStatus.SENDING:
        logger.info("chunk dropped: broadcast not sending", extra={"chunk": message.chunk})
        return
    content = content_of(meta)
    bot, pace = runtime.bot(), pacer(settings)
    counts: Counter[str] = Counter(message.counted)
    held: list[int] = []  # another copy's live lease: look again when it ends
    rest: list[int] = []
    delay = 0
    for index, user_id in enumerate(message.users):
        if deadline.low():
            rest = message.users[index:]
            logger.info("chunk out of time; the rest continues", extra={"left": len(rest)})
            break
        result = await send_one(bot, content, bid, user_id, pace, deadline)
        if isinstance(result, Later) and result.busy:
            held.append(user_id)
            delay = max(delay, result.seconds)
        elif isinstance(result, Later):
            rest, delay = message.users[index:], max(delay, result.seconds)
            logger.warning(
                "chunk paused by Telegram", extra={"retry_after": result.seconds, "left": len(rest)}
            )
            break
        else:
            counts[result] += 1
    left = rest + held
    if left and message.round >= MAX_ROUNDS:
        logger.error(
            "chunk gave up; the rest counts as failed", extra={"chunk": message.chunk, "left": len(left)}
        )
        counts[Outcome.FAILED] += len(left)
        left = []
    if left:
        enqueue(
            settings,
            [message.model_copy(update={"users": left, "counted": dict(counts), "round": message.round + 1})],
            delay=delay,
        )
        return
    tally(bid, message.chunk, counts)


def tally(broadcast_id: str, chunk: str, counts: Counter[str]) -> None:
    """Add a finished chunk's outcomes to the meta's counters, once per chunk id."""
    meta = BroadcastItem(broadcast_id, META)
    actions: list[Any] = [BroadcastItem.chunks.add({chunk}), BroadcastItem.updated_at.set(now_ms())]
    for outcome in (Outcome.SENT, Outcome.FAILED, Outcome.BLOCKED, Outcome.SKIPPED):
        if counts.get(outcome):
            actions.append(getattr(BroadcastItem, str(outcome)).add(counts[outcome]))
    try:
        meta.update(
            actions=actions,
            condition=BroadcastItem.part.exists() & ~BroadcastItem.chunks.contains(chunk),
        )
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        logger.info("chunk already counted", extra={"chunk": chunk})
        # by this very update, perhaps (its SDK resend, the first answer lost, is what failed),
        # or by a copy that died before finishing: either way the last chunk finishes it
        found = get(broadcast_id)
        if found is not None:
            _finish_if_counted(found)
        return
    _finish_if_counted(meta)


def _finish_if_counted(meta: BroadcastItem) -> None:
    """Sending -> done once the selection is complete and every selected user is counted."""
    counted = sum(int(getattr(meta, n) or 0) for n in ("sent", "failed", "blocked", "skipped"))
    if meta.status != BroadcastStatus.SENDING or not meta.selection_done or counted < int(meta.selected or 0):
        return
    now = now_ms()
    try:
        BroadcastItem(meta.broadcast_id, META).update(
            actions=[
                BroadcastItem.status.set(BroadcastStatus.DONE),
                BroadcastItem.finished_at.set(now),
                BroadcastItem.updated_at.set(now),
            ],
            condition=BroadcastItem.status == BroadcastStatus.SENDING,
        )
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        return
    logger.info(
        "broadcast done",
        extra={n: int(getattr(meta, n) or 0) for n in ("selected", "sent", "failed", "blocked", "skipped")},
    )
    metrics.add_metric(name="BroadcastsDone", unit="Count", value=1)
