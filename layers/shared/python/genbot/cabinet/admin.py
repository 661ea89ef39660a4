"""``/admin/...``: the operator's section of the cabinet (``ADMIN_IDS`` only: ``CurrentAdmin``).

Every route that changes something writes an ``AdminAction`` (who, what, target, before, after,
reason) to the admin log, which ``GET /admin/log`` shows newest first. What each read costs:

- ``/stats``: the ``stats`` counters (``genbot.stats``): one Query per calendar month of the
  30-day window; the users total is DescribeTable's ``ItemCount`` (no read units; DynamoDB
  refreshes it about every 6 hours, so it lags);
- ``/jobs/failed``: one Query of the jobs' sparse ``failed`` index;
- ``/audit``: ``genbot.ledger.audit``: a Scan of the whole ledger and users tables (strongly
  consistent): run it on demand, not on a timer;
- ``/promo`` (list): a Scan of the promo table (small: one item per code);
- everything else: GetItem and Query by key.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field, PositiveInt
from pynamodb.exceptions import DoesNotExist

from genbot import stats
from genbot.cabinet.auth import Caller, CurrentAdmin
from genbot.cabinet.errors import CabinetError, ConflictError, NotFoundError
from genbot.cabinet.paging import DEFAULT_LIMIT, CursorParam, LimitParam, next_cursor, start_key
from genbot.i18n import N_
from genbot.jobs.pricing import validate_prices
from genbot.ledger import InsufficientFundsError, Posting, apply
from genbot.ledger.audit import audit as ledger_audit
from genbot.notify import broadcast
from genbot.observability import logger
from genbot.payments import promo, refunds
from genbot.payments.products import validate_packs
from genbot.payments.subscriptions import validate_terms
from genbot.providers.catalog import validate as validate_catalog
from genbot.store import settings as stored_settings
from genbot.store.models import (
    FAILED,
    AdminAction,
    Job,
    LedgerEntry,
    Payment,
    PromoCode,
    SettingItem,
    User,
    now_ms,
)
from genbot.users import get_user
from genbot.users.service import set_banned
from genbot.vocab import EntryKind

router = APIGatewayHttpRouter()

STATS_DAYS = 30
LOG_SCOPE = "admin_log"
LOG_KEY_FIELDS: dict[str, type] = {"day": str, "at_id": str}
LOG_LOOKBACK_DAYS = 31  # days one page of the log looks back through (one Query a day)
RECENT = 10  # ledger entries, jobs and payments in a user's view
SettingKey = Literal["prices", "packs", "catalog", "subscription"]
UserId = Annotated[int, Path(ge=1, le=2**53)]
Code = Annotated[str, Path(min_length=1, max_length=64)]
Ident = Annotated[str, Path(min_length=1, max_length=200)]


class InvalidValueError(CabinetError):
    """A settings value, a promo code or a broadcast the validators refuse: nothing stored."""

    status = 422
    code = "invalid_value"
    msgid = N_("This value is not valid, so nothing was saved.")


NO_USER = N_("There is no such user.")
NO_PAYMENT = N_("There is no such payment.")
NO_BROADCAST = N_("There is no such broadcast.")
NO_CODE = N_("There is no such promo code.")
CODE_EXISTS = N_("A promo code by that name exists already.")
LOW_BALANCE = N_("The balance is lower than that: it can't go below zero.")
NOT_REFUNDED = N_("This payment can't be refunded.")
NOT_DRAFT = N_("This broadcast was already started or cancelled.")


# -- the log ----------------------------------------------------------------------------------------


def _day(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%d")


def record(
    caller: Caller,
    action: str,
    target: str,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
) -> AdminAction:
    """Write one admin action to the log (and the function's log)."""
    at = now_ms()
    item = AdminAction(
        _day(at),
        f"{at:013d}#{secrets.token_hex(4)}",
        admin_id=caller.user_id,
        action=action,
        target=target,
        before=before,
        after=after,
        reason=reason or None,
    )
    item.save()
    logger.info("admin action", extra={"admin_id": caller.user_id, "action": action, "target": target})
    return item


class LoggedAction(BaseModel):
    at: datetime
    admin_id: int
    action: str
    target: str
    before: Any
    after: Any
    reason: str | None


class LogPage(BaseModel):
    items: list[LoggedAction]
    next_cursor: str | None


def _logged(item: AdminAction) -> LoggedAction:
    return LoggedAction(
        at=datetime.fromtimestamp(int(item.at_id.split("#", 1)[0]) / 1000, UTC),
        admin_id=int(item.admin_id),
        action=str(item.action),
        target=str(item.target),
        before=item.before,
        after=item.after,
        reason=item.reason,
    )


@router.get("/admin/log", summary="The admin log, newest first")
def log(caller: CurrentAdmin, cursor: CursorParam = None, limit: LimitParam = DEFAULT_LIMIT) -> LogPage:
    """Each admin action: who, what, when, the target's state before and after, the reason.
    One Query per day looked at, at most a month a page: a month with no action ends the list."""
    start = start_key(caller, LOG_SCOPE, cursor, LOG_KEY_FIELDS)
    day = datetime.strptime(start["day"], "%Y-%m-%d").replace(tzinfo=UTC) if start else datetime.now(UTC)
    after_key = start["at_id"] if start else None
    found: list[AdminAction] = []
    for _ in range(LOG_LOOKBACK_DAYS):
        name = day.strftime("%Y-%m-%d")
        condition = AdminAction.at_id < after_key if after_key else None
        found += AdminAction.query(name, condition, scan_index_forward=False, limit=limit + 1 - len(found))
        if len(found) > limit:
            break
        day, after_key = day - timedelta(days=1), None
    items = found[:limit]
    key: dict[str, Any] | None = None
    if len(found) > limit:
        key = {"day": str(items[-1].day), "at_id": str(items[-1].at_id)}
    elif found:  # a month looked through: older days may hold more ("~" sorts after any at_id)
        key = {"day": day.strftime("%Y-%m-%d"), "at_id": "~"}
    return LogPage(items=[_logged(i) for i in items], next_cursor=next_cursor(caller, LOG_SCOPE, key))


# -- stats ------------------------------------------------------------------------------------------


class DayRevenue(BaseModel):
    day: str
    currency: str
    payments: int
    amount: int  # whole Stars (XTR), kopecks (RUB)
    credits: int
    refunds: int
    refunded_amount: int


class Generations(BaseModel):
    mode: str
    provider: str | None
    jobs: int
    succeeded: int
    failed: int
    credits: int


class ChatUsage(BaseModel):
    messages: int
    failed: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    credits: int


class DayStats(BaseModel):
    """One day of the window (``TIMEZONE``): every day is present, zeros when quiet."""

    day: str
    new_users: int
    active_users: int
    generations: int  # finished (succeeded + failed), the assistant's messages apart
    failed: int
    chat_messages: int
    credits_sold: int
    credits_spent: int  # on succeeded generations and paid assistant messages
    stars: int  # settled Stars payments' amount (XTR)
    rub_kopecks: int


class Stats(BaseModel):
    users_total: int
    users_total_updated: str
    days: int
    daily: list[DayStats]
    revenue: list[DayRevenue]
    generations: list[Generations]
    chat: ChatUsage


def _day_stats(day: stats.Day) -> DayStats:
    generations = [values for _what, values in day.starting("gen#")]
    payments = dict(day.starting("pay#"))
    return DayStats(
        day=day.day.isoformat(),
        new_users=day.get(stats.USERS, "new_users"),
        active_users=day.get(stats.USERS, "active_users"),
        generations=sum(g.get("jobs", 0) for g in generations),
        failed=sum(g.get("failed", 0) for g in generations),
        chat_messages=day.get(stats.CHAT, "messages"),
        credits_sold=sum(p.get("credits", 0) for p in payments.values()),
        credits_spent=sum(g.get("credits", 0) for g in generations) + day.get(stats.CHAT, "credits"),
        stars=payments.get("pay#XTR", {}).get("amount", 0),
        rub_kopecks=payments.get("pay#RUB", {}).get("amount", 0),
    )


@router.get("/admin/stats", summary="Users, revenue, generations and chat usage")
def stats_view(caller: CurrentAdmin) -> Stats:
    """The last 30 days from the ``stats`` counters (``genbot.stats``: one Query per calendar
    month, no scan) and the users total (DescribeTable's ``ItemCount``: refreshed by DynamoDB
    about every 6 hours, so it lags)."""
    users_total = int(User.describe_table().get("ItemCount", 0))
    days = stats.read(STATS_DAYS)
    revenue: list[DayRevenue] = []
    generations: dict[tuple[str, str | None], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    chat = [0, 0, 0, 0, 0, 0]
    for day in days:
        for what, v in day.starting("pay#"):
            revenue.append(
                DayRevenue(
                    day=day.day.isoformat(),
                    currency=what.removeprefix("pay#"),
                    payments=v.get("payments", 0),
                    amount=v.get("amount", 0),
                    credits=v.get("credits", 0),
                    refunds=v.get("refunds", 0),
                    refunded_amount=v.get("refunded_amount", 0),
                )
            )
        for what, v in day.starting("gen#"):
            _, mode, provider = what.split("#", 2)
            row = generations[(mode, None if provider == stats.NO_PROVIDER else provider)]
            for i, name in enumerate(("jobs", "succeeded", "failed", "credits")):
                row[i] += v.get(name, 0)
        for i, name in enumerate(
            ("messages", "failed", "tokens_in", "tokens_out", "cost_micro_usd", "credits")
        ):
            chat[i] += day.get(stats.CHAT, name)
    return Stats(
        users_total=users_total,
        users_total_updated="about every 6 hours",
        days=STATS_DAYS,
        daily=[_day_stats(day) for day in days],
        revenue=revenue,
        generations=[
            Generations(mode=mode, provider=provider, jobs=n, succeeded=ok, failed=bad, credits=credits)
            for (mode, provider), (n, ok, bad, credits) in sorted(
                generations.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
            )
        ],
        chat=ChatUsage(
            messages=chat[0],
            failed=chat[1],
            tokens_in=chat[2],
            tokens_out=chat[3],
            cost_usd=chat[4] / 1_000_000,
            credits=chat[5],
        ),
    )


# -- users ------------------------------------------------------------------------------------------


class UserFacts(BaseModel):
    user_id: int
    first_name: str | None
    username: str | None
    language: str
    balance: int
    blocked: bool  # the user blocked the bot
    banned: bool  # an operator banned the user
    created_at: datetime
    seen_at: datetime | None
    generations: int
    referrals: int
    referrer_id: int | None
    subscription_until: datetime | None
    first_paid_at: datetime | None


class LedgerLine(BaseModel):
    op_id: str
    delta: int
    kind: str
    note: str | None
    created_at: datetime


class JobLine(BaseModel):
    job_id: str
    mode: str
    tier: str
    status: str
    price: int
    provider: str | None
    error_code: str | None
    created_at: datetime


def _job_line(job: Job) -> JobLine:
    return JobLine(
        job_id=str(job.job_id),
        mode=str(job.mode),
        tier=str(job.tier),
        status=str(job.status),
        price=int(job.price),
        provider=job.provider,
        error_code=job.error_code,
        created_at=_at_ms(int(job.created_at)),
    )


class PaymentLine(BaseModel):
    payment_id: str
    method: str
    product: str
    amount: int
    currency: str
    credits: int
    status: str
    created_at: datetime


class UserView(BaseModel):
    user: UserFacts
    ledger: list[LedgerLine]
    jobs: list[JobLine]
    payments: list[PaymentLine]


def _at(epoch_seconds: int | float | None) -> datetime | None:
    return None if epoch_seconds is None else datetime.fromtimestamp(float(epoch_seconds), UTC)


def _at_ms(epoch_ms: int | float) -> datetime:
    return datetime.fromtimestamp(float(epoch_ms) / 1000, UTC)


def _facts(user: User) -> UserFacts:
    return UserFacts(
        user_id=int(user.user_id),
        first_name=user.first_name,
        username=user.username,
        language=str(user.language),
        balance=int(user.balance),
        blocked=bool(user.blocked),
        banned=bool(user.banned),
        created_at=_at(int(user.created_at)) or datetime.now(UTC),
        seen_at=_at(user.seen_at),
        generations=int(user.generations or 0),
        referrals=int(user.referrals or 0),
        referrer_id=int(user.referrer_id) if user.referrer_id is not None else None,
        subscription_until=_at(user.subscription_until),
        first_paid_at=_at_ms(user.first_paid_at) if user.first_paid_at is not None else None,
    )


def _user(user_id: int) -> User:
    user = get_user(user_id)
    if user is None:
        raise NotFoundError(NO_USER)
    return user


def _payments(user_id: int) -> list[PaymentLine]:
    """The user's payments, through their ledger's ``pay#`` entries (payments have no user index):
    one Query and a GetItem per payment, the newest ``RECENT``."""
    entries = list(LedgerEntry.query(user_id, LedgerEntry.op_id.startswith("pay#")))
    entries.sort(key=lambda e: int(e.created_at), reverse=True)
    lines = []
    for entry in entries[:RECENT]:
        try:
            p = Payment.get(str(entry.op_id).removeprefix("pay#"))
        except DoesNotExist:
            continue
        lines.append(
            PaymentLine(
                payment_id=str(p.payment_id),
                method=str(p.method),
                product=str(p.product),
                amount=int(p.amount),
                currency=str(p.currency),
                credits=int(p.credits),
                status=str(p.status),
                created_at=_at_ms(int(p.created_at)),
            )
        )
    return lines


@router.get("/admin/users/<user_id>", summary="One user: balance, ledger, jobs, payments")
def user_view(caller: CurrentAdmin, user_id: UserId) -> UserView:
    """The user's key facts, latest ledger entries, jobs and payments (Queries by key)."""
    user = _user(user_id)
    ledger = LedgerEntry.by_time.query(user_id, scan_index_forward=False, limit=RECENT)
    jobs = Job.by_user.query(user_id, scan_index_forward=False, limit=RECENT)
    return UserView(
        user=_facts(user),
        ledger=[
            LedgerLine(
                op_id=str(e.op_id),
                delta=int(e.delta),
                kind=str(e.kind),
                note=e.note,
                created_at=_at_ms(int(e.created_at)),
            )
            for e in ledger
        ],
        jobs=[_job_line(j) for j in jobs],
        payments=_payments(user_id),
    )


class FailedJob(JobLine):
    user_id: int
    failed_at: datetime


class FailedJobs(BaseModel):
    items: list[FailedJob]


@router.get("/admin/jobs/failed", summary="The latest failed (and refunded) jobs")
def failed_jobs(caller: CurrentAdmin, limit: LimitParam = DEFAULT_LIMIT) -> FailedJobs:
    """Newest first, from the jobs' sparse ``failed`` index: one Query of ``limit`` items."""
    found = Job.failed.query(FAILED, scan_index_forward=False, limit=limit)
    return FailedJobs(
        items=[
            FailedJob(
                **_job_line(job).model_dump(), user_id=int(job.user_id), failed_at=_at_ms(int(job.updated_at))
            )
            for job in found
        ]
    )


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=500)


def _ban(caller: Caller, user_id: int, banned: bool, reason: str) -> UserFacts:
    user = _user(user_id)
    before = bool(user.banned)
    if before != banned:
        set_banned(user_id, banned)
        record(
            caller,
            "block" if banned else "unblock",
            f"user:{user_id}",
            {"banned": before},
            {"banned": banned},
            reason,
        )
    return _facts(_user(user_id))


@router.post("/admin/users/<user_id>/block", summary="Ban a user from the bot")
def block(caller: CurrentAdmin, user_id: UserId, body: Reason) -> UserFacts:
    """Sets the user's ``banned`` flag: the bot answers their updates with one short notice and
    does nothing else (payments already made still settle), the cabinet refuses them (403
    ``banned``), notices and broadcasts skip them. ``blocked`` stays what Telegram tells us:
    that the user blocked the bot."""
    return _ban(caller, user_id, True, body.reason)


@router.post("/admin/users/<user_id>/unblock", summary="Unblock a user")
def unblock(caller: CurrentAdmin, user_id: UserId, body: Reason) -> UserFacts:
    return _ban(caller, user_id, False, body.reason)


class GrantRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credits: int = Field(ge=-1_000_000, le=1_000_000, description="negative: take credits back")
    reason: str = Field(min_length=1, max_length=500)
    idempotency_key: str = Field(
        min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="one per intended grant"
    )


class Granted(BaseModel):
    op_id: str
    applied: bool  # False: this key was granted before (a double submit): nothing done
    balance: int


def grant_op_id(admin_id: int, user_id: int, key: str) -> str:
    digest = hashlib.sha256(f"{admin_id}:{user_id}:{key}".encode()).hexdigest()[:24]
    return f"grant#{digest}"


@router.post("/admin/users/<user_id>/grant", summary="Grant or revoke credits")
def grant(caller: CurrentAdmin, user_id: UserId, body: GrantRequest) -> Granted:
    """Through the ledger, once per ``idempotency_key``; a revoke never takes the balance below 0."""
    if body.credits == 0:
        raise InvalidValueError()
    before = int(_user(user_id).balance)
    op_id = grant_op_id(caller.user_id, user_id, body.idempotency_key)
    try:
        applied = apply(Posting(user_id, op_id, body.credits, EntryKind.GRANT, note=body.reason[:200]))
    except InsufficientFundsError:
        raise ConflictError(LOW_BALANCE, code="insufficient_balance") from None
    balance = int(_user(user_id).balance)
    if applied:
        record(
            caller,
            "grant" if body.credits > 0 else "revoke",
            f"user:{user_id}",
            {"balance": before},
            {"balance": balance, "credits": body.credits, "op_id": op_id},
            body.reason,
        )
    return Granted(op_id=op_id, applied=applied, balance=balance)


# -- payments ---------------------------------------------------------------------------------------


class Refunded(BaseModel):
    payment_id: str
    user_id: int
    credits: int
    shortfall: int
    balance: int
    applied: bool


@router.post("/admin/payments/<payment_id>/refund", summary="Refund a payment")
def refund(caller: CurrentAdmin, payment_id: Ident, body: Reason) -> Refunded:
    """Money back through the provider, then the credits taken back once (``genbot.payments.refunds``)."""
    payment_id = unquote(payment_id)
    try:
        before = Payment.get(payment_id, consistent_read=True)
    except DoesNotExist:
        raise NotFoundError(NO_PAYMENT) from None
    try:
        result = refunds.refund(caller.settings, payment_id)
    except refunds.RefundError as exc:
        logger.warning("admin refund refused", extra={"payment_id": payment_id, "error": str(exc)})
        raise ConflictError(NOT_REFUNDED, code="refund_refused") from exc
    if result.applied:
        record(
            caller,
            "refund",
            f"payment:{payment_id}",
            {"status": str(before.status), "credits": int(before.credits)},
            {"status": "refunded", "credits_taken": result.credits, "shortfall": result.shortfall},
            body.reason,
        )
    return Refunded(
        payment_id=result.payment_id,
        user_id=result.user_id,
        credits=result.credits,
        shortfall=result.shortfall,
        balance=result.balance,
        applied=result.applied,
    )


# -- promo codes ------------------------------------------------------------------------------------


class PromoView(BaseModel):
    code: str
    credits: int
    max_uses: int
    used: int
    expires_at: datetime | None
    disabled: bool
    created_at: datetime
    created_by: str | None


class PromoList(BaseModel):
    items: list[PromoView]


class PromoCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=3, max_length=32)
    credits: PositiveInt = Field(le=1_000_000)
    max_uses: PositiveInt = Field(le=10_000_000)
    expires_at: datetime | None = None
    reason: str = Field(default="", max_length=500)


