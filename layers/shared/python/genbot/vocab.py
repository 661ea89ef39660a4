"""The product's vocabulary: modes, tiers, job statuses and ledger entry kinds.

No dependencies: every layer (bot, jobs, providers, ledger, store, the CDK app, the local
stack) may import it, and a stored string is always one of these values.
"""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    """What a generation makes."""

    IMAGE = "image"  # a picture from a text prompt
    EDIT = "edit"  # the user's photo changed by a prompt
    VIDEO = "video"  # the user's photo animated
    DESCRIBE = "describe"  # a prompt written from the user's photo
    CHAT = "chat"  # a message to the assistant (genbot.chat), answered as text


class Tier(StrEnum):
    STANDARD = "standard"
    PRO = "pro"


class JobStatus(StrEnum):
    """``queued -> running -> succeeded | failed``."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class EntryKind(StrEnum):
    """Why a ledger entry moved a balance (users read these as words)."""

    WELCOME = "welcome"
    REFERRAL = "referral"
    DAILY = "daily"
    DEBIT = "debit"
    REFUND = "refund"
    PURCHASE = "purchase"
    SUBSCRIPTION = "subscription"
    PROMO = "promo"
    GRANT = "grant"


class PaymentMethod(StrEnum):
    STARS = "stars"
    YOOKASSA = "yk"


class PaymentStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"
    REFUNDED = "refunded"


class Funding(StrEnum):
    """How an assistant message is paid, in the order they are tried."""

    SUBSCRIPTION = "subscription"  # inside the subscription's daily allowance
    TRIAL = "trial"  # one of the free trial's messages
    CREDITS = "credits"  # COST_CHAT credits, debited through the ledger


class NoticeKind(StrEnum):
    """Messages the bot sends unasked; a user turns each kind off in /settings."""

    OFFERS = "offers"  # the discount offer and the operator's announcements (broadcasts)
    BONUS = "bonus"  # the daily bonus reminder
    SUBSCRIPTION = "subscription"  # the subscription is ending / has ended


class BroadcastStatus(StrEnum):
    DRAFT = "draft"  # previewed, waiting for the operator's confirmation
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


# the generation modes (the menu, prices, the catalog); CHAT is the assistant's, priced apart
MODES: tuple[Mode, ...] = (Mode.IMAGE, Mode.EDIT, Mode.VIDEO, Mode.DESCRIBE)
TIERS: tuple[Tier, ...] = tuple(Tier)
NEEDS_PHOTO: frozenset[Mode] = frozenset({Mode.EDIT, Mode.VIDEO, Mode.DESCRIBE})
PROMPT_OPTIONAL: frozenset[Mode] = frozenset({Mode.VIDEO, Mode.DESCRIBE})
ACTIVE: frozenset[JobStatus] = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
TERMINAL: frozenset[JobStatus] = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED})
