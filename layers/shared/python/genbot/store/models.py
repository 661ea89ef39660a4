"""PynamoDB models: the shape of every item genbot stores.

Physical table names and the region come from ``genbot.config.Settings`` (set by CDK, printed
by ``genbot bootstrap``), read when a model is used, not when it is imported: reloaded
settings point every model at the new names with no patching. Keys and indexes here are the
single source of truth: ``genbot.store.tables`` derives the CDK and local table definitions.
"""

from __future__ import annotations

import time
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, LocalSecondaryIndex
from pynamodb.models import Model

from genbot.config import get_settings


class FromSettings:
    """A ``Meta`` attribute read from the current settings at each use (a class-level descriptor).

    Table names and the region are never secret: they come from the environment part of the
    settings, so defining a model (PynamoDB reads ``Meta.region`` then) reads no secret.
    """

    def __init__(self, field: str) -> None:
        self.field = field

    def __get__(self, instance: Any, owner: Any) -> Any:
        return getattr(get_settings.environment(), self.field)


class _Meta:
    """Connection settings shared by all tables: short timeouts, few retries, so that a call's
    worst case (1 + 3 s, three tries: 12 s) fits the webhook's 25 s with room to answer."""

    connect_timeout_seconds = 1
    read_timeout_seconds = 3
    max_retry_attempts = 2
    region = FromSettings("aws_region")


# the cause of a failed condition on a single-item write (``UpdateError.cause_response_code``)
CONDITION_FAILED = "ConditionalCheckFailedException"


def condition_failed(exc: BaseException) -> bool:
    """True when DynamoDB refused a single-item write because its condition was false.

    Use this, not ``exc.cause_response_code``: PynamoDB's property raises AttributeError when
    the cause is a transport error (a read timeout after the SDK's retries: botocore's
    ``HTTPClientError`` has ``response = None``), which turned a timeout into a confusing
    AttributeError wherever a write's refusal was told apart from its failure.
    """
    response = getattr(getattr(exc, "cause", None), "response", None)
    return isinstance(response, dict) and response.get("Error", {}).get("Code") == CONDITION_FAILED


def now_ms() -> int:
    return int(time.time() * 1000)


class _DueIndex(GlobalSecondaryIndex):
    """Sparse "who is due" indexes for the notify schedules: only users carrying the index's
    keys are in it (partition: the constant ``DUE``; sort: when they are next due, epoch
    seconds). Keys are set when the facts change and removed when a user can't be due again,
    so a run reads the users due now, never the whole table (``genbot.notify``)."""


DUE = "due"  # the one partition value of the sparse due indexes
FAILED = "failed"  # the one partition value of the jobs' sparse "failed" index


class OfferDueIndex(_DueIndex):
    """The discount offer: set when a first generation empties the balance."""

    class Meta:
        index_name = "offer_due"
        projection = AllProjection()

    offer_q = UnicodeAttribute(hash_key=True)
    offer_at = NumberAttribute(range_key=True)


class BonusDueIndex(_DueIndex):
    """The daily bonus reminder: the next reminder time while the bonus window is open."""

    class Meta:
        index_name = "bonus_due"
        projection = AllProjection()

    bonus_q = UnicodeAttribute(hash_key=True)
    bonus_at = NumberAttribute(range_key=True)


class SubscriptionDueIndex(_DueIndex):
    """Subscription notices: 3 days before the end (reminder), then at the end (ended)."""

    class Meta:
        index_name = "sub_due"
        projection = AllProjection()

    sub_q = UnicodeAttribute(hash_key=True)
    sub_at = NumberAttribute(range_key=True)