def _promo(p: PromoCode) -> PromoView:
    return PromoView(
        code=str(p.code),
        credits=int(p.credits),
        max_uses=int(p.max_uses),
        used=int(p.used or 0),
        expires_at=_at(p.expires_at),
        disabled=bool(p.disabled),
        created_at=_at_ms(int(p.created_at)),
        created_by=p.created_by,
    )


@router.get("/admin/promo", summary="Promo codes and their uses")
def promo_list(caller: CurrentAdmin) -> PromoList:
    """Every code, newest first (a Scan of the small promo table)."""
    codes = sorted(PromoCode.scan(), key=lambda p: int(p.created_at), reverse=True)
    return PromoList(items=[_promo(p) for p in codes])


@router.post("/admin/promo", summary="Create a promo code")
def promo_create(caller: CurrentAdmin, body: PromoCreate) -> PromoView:
    expires = int(body.expires_at.timestamp()) if body.expires_at is not None else None
    try:
        created = promo.create(
            body.code, body.credits, body.max_uses, expires_at=expires, created_by=f"cabinet:{caller.user_id}"
        )
    except promo.CodeExistsError:
        raise ConflictError(CODE_EXISTS, code="promo_exists") from None
    except promo.InvalidPromoError as exc:
        raise InvalidValueError() from exc
    view = _promo(created)
    record(caller, "promo_create", f"promo:{view.code}", None, view.model_dump(mode="json"), body.reason)
    return view


