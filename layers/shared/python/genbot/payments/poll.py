"""``payment_poll``: settle YooKassa payments, from the minute schedule and from notifications.

Two paths, one outcome, through ``settle()`` (whichever settles first wins; the other finds the
ledger entry and changes nothing):

- the schedule (``{"task": "poll_payments"}``) reads the payments due for a look through the
  sparse ``Payment.pending`` index (only pending payments carry its keys; never a scan), fetches
  each from YooKassa and settles it (succeeded), marks it canceled with the reason, or, still
  pending, looks again later (30 s doubling to 10 minutes) until it expires
  (``PAYMENT_EXPIRE_MINUTES``); the user is told each outcome in their language;
- ``POST /yookassa/notifications`` accepts a notification only from YooKassa's published
  addresses (anything else: 403, nothing read or written), never trusts its body (the payment
  is fetched again) and answers 200 when done (YooKassa redelivers anything else for 24 h).
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import time
import uuid
from collections.abc import Iterable
from typing import Any

from aiogram.methods import SendMessage

from genbot import runtime
from genbot.config import Settings, get_settings
from genbot.i18n import N_, translate, translate_plural
from genbot.observability import logger, metrics
from genbot.payments import yookassa
from genbot.payments.settle import settle
from genbot.store.models import Payment, User, now_ms
from genbot.telegram.sending import SendFailure, send
from genbot.vocab import PaymentMethod, PaymentStatus

# https://yookassa.ru/developers/using-api/webhooks#ip
YOOKASSA_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "185.71.76.0/27",
        "185.71.77.0/27",
        "77.75.153.0/25",
        "77.75.156.11/32",
        "77.75.156.35/32",
        "77.75.154.128/25",
        "2a02:5180::/32",
    )
)
Networks = Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]

RUN_BUDGET_SECONDS = 40.0  # of the function's 60 s: a fetch is bounded (yookassa.REQUEST_TIMEOUT)
MAX_PER_RUN = 200  # due payments looked at per run; the rest are due the next minute
EXPIRED = "expired"  # our cancel_reason for a payment nobody paid in time

SUCCEEDED_TEXT = N_("✅ Payment received: +{credits}. Balance: {balance}. Thank you!")
EXPIRED_TEXT = N_(
    "⌛ The payment for {credits} wasn't completed in time and is no longer awaited. "
    "If money was taken, it will be credited or returned automatically. "
    "To buy again, open 🛒 Buy credits."
)
CANCELED_TEXT = N_(
    "❌ The payment for {credits} didn't go through: {reason}. You can try again in 🛒 Buy credits."
)
# YooKassa's cancellation_details.reason -> what the user is told
REASONS: dict[str, str] = {
    "3d_secure_failed": N_("the 3-D Secure check was not passed"),
    "call_issuer": N_("the bank declined the payment; please call your bank"),
    "card_expired": N_("the card has expired"),
    "country_forbidden": N_("cards from this country aren't accepted"),
    "expired_on_confirmation": N_("the payment wasn't confirmed in time"),
    "expired_on_capture": N_("the payment wasn't completed in time"),
    "fraud_suspected": N_("the payment was blocked as suspicious"),
    "insufficient_funds": N_("there isn't enough money on the card"),
    "invalid_card_number": N_("the card number is wrong"),
    "invalid_csc": N_("the CVV/CVC code is wrong"),
    "issuer_unavailable": N_("the bank couldn't be reached"),
    "payment_method_limit_exceeded": N_("a limit of the card or wallet was reached"),
    "payment_method_restricted": N_("payments with this card or wallet are restricted"),
    "canceled_by_merchant": N_("it was canceled by the shop"),
    "permission_revoked": N_("the permission to charge was revoked"),
}
REASON_OTHER = N_("the payment was declined")


def handle(event: dict[str, Any], trusted: Networks | None = None) -> dict[str, Any]:
    """The Lambda's one entry: the schedule's task or an API Gateway (v2) notification."""
    if event.get("task") == "poll_payments":
        return poll_due(get_settings())
    if isinstance(event.get("requestContext"), dict):
        return notification(event, YOOKASSA_NETWORKS if trusted is None else tuple(trusted))
    logger.warning("payment_poll: an event it doesn't know", extra={"keys": sorted(event)[:10]})
    return {"ignored": True}


# -- the schedule ----------------------------------------------------------------------------------


def poll_due(settings: Settings, now: int | None = None) -> dict[str, Any]:
    """Look at every pending payment whose ``next_poll_at`` has come; ``read``: index items read."""
    started = time.monotonic()
    now = now_ms() if now is None else now
    stats = {"read": 0, "succeeded": 0, "canceled": 0, "expired": 0, "pending": 0, "errors": 0}
    if not yookassa.configured(settings):
        return stats
    for shard in range(yookassa.PENDING_SHARDS):
        due = Payment.pending.query(shard, Payment.next_poll_at <= now, limit=MAX_PER_RUN)
        for payment in due:
            if time.monotonic() - started > RUN_BUDGET_SECONDS:
                logger.warning("payment poll: out of time, the rest is due next run")
                break
            stats[_poll_one(settings, payment, now)] += 1
        stats["read"] += due.total_count
    metrics.add_metric(name="PaymentsPolled", unit="Count", value=stats["read"])
    return stats


def _poll_one(settings: Settings, payment: Payment, now: int) -> str:
    try:
        fetched = yookassa.fetch(settings, str(payment.provider_payment_id))
    except yookassa.YooKassaError as exc:
        logger.warning(
            "payment poll: fetch failed", extra={"payment_id": payment.payment_id, "error": str(exc)}
        )
        if payment.expires_at is not None and now >= int(payment.expires_at):
            return _expire(settings, payment) or "errors"
        _back_off(payment, now)
        return "errors"
    outcome = apply(settings, payment, fetched)
    if outcome != "pending":
        return outcome
    if payment.expires_at is not None and now >= int(payment.expires_at):
        return _expire(settings, payment) or "pending"
    _back_off(payment, now)
    return "pending"


def _back_off(payment: Payment, now: int) -> None:
    polls = int(payment.polls or 0) + 1
    delay = min(yookassa.FIRST_POLL_MS * 2 ** min(polls, 10), yookassa.MAX_POLL_INTERVAL_MS)
    _update_if_pending(payment, [Payment.polls.set(polls), Payment.next_poll_at.set(now + delay)])


def _update_if_pending(payment: Payment, actions: list[Any]) -> bool:
    """Change a payment only while it is still pending (a settle may have just won)."""
    from pynamodb.exceptions import UpdateError

    try:
        payment.update(actions=actions, condition=Payment.status == PaymentStatus.PENDING)
    except UpdateError as exc:
        if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _close(payment: Payment, reason: str) -> bool:
    """pending -> canceled (``reason``), once: True for the call that closed it (it tells the user).

    The update writes a token: when its condition fails, one read (that path only) tells this
    call's own SDK resend (the first attempt landed, its answer was lost) from another closer
    (the schedule and a notification race), so the user is told once, not never.
    """
    token = uuid.uuid4().hex
    closed = _update_if_pending(
        payment,
        [
            Payment.status.set(PaymentStatus.CANCELED),
            Payment.cancel_reason.set(reason),
            Payment.settled_at.set(now_ms()),
            Payment.pending_shard.remove(),
            Payment.next_poll_at.remove(),
            Payment.closed_by.set(token),
        ],
    )
    if closed:
        return True
    try:
        found = Payment.get(payment.payment_id, consistent_read=True, attributes_to_get=["closed_by"])
    except Payment.DoesNotExist:
        return False
    return found.closed_by == token


def _expire(settings: Settings, payment: Payment) -> str | None:
    if not _close(payment, EXPIRED):
        return None
    metrics.add_metric(name="PaymentsExpired", unit="Count", value=1)
    language = _language(settings, int(payment.user_id))
    _tell(
        int(payment.user_id),
        translate(EXPIRED_TEXT, language, credits=_credits(int(payment.credits), language)),
    )
    return "expired"


# -- one payment, as YooKassa reports it --------------------------------------------------------------


def apply(settings: Settings, payment: Payment, fetched: yookassa.Fetched) -> str:
    """Settle, cancel or leave pending ``payment`` (ours) as ``fetched`` (YooKassa's) says."""
    if fetched.status == "succeeded":
        if (fetched.amount, fetched.currency) != (int(payment.amount), str(payment.currency)) or (
            fetched.metadata.get("user_id", str(int(payment.user_id))) != str(int(payment.user_id))
        ):
            logger.error(
                "a YooKassa payment doesn't match ours: not credited",
                extra={
                    "payment_id": payment.payment_id,
                    "amount": fetched.amount,
                    "currency": fetched.currency,
                },
            )
            metrics.add_metric(name="PaymentsUnmatched", unit="Count", value=1)
            return "errors"
        done = settle(
            settings,
            user_id=int(payment.user_id),
            method=PaymentMethod.YOOKASSA,
            provider_payment_id=fetched.provider_id,
            product=str(payment.product),
            amount=int(payment.amount),
            currency=str(payment.currency),
            credits=int(payment.credits),
        )
        if done.applied:
            language = _language(settings, done.user_id)
            balance = int(User.get(done.user_id, consistent_read=True).balance)
            _tell(
                done.user_id,
                translate(
                    SUCCEEDED_TEXT,
                    language,
                    credits=_credits(done.credits, language),
                    balance=_credits(balance, language),
                ),
            )
        return "succeeded"
    if fetched.status == "canceled":
        reason = fetched.cancel_reason or "unknown"
        if _close(payment, reason):
            metrics.add_metric(name="PaymentsCanceled", unit="Count", value=1)
            language = _language(settings, int(payment.user_id))
            _tell(
                int(payment.user_id),
                translate(
                    CANCELED_TEXT,
                    language,
                    credits=_credits(int(payment.credits), language),
                    reason=translate(REASONS.get(reason, REASON_OTHER), language),
                ),
            )
        return "canceled"
    return "pending"  # pending, waiting_for_capture (we capture at once: it passes)


def _language(settings: Settings, user_id: int) -> str:
    try:
        return str(User.get(user_id).language)
    except User.DoesNotExist:
        return settings.default_language


def _credits(n: int, language: str) -> str:
    return translate_plural("{n} credit", "{n} credits", n, language)


def _tell(user_id: int, text: str) -> None:
    """A message to the user; a failure is logged, never undoes what was recorded."""
    with contextlib.suppress(SendFailure):  # logged and counted by send()
        runtime.run(send(runtime.bot(), SendMessage(chat_id=user_id, text=text), user_id=user_id))


# -- notifications ---------------------------------------------------------------------------------


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def trusted_source(source_ip: str, networks: Networks) -> bool:
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in networks)