class User(Model):
    """A bot user. ``balance`` only ever changes together with a ledger entry."""

    class Meta(_Meta):
        table_name = FromSettings("users_table")

    user_id = NumberAttribute(hash_key=True)
    balance = NumberAttribute(default=0)
    language = UnicodeAttribute(default="ru")
    first_name = UnicodeAttribute(null=True)
    username = UnicodeAttribute(null=True)
    created_at = NumberAttribute(default=lambda: int(time.time()))
    referrer_id = NumberAttribute(null=True)
    referrals = NumberAttribute(default=0)
    active_jobs = NumberAttribute(default=0)
    generations = NumberAttribute(default=0)
    first_generation_at = NumberAttribute(null=True)
    last_daily_bonus = UnicodeAttribute(null=True)
    subscription_until = NumberAttribute(null=True)
    first_paid_at = NumberAttribute(null=True)  # epoch ms of the first settled payment
    receipt_email = UnicodeAttribute(null=True)  # 54-FZ receipts (YooKassa): asked once, changeable
    subscription_charge_id = UnicodeAttribute(null=True)  # the Stars subscription to cancel/renew
    subscription_renews = BooleanAttribute(null=True)
    blocked = BooleanAttribute(default=False)  # the user blocked the bot (403 on a send)
    banned = BooleanAttribute(null=True)  # an operator's ban: the bot serves them nothing
    seen_at = NumberAttribute(null=True)  # epoch seconds of the last update, kept to ~12 h
    muted = UnicodeSetAttribute(null=True)  # vocab.NoticeKind values the user turned off
    # Notices (genbot.notify): the sparse due keys and what was sent, so each goes once
    offer_q = UnicodeAttribute(null=True)
    offer_at = NumberAttribute(null=True)
    offer_sent_at = NumberAttribute(null=True)  # epoch seconds; set once, ever
    offer_until = NumberAttribute(null=True)  # the offer's pack sells to this user until then
    bonus_q = UnicodeAttribute(null=True)
    bonus_at = NumberAttribute(null=True)
    bonus_reminded = UnicodeAttribute(null=True)  # the local day of the last reminder
    sub_q = UnicodeAttribute(null=True)
    sub_at = NumberAttribute(null=True)
    sub_reminded = NumberAttribute(null=True)  # the subscription_until the reminder was for
    sub_ended = NumberAttribute(null=True)  # the subscription_until the "ended" message was for
    # The chat assistant (genbot.chat)
    chat_mode = BooleanAttribute(null=True)  # plain text is a question to the assistant
    chat_trial_left = NumberAttribute(null=True)  # None: the trial was never activated
    chat_day = UnicodeAttribute(null=True)  # the local day chat_day_count counts (subscription cap)
    chat_day_count = NumberAttribute(null=True)
    chat_conv = UnicodeAttribute(null=True)  # the current conversation's id (/new starts another)
    chat_language = UnicodeAttribute(null=True)  # the answers' language: None = the question's
    chat_pending = UnicodeAttribute(null=True)  # a question asked before the trial was taken
    # The token of the last conditional write that took something on this item (a notice's
    # turn, the trial): that write's own SDK resend (its answer lost) passes its condition
    taken_by = UnicodeAttribute(null=True)
    # The generation being set up (mode, tier, photo, prompt, nonce); confirming consumes it.
    draft = JSONAttribute(null=True)
    draft_nonce = UnicodeAttribute(null=True)
    offer_due = OfferDueIndex()
    bonus_due = BonusDueIndex()
    sub_due = SubscriptionDueIndex()


class LedgerTimeIndex(LocalSecondaryIndex):
    """A user's ledger in time order (balance history, cabinet)."""

    class Meta:
        index_name = "by_time"
        projection = AllProjection()

    user_id = NumberAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class LedgerByHourIndex(GlobalSecondaryIndex):
    """Entries by the UTC hour they were written (``YYYY-MM-DDTHH``): the scheduled ledger audit
    (``genbot.ledger.audit.audit_recent``) reads the entries since its last run, so it checks
    the users whose balance moved, never the whole table."""

    class Meta:
        index_name = "by_hour"
        projection = AllProjection()

    hour = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


def hour_of(epoch_ms: int) -> str:
    """The UTC hour bucket of ``epoch_ms``: ``YYYY-MM-DDTHH``."""
    return time.strftime("%Y-%m-%dT%H", time.gmtime(epoch_ms / 1000))


class LedgerEntry(Model):
    """One balance change, keyed by the business id of its cause (``op_id``)."""

    class Meta(_Meta):
        table_name = FromSettings("ledger_table")

    user_id = NumberAttribute(hash_key=True)
    op_id = UnicodeAttribute(range_key=True)
    delta = NumberAttribute()
    kind = UnicodeAttribute()
    created_at = NumberAttribute(default=now_ms)
    note = UnicodeAttribute(null=True)
    hour = UnicodeAttribute(null=True)  # hour_of(created_at): the by_hour index (absent on older entries)
    by_time = LedgerTimeIndex()
    by_hour = LedgerByHourIndex()