@router.post("/admin/promo/<code>/disable", summary="Disable a promo code")
def promo_disable(caller: CurrentAdmin, code: Code, body: Reason) -> PromoView:
    found = promo.get(code)
    if found is None:
        raise NotFoundError(NO_CODE, code="promo_unknown")
    if not found.disabled:
        promo.disable(code)
    after = promo.get(code)
    assert after is not None
    if not found.disabled:
        record(
            caller,
            "promo_disable",
            f"promo:{found.code}",
            {"disabled": False},
            {"disabled": True},
            body.reason,
        )
    return _promo(after)


# -- settings ---------------------------------------------------------------------------------------


class SettingView(BaseModel):
    key: str
    value: Any = Field(description="null: no override, the defaults apply")
    updated_at: datetime | None


class SettingChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: dict[str, Any]
    reason: str = Field(default="", max_length=500)


def _validate(caller: Caller, key: str, value: dict[str, Any]) -> None:
    """The setting's own validator (what the bot uses when it reads it): ValueError if invalid."""
    if key == "prices":
        validate_prices(value)
    elif key == "packs":
        validate_packs(value)
    elif key == "catalog":
        validate_catalog(value)
    else:
        validate_terms(caller.settings, value)


def _setting(key: str) -> SettingItem | None:
    try:
        return SettingItem.get(key, consistent_read=True)
    except DoesNotExist:
        return None


