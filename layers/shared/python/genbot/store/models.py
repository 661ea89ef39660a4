"""PynamoDB models: the shape of every item genbot stores.

Physical table names come from the environment (set by CDK, printed by ``genbot bootstrap``);
the defaults are only for a bare local run. Keys and indexes here are the single source of
truth: ``genbot.store.tables`` derives the CDK and local table definitions from them.
"""

from __future__ import annotations

import os
import time

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, LocalSecondaryIndex
from pynamodb.models import Model


def _table(env_var: str, default: str) -> str:
    return os.environ.get(env_var, default)


class _Meta:
    """Connection settings shared by all tables: short timeouts, few retries (Lambda budgets)."""

    connect_timeout_seconds = 3
    read_timeout_seconds = 5
    max_retry_attempts = 3
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def now_ms() -> int:
    return int(time.time() * 1000)


class User(Model):
    """A bot user. ``balance`` only ever changes together with a ledger entry."""

    class Meta(_Meta):
        table_name = _table("USERS_TABLE", "genbot-users")

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
    blocked = BooleanAttribute(default=False)
    # The generation being set up (mode, tier, photo, prompt, nonce); confirming consumes it.
    draft = JSONAttribute(null=True)
    draft_nonce = UnicodeAttribute(null=True)


class LedgerTimeIndex(LocalSecondaryIndex):
    """A user's ledger in time order (balance history, cabinet)."""

    class Meta:
        index_name = "by_time"
        projection = AllProjection()

    user_id = NumberAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class LedgerEntry(Model):
    """One balance change, keyed by the business id of its cause (``op_id``)."""

    class Meta(_Meta):
        table_name = _table("LEDGER_TABLE", "genbot-ledger")

    user_id = NumberAttribute(hash_key=True)
    op_id = UnicodeAttribute(range_key=True)
    delta = NumberAttribute()
    kind = UnicodeAttribute()
    created_at = NumberAttribute(default=now_ms)
    note = UnicodeAttribute(null=True)
    by_time = LedgerTimeIndex()


class JobsByUserIndex(GlobalSecondaryIndex):
    """A user's jobs, newest first (cabinet, status)."""

    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_id = NumberAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class Job(Model):
    """A generation job: ``queued -> running -> succeeded | failed``, moved by conditional updates."""

    class Meta(_Meta):
        table_name = _table("JOBS_TABLE", "genbot-jobs")

    job_id = UnicodeAttribute(hash_key=True)
    user_id = NumberAttribute()
    chat_id = NumberAttribute()
    mode = UnicodeAttribute()
    tier = UnicodeAttribute(default="standard")
    prompt = UnicodeAttribute(default="")
    input_file_id = UnicodeAttribute(null=True)
    price = NumberAttribute()
    status = UnicodeAttribute(default="queued")
    language = UnicodeAttribute(default="ru")
    created_at = NumberAttribute(default=now_ms)
    updated_at = NumberAttribute(default=now_ms)
    attempts = NumberAttribute(default=0)
    provider = UnicodeAttribute(null=True)
    operation = UnicodeAttribute(null=True)
    polls = NumberAttribute(default=0)
    result_key = UnicodeAttribute(null=True)
    result_mime = UnicodeAttribute(null=True)
    error_code = UnicodeAttribute(null=True)
    status_message_id = NumberAttribute(null=True)
    delivered = BooleanAttribute(default=False)
    result_file_id = UnicodeAttribute(null=True)  # Telegram's id of the sent result, for "animate this"
    result_text = UnicodeAttribute(null=True)  # describe: the prompt we wrote
    by_user = JobsByUserIndex()


class PendingPaymentsIndex(GlobalSecondaryIndex):
    """Sparse: only payments still waiting to settle carry ``pending_shard``."""

    class Meta:
        index_name = "pending"
        projection = AllProjection()

    pending_shard = NumberAttribute(hash_key=True)
    next_poll_at = NumberAttribute(range_key=True)


class Payment(Model):
    """A payment attempt (Stars or YooKassa) and its settlement state."""

    class Meta(_Meta):
        table_name = _table("PAYMENTS_TABLE", "genbot-payments")

    payment_id = UnicodeAttribute(hash_key=True)
    user_id = NumberAttribute()
    method = UnicodeAttribute()
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    credits = NumberAttribute()
    status = UnicodeAttribute(default="pending")
    created_at = NumberAttribute(default=now_ms)
    pending_shard = NumberAttribute(null=True)
    next_poll_at = NumberAttribute(null=True)
    pending = PendingPaymentsIndex()


class Conversation(Model):
    """Chat-assistant context for one user; expires on its own."""

    class Meta(_Meta):
        table_name = _table("CONVERSATIONS_TABLE", "genbot-conversations")

    user_id = NumberAttribute(hash_key=True)
    messages = JSONAttribute(default=list)
    updated_at = NumberAttribute(default=now_ms)
    expires_at = TTLAttribute(null=True)


class PromoCode(Model):
    """A promo code; each user redeems it once (ledger key ``promo#<code>``)."""

    class Meta(_Meta):
        table_name = _table("PROMO_TABLE", "genbot-promo")

    code = UnicodeAttribute(hash_key=True)
    credits = NumberAttribute()
    max_uses = NumberAttribute(default=0)
    used = NumberAttribute(default=0)
    expires_at = NumberAttribute(null=True)


class SettingItem(Model):
    """Operator-editable settings (prices, packs, provider tiers) and shared counters."""

    class Meta(_Meta):
        table_name = _table("SETTINGS_TABLE", "genbot-settings")

    key = UnicodeAttribute(hash_key=True)
    value = JSONAttribute(null=True)
    updated_at = NumberAttribute(default=now_ms)


class IdempotencyRecord(Model):
    """Processed-update markers and Powertools idempotency records (same schema: id/expiration)."""

    class Meta(_Meta):
        table_name = _table("IDEMPOTENCY_TABLE", "genbot-idempotency")

    id = UnicodeAttribute(hash_key=True)
    expiration = TTLAttribute()
    status = UnicodeAttribute(null=True)
    data = UnicodeAttribute(null=True)