class JobsByUserIndex(GlobalSecondaryIndex):
    """A user's jobs, newest first (cabinet, status)."""

    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_id = NumberAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class ActiveJobsIndex(GlobalSecondaryIndex):
    """Sparse: only jobs still queued or running carry ``sweep``; the sweeper reads those whose
    ``sweep_at`` (when they should have moved on by) has passed, never the whole table."""

    class Meta:
        index_name = "active"
        projection = AllProjection()

    sweep = UnicodeAttribute(hash_key=True)
    sweep_at = NumberAttribute(range_key=True)


class FailedJobsIndex(GlobalSecondaryIndex):
    """Sparse: only failed jobs carry ``failed_q`` ("failed"); the admin section's "recent
    failures" reads the newest of them, never the table."""

    class Meta:
        index_name = "failed"
        projection = AllProjection()

    failed_q = UnicodeAttribute(hash_key=True)
    updated_at = NumberAttribute(range_key=True)


class Job(Model):
    """A generation job: ``queued -> running -> succeeded | failed``, moved by conditional updates."""

    class Meta(_Meta):
        table_name = FromSettings("jobs_table")

    job_id = UnicodeAttribute(hash_key=True)
    user_id = NumberAttribute()
    chat_id = NumberAttribute()
    mode = UnicodeAttribute()
    tier = UnicodeAttribute(default="standard")
    prompt = UnicodeAttribute(default="")
    variant = NumberAttribute(null=True)  # a variation of an earlier result: a fresh composition
    input_file_id = UnicodeAttribute(null=True)
    price = NumberAttribute()
    status = UnicodeAttribute(default="queued")
    language = UnicodeAttribute(default="ru")
    created_at = NumberAttribute(default=now_ms)
    updated_at = NumberAttribute(default=now_ms)
    attempts = NumberAttribute(default=0)
    provider = UnicodeAttribute(null=True)  # who served (or is serving) the job
    provider_key_id = UnicodeAttribute(null=True)  # the pool key's fingerprint, never the key
    provider_model = UnicodeAttribute(null=True)
    operation = UnicodeAttribute(null=True)  # a long-running provider operation (video) to poll
    polls = NumberAttribute(default=0)
    result_key = UnicodeAttribute(null=True)
    result_mime = UnicodeAttribute(null=True)
    error_code = UnicodeAttribute(null=True)
    status_message_id = NumberAttribute(null=True)
    delivered = BooleanAttribute(default=False)
    result_file_id = UnicodeAttribute(null=True)  # Telegram's id of the sent result, for "animate this"
    result_text = UnicodeAttribute(null=True)  # describe: the prompt we wrote
    # chat jobs: how the message is paid ("subscription", "trial", "credits"), what it asked
    # (kept in the conversations table, with its TTL: no text here), what it cost
    funding = UnicodeAttribute(null=True)
    input_kind = UnicodeAttribute(null=True)  # "photo" or "voice" (input_file_id)
    conv_id = UnicodeAttribute(null=True)
    tokens_in = NumberAttribute(null=True)
    tokens_out = NumberAttribute(null=True)
    cost_micro_usd = NumberAttribute(null=True)
    latency_ms = NumberAttribute(null=True)  # from the job's start to the last piece sent
    first_piece_ms = NumberAttribute(null=True)  # from the provider's first token to the first visible piece
    # One worker at a time: whoever holds an unexpired lease works the job; a second copy of
    # its message backs off. Released when a step ends; expires if the worker dies.
    lease_owner = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)  # epoch ms
    original_requested_at = NumberAttribute(null=True)  # one "original file" request in flight
    sweep = UnicodeAttribute(null=True)  # "active" while queued or running (sparse index)
    sweep_at = NumberAttribute(null=True)  # epoch ms: look again if the job hasn't moved by then
    failed_q = UnicodeAttribute(null=True)  # "failed" once refunded (the sparse "failed" index)
    by_user = JobsByUserIndex()
    active = ActiveJobsIndex()
    failed = FailedJobsIndex()


class PendingPaymentsIndex(GlobalSecondaryIndex):
    """Sparse: only payments still waiting to settle carry ``pending_shard``; ``payment_poll``
    reads those due (``next_poll_at``), never the settled ones."""

    class Meta:
        index_name = "pending"
        projection = AllProjection()

    pending_shard = NumberAttribute(hash_key=True)
    next_poll_at = NumberAttribute(range_key=True)