def _setting_view(key: str, item: SettingItem | None) -> SettingView:
    return SettingView(
        key=key,
        value=None if item is None else item.value,
        updated_at=None if item is None else _at_ms(int(item.updated_at)),
    )


@router.get("/admin/settings/<key>", summary="An operator setting: prices, packs, catalog, subscription")
def setting_get(caller: CurrentAdmin, key: SettingKey) -> SettingView:
    return _setting_view(key, _setting(key))


@router.put("/admin/settings/<key>", summary="Change an operator setting")
def setting_put(caller: CurrentAdmin, key: SettingKey, body: SettingChange) -> SettingView:
    """Validated as the bot validates it when reading (an invalid value: 422, nothing stored);
    warm functions see it within a minute (their settings cache)."""
    try:
        _validate(caller, key, body.value)
    except ValueError as exc:
        logger.info("admin setting refused", extra={"key": key, "error": str(exc)[:500]})
        raise InvalidValueError() from exc
    before = _setting(key)
    item = SettingItem(key, value=body.value, updated_at=now_ms())
    item.save()
    stored_settings.clear_cache()
    record(
        caller, "setting", f"setting:{key}", None if before is None else before.value, body.value, body.reason
    )
    return _setting_view(key, item)


# -- broadcasts -------------------------------------------------------------------------------------


class ButtonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=64)
    url: str = Field(min_length=1, max_length=2048)


class SegmentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: Literal["ru", "en"] | None = None
    paying: bool | None = None
    active_days: PositiveInt | None = Field(default=None, le=3650)


class BroadcastDraft(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4096, description="Telegram HTML")
    photo: str | None = Field(default=None, max_length=2048)
    button: ButtonBody | None = None
    segment: SegmentBody = Field(default_factory=SegmentBody)


class BroadcastView(BaseModel):
    broadcast_id: str
    status: str
    segment: str
    selected: int
    sent: int
    failed: int
    blocked: int
    skipped: int
    selection_done: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def _broadcast(item: Any) -> BroadcastView:
    p = broadcast.progress(item)
    return BroadcastView(
        broadcast_id=p.broadcast_id,
        status=p.status,
        segment=broadcast.segment_of(item).describe(),
        selected=p.selected,
        sent=p.sent,
        failed=p.failed,
        blocked=p.blocked,
        skipped=p.skipped,
        selection_done=p.selection_done,
        created_at=_at_ms(p.created_at),
        started_at=None if p.started_at is None else _at_ms(p.started_at),
        finished_at=None if p.finished_at is None else _at_ms(p.finished_at),
    )


@router.post("/admin/broadcasts", summary="A broadcast draft")
def broadcast_create(caller: CurrentAdmin, body: BroadcastDraft) -> BroadcastView:
    """Checked against Telegram's HTML and length limits (422 if not), stored as a draft."""
    button = None if body.button is None else broadcast.Button(text=body.button.text, url=body.button.url)
    try:
        item = broadcast.create(
            caller.settings,
            body.text,
            photo=body.photo,
            button=button,
            segment=broadcast.Segment.model_validate(body.segment.model_dump()),
            created_by=f"cabinet:{caller.user_id}",
        )
    except broadcast.BroadcastError as exc:
        logger.info("admin broadcast refused", extra={"error": str(exc)[:300]})
        raise InvalidValueError() from exc
    view = _broadcast(item)
    record(caller, "broadcast_create", f"broadcast:{view.broadcast_id}", None, body.model_dump(mode="json"))
    return view