def notification(event: dict[str, Any], networks: Networks) -> dict[str, Any]:
    """A YooKassa notification: from YooKassa's addresses only; the payment is fetched again."""
    source = str(((event.get("requestContext") or {}).get("http") or {}).get("sourceIp") or "")
    metrics.add_metric(name="YooKassaNotifications", unit="Count", value=1)
    if not trusted_source(source, networks):
        logger.warning("YooKassa notification from a foreign address: refused", extra={"source_ip": source})
        metrics.add_metric(name="YooKassaNotificationsForbidden", unit="Count", value=1)
        return _response(403, {"error": "forbidden"})
    raw = event.get("body") or ""
    try:
        if event.get("isBase64Encoded"):
            raw = base64.b64decode(raw).decode()
        body = json.loads(raw)
        kind = str(body.get("event", ""))
        provider_id = str((body.get("object") or {}).get("id", ""))
    except (ValueError, AttributeError, TypeError):
        return _response(400, {"error": "not a YooKassa notification"})
    if not kind.startswith("payment.") or not provider_id:
        return _response(200, {"ignored": kind or "unknown"})  # refunds etc.: nothing to settle here
    settings = get_settings()
    if not yookassa.configured(settings):
        logger.error("a YooKassa notification, but YooKassa is not configured")
        return _response(500, {"error": "not configured"})
    try:
        payment = Payment.get(f"{PaymentMethod.YOOKASSA}#{provider_id}", consistent_read=True)
    except Payment.DoesNotExist:
        payment = None  # created at YooKassa, but our record of it was lost: its metadata says
    if payment is not None and payment.status == PaymentStatus.SUCCEEDED:
        return _response(200, {"status": "succeeded"})
    try:
        fetched = yookassa.fetch(settings, provider_id)
    except yookassa.YooKassaUnavailableError as exc:
        logger.warning("YooKassa notification: fetch failed", extra={"error": str(exc)})
        return _response(503, {"error": "try again"})  # YooKassa redelivers
    except yookassa.YooKassaRejectedError as exc:
        logger.error("YooKassa notification: fetch refused", extra={"error": str(exc)})
        return _response(200, {"ignored": "fetch refused"})
    if payment is None:
        payment = _from_metadata(fetched)
        if payment is None:
            logger.error(
                "a YooKassa notification for a payment we don't know", extra={"provider_id": provider_id}
            )
            return _response(200, {"ignored": "unknown payment"})
    outcome = apply(settings, payment, fetched)
    return _response(200, {"status": outcome})


def _from_metadata(fetched: yookassa.Fetched) -> Payment | None:
    """Our payment as ``create_payment`` described it in the metadata (fetched from YooKassa with
    our credentials, never from a notification's body); None when it isn't one of ours."""
    meta = fetched.metadata
    if not (meta.get("user_id", "").isdigit() and meta.get("credits", "").isdigit() and meta.get("product")):
        return None
    return Payment(
        f"{PaymentMethod.YOOKASSA}#{fetched.provider_id}",
        user_id=int(meta["user_id"]),
        method=str(PaymentMethod.YOOKASSA),
        product=meta["product"],
        amount=fetched.amount,
        currency=fetched.currency,
        credits=int(meta["credits"]),
        status=PaymentStatus.PENDING,
        provider_payment_id=fetched.provider_id,
    )