class Payment(Model):
    """A payment (Telegram Stars or YooKassa) and its settlement; credited once by its ledger key."""

    class Meta(_Meta):
        table_name = FromSettings("payments_table")

    payment_id = UnicodeAttribute(hash_key=True)  # "stars#<telegram_payment_charge_id>", "yk#<id>"
    user_id = NumberAttribute()
    method = UnicodeAttribute()  # vocab.PaymentMethod
    product = UnicodeAttribute()
    amount = NumberAttribute()  # whole Stars, or kopecks
    currency = UnicodeAttribute()
    credits = NumberAttribute()
    status = UnicodeAttribute(default="pending")  # vocab.PaymentStatus
    created_at = NumberAttribute(default=now_ms)
    settled_at = NumberAttribute(null=True)
    provider_payment_id = UnicodeAttribute(null=True)
    subscription_until = NumberAttribute(null=True)  # epoch seconds, for subscription charges
    confirmation_url = UnicodeAttribute(null=True)  # YooKassa: where the user pays
    expires_at = NumberAttribute(null=True)  # epoch ms: a pending payment stops being polled
    polls = NumberAttribute(default=0)
    cancel_reason = UnicodeAttribute(null=True)  # YooKassa's cancellation_details.reason
    refunded_at = NumberAttribute(null=True)
    refund_credits = NumberAttribute(null=True)  # credits taken back by the refund
    refund_shortfall = NumberAttribute(null=True)  # credits already spent when refunded
    closed_by = UnicodeAttribute(null=True)  # the poll that marked it canceled: its SDK resend passes
    pending_shard = NumberAttribute(null=True)
    next_poll_at = NumberAttribute(null=True)
    pending = PendingPaymentsIndex()


class PromoCode(Model):
    """A promo code: credits, an expiry and a use limit; each user redeems it once."""

    class Meta(_Meta):
        table_name = FromSettings("promo_table")

    code = UnicodeAttribute(hash_key=True)  # upper-case
    credits = NumberAttribute()
    max_uses = NumberAttribute()
    used = NumberAttribute(default=0)
    expires_at = NumberAttribute(null=True)  # epoch seconds; none: no expiry
    disabled = BooleanAttribute(default=False)
    created_at = NumberAttribute(default=now_ms)
    created_by = UnicodeAttribute(null=True)


class SettingItem(Model):
    """Operator-editable settings (prices, packs, provider tiers) and shared counters."""

    class Meta(_Meta):
        table_name = FromSettings("settings_table")

    key = UnicodeAttribute(hash_key=True)
    value = JSONAttribute(null=True)
    updated_at = NumberAttribute(default=now_ms)


class IdempotencyRecord(Model):
    """Processed-update markers (``update#<bot>#<update_id>``), expiring by TTL."""

    class Meta(_Meta):
        table_name = FromSettings("idempotency_table")

    id = UnicodeAttribute(hash_key=True)
    expiration = TTLAttribute()
    status = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)  # epoch ms: a redelivery after this is taken again
    owner = UnicodeAttribute(null=True)  # the delivery that took it: its own SDK retry is not a copy