def _get_broadcast(broadcast_id: str) -> Any:
    item = broadcast.get(broadcast_id)
    if item is None:
        raise NotFoundError(NO_BROADCAST)
    return item


@router.post("/admin/broadcasts/<broadcast_id>/start", summary="Send a broadcast draft")
def broadcast_start(caller: CurrentAdmin, broadcast_id: Ident) -> BroadcastView:
    """Draft -> sending, once (a second start is 409)."""
    _get_broadcast(broadcast_id)
    if not broadcast.start(caller.settings, broadcast_id):
        raise ConflictError(NOT_DRAFT, code="not_draft")
    record(caller, "broadcast_start", f"broadcast:{broadcast_id}", {"status": "draft"}, {"status": "sending"})
    return _broadcast(_get_broadcast(broadcast_id))


@router.get("/admin/broadcasts/<broadcast_id>", summary="A broadcast's progress")
def broadcast_progress(caller: CurrentAdmin, broadcast_id: Ident) -> BroadcastView:
    return _broadcast(_get_broadcast(broadcast_id))


# -- the ledger audit -------------------------------------------------------------------------------


class Mismatch(BaseModel):
    user_id: int
    balance: int | None
    ledger_sum: int


class Audit(BaseModel):
    ok: bool
    mismatches: list[Mismatch]
    cost: str


@router.get("/admin/audit", summary="The ledger audit: every balance against its ledger")
def audit(caller: CurrentAdmin) -> Audit:
    """Scans the whole ledger and users tables (a full, strongly consistent read of each)."""
    found = ledger_audit()
    return Audit(
        ok=not found,
        mismatches=[Mismatch(user_id=m.user_id, balance=m.balance, ledger_sum=m.ledger_sum) for m in found],
        cost="a full scan of the ledger and users tables",
    )


__all__ = ["InvalidValueError", "grant_op_id", "record", "router"]