class BroadcastsByCreatedIndex(GlobalSecondaryIndex):
    """Sparse: only a broadcast's meta item carries ``kind``, so ``genbot broadcast list`` reads
    the broadcasts, newest first, never their (many) recipient items."""

    class Meta:
        index_name = "by_created"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class BroadcastItem(Model):
    """A broadcast (``part="meta"``: the message, segment, status, counters), its selection pages
    (``part="p#<n>"``: the user ids one Scan page chose, cut into chunks, written once so a
    redelivered page fans out the same chunks) and its recipients (``part="u#<user_id>"``:
    claimed, then sent / failed / blocked / skipped, so none is sent twice)."""

    class Meta(_Meta):
        table_name = FromSettings("broadcasts_table")

    broadcast_id = UnicodeAttribute(hash_key=True)
    part = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute(null=True)  # "broadcast" on the meta item only (the sparse index)
    status = UnicodeAttribute(null=True)
    created_at = NumberAttribute(default=now_ms)
    updated_at = NumberAttribute(null=True)
    started_at = NumberAttribute(null=True)  # meta: draft -> sending (epoch ms)
    finished_at = NumberAttribute(null=True)  # meta: every selected user counted (epoch ms)
    data = JSONAttribute(null=True)  # meta: text, photo, button, segment, created_by; page: chunks
    sent = NumberAttribute(null=True)
    failed = NumberAttribute(null=True)
    blocked = NumberAttribute(null=True)
    skipped = NumberAttribute(null=True)
    selected = NumberAttribute(null=True)
    pages = NumberAttribute(null=True)  # meta: selection pages counted so far
    selection_done = BooleanAttribute(null=True)  # meta: the last page is counted
    fanned_out = BooleanAttribute(null=True)  # page: its chunks and the next page were enqueued
    chunks = UnicodeSetAttribute(null=True)  # chunk ids already counted (redelivery-safe tallies)
    lease_until = NumberAttribute(null=True)  # recipient: a send in flight until then (epoch ms)
    # recipient: its claim's token; meta: its last start's or cancel's (an SDK resend told apart)
    owner = UnicodeAttribute(null=True)
    expiration = TTLAttribute(null=True)  # pages and recipients expire; the meta item stays
    by_created = BroadcastsByCreatedIndex()


class ChatMessage(Model):
    """One message of an assistant conversation; expires ``CHAT_CONTEXT_HOURS`` after it was
    written (message texts are kept no longer than the context needs them)."""

    class Meta(_Meta):
        table_name = FromSettings("conversations_table")

    user_id = NumberAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)  # "<conv>#<created ms, 13 digits>#<job id>#<role>"
    role = UnicodeAttribute()  # "user" | "assistant"
    text = UnicodeAttribute(default="")
    tokens = NumberAttribute(default=0)  # the provider's count where known, else an estimate
    image = BooleanAttribute(null=True)  # the question came with a photo (not kept)
    expiration = TTLAttribute()


class AdminAction(Model):
    """One operator action in the admin section (``genbot.cabinet.admin``): who did what to
    which target, the state before and after, and why. Partitioned by UTC day, newest last in
    each day (``at_id``: 13-digit epoch ms and a random suffix), so "the latest actions" is a
    Query of today, then yesterday, and so on."""

    class Meta(_Meta):
        table_name = FromSettings("admin_log_table")

    day = UnicodeAttribute(hash_key=True)  # YYYY-MM-DD (UTC)
    at_id = UnicodeAttribute(range_key=True)  # "<epoch ms, 13 digits>#<random>"
    admin_id = NumberAttribute()
    action = UnicodeAttribute()
    target = UnicodeAttribute(default="")
    before = JSONAttribute(null=True)
    after = JSONAttribute(null=True)
    reason = UnicodeAttribute(null=True)


class StatsCounter(Model):
    """Operator statistics as counters (``genbot.stats``), added to where the fact happens, so
    the admin section reads a month's numbers with one Query instead of scanning jobs and
    payments. Partition: the month (``YYYY-MM`` in the app's time zone); sort key:
    ``DD#<what>`` (``DD#users``, ``DD#gen#<mode>#<provider>``, ``DD#chat``, ``DD#pay#<currency>``).
    Only the attributes a counter uses are set."""

    class Meta(_Meta):
        table_name = FromSettings("stats_table")
        # An ADD is not idempotent: the SDK must not resend one whose answer was lost after it
        # landed (that counts twice). genbot.stats.bump retries only what surely did not apply.
        max_retry_attempts = 0

    month = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)
    new_users = NumberAttribute(null=True)
    active_users = NumberAttribute(null=True)
    jobs = NumberAttribute(null=True)  # finished: succeeded + failed
    succeeded = NumberAttribute(null=True)
    failed = NumberAttribute(null=True)
    credits = NumberAttribute(null=True)  # spent on succeeded jobs; sold by payments
    messages = NumberAttribute(null=True)
    tokens_in = NumberAttribute(null=True)
    tokens_out = NumberAttribute(null=True)
    cost_micro_usd = NumberAttribute(null=True)
    payments = NumberAttribute(null=True)
    amount = NumberAttribute(null=True)  # whole Stars (XTR), kopecks (RUB)
    refunds = NumberAttribute(null=True)
    refunded_amount = NumberAttribute(null=True)
    refunded_credits = NumberAttribute(null=True)
