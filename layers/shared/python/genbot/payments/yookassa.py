"""YooKassa (rubles): create a payment with a 54-FZ receipt, fetch one, refund one.

The official SDK (``yookassa``) builds and validates the requests; its HTTP client has no
request timeout of its own (``Configuration.timeout`` is only the back-off between 202
retries) and retries only for https, so every call here goes through ``_Client``: the SDK's
``ApiClient`` with a bounded ``requests`` call (``REQUEST_TIMEOUT``) and its errors mapped to
ours: ``YooKassaUnavailableError`` (a timeout, the network, 5xx, 429: retry, with the same
Idempotence-Key for a POST) and ``YooKassaRejectedError`` (4xx: the request is wrong; retrying
won't help).

A payment is created with our own Idempotence-Key (a fresh id per purchase, also in its
metadata), so a create retried after a lost answer or a timeout is still one payment. It is
stored pending (``yk#<yookassa id>``) with ``pending_shard``/``next_poll_at`` set: the sparse
``Payment.pending`` index ``genbot.payments.poll`` reads.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError

from genbot.config import Settings
from genbot.observability import logger, metrics
from genbot.payments.products import Product
from genbot.store.models import Payment, User, now_ms
from genbot.vocab import PaymentMethod, PaymentStatus

CURRENCY = "RUB"
# (connect, read) seconds for one HTTP call. The webhook creates payments within Telegram's
# patience and the poll's 60 s: two create attempts at worst 2 x (3 + 6) s leave room to answer.
REQUEST_TIMEOUT: tuple[float, float] = (3.0, 6.0)
CREATE_ATTEMPTS = 2
RETRY_PAUSE_SECONDS = 0.3
# The poll's first look at a new payment, and its back-off: 30 s doubling up to 10 minutes.
FIRST_POLL_MS = 30_000
MAX_POLL_INTERVAL_MS = 10 * 60_000
# Pending payments are spread over this many index partitions (hash keys 0..N-1). One is plenty
# for this bot's volume (a partition serves 3000 reads/s, and a poll run reads only the due
# pending ones); raising it later is safe: the poll queries every shard below it.
PENDING_SHARDS = 1

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_PHONE_CHARS = re.compile(r"[\s()\-]")


class YooKassaError(Exception):
    """A YooKassa call failed."""


class YooKassaUnavailableError(YooKassaError):
    """A timeout, a network error, a 5xx or a 429: try again later (the same Idempotence-Key)."""


class YooKassaRejectedError(YooKassaError):
    """YooKassa refused the request (4xx): fix the request; retrying won't help."""

    def __init__(self, message: str, status: int = 400, code: str = "", parameter: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.parameter = parameter


def configured(settings: Settings) -> bool:
    """Rubles are on sale only with both YOOKASSA_SHOP_ID and YOOKASSA_SECRET_KEY."""
    return bool(settings.yookassa_shop_id and settings.yookassa_secret_key)


def _client(settings: Settings) -> Any:
    """The SDK's client with our timeout and errors, imported on first use: the webhook's cold
    start doesn't pay for the SDK (and requests) unless a ruble payment is made."""
    from genbot.payments import yookassa_sdk

    return yookassa_sdk.client(settings)


# -- the buyer's receipt contact ----------------------------------------------------------------------


def normalize_contact(raw: str) -> str | None:
    """An email (as typed, trimmed) or a phone (digits, ``79001234567``); None if it is neither."""
    text = raw.strip()
    if len(text) > 254:
        return None
    if "@" in text:
        return text if _EMAIL.match(text) else None
    digits = _PHONE_CHARS.sub("", text)
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("8") and len(digits) == 11:
        digits = "7" + digits[1:]  # a Russian number typed as 8 900 ...
    if digits.isascii() and digits.isdigit() and 10 <= len(digits) <= 15:
        return digits
    return None


def save_receipt_contact(user_id: int, contact: str) -> str | None:
    """Remember where the user's receipts go; the stored form, or None when ``contact`` is invalid."""
    value = normalize_contact(contact)
    if value is None:
        return None
    User(user_id).update(actions=[User.receipt_email.set(value)], condition=User.user_id.exists())
    return value


def _customer(contact: str) -> dict[str, str]:
    return {"email": contact} if "@" in contact else {"phone": contact}


# -- payments ----------------------------------------------------------------------------------------


def rubles(kopecks: int) -> str:
    """``19900`` -> ``"199.00"``."""
    return str((Decimal(kopecks) / 100).quantize(Decimal("0.01")))


def kopecks(value: str) -> int:
    return int((Decimal(value) * 100).to_integral_value())


@dataclass(frozen=True)
class Fetched:
    """What the poll needs from a payment YooKassa reported."""

    provider_id: str
    status: str  # pending | waiting_for_capture | succeeded | canceled
    amount: int  # kopecks
    currency: str
    metadata: dict[str, str]
    cancel_party: str = ""
    cancel_reason: str = ""


def _fetched(obj: dict[str, Any]) -> Fetched:
    amount = obj.get("amount") or {}
    details = obj.get("cancellation_details") or {}
    return Fetched(
        provider_id=str(obj["id"]),
        status=str(obj.get("status", "")),
        amount=kopecks(str(amount.get("value", "0"))),
        currency=str(amount.get("currency", "")),
        metadata={str(k): str(v) for k, v in (obj.get("metadata") or {}).items()},
        cancel_party=str(details.get("party", "")),
        cancel_reason=str(details.get("reason", "")),
    )


def create_payment(
    settings: Settings,
    user: User,
    product: Product,
    *,
    return_url: str,
    description: str,
    item_description: str | None = None,
) -> Payment:
    """Create the payment at YooKassa (one, however many tries) and store it pending."""
    contact = user.receipt_email
    if not contact:
        raise YooKassaRejectedError("the user has no receipt contact", parameter="receipt.customer")
    key = uuid.uuid4().hex  # our payment id: the Idempotence-Key of every try
    amount = product.rubles * 100
    money = {"value": rubles(amount), "currency": CURRENCY}
    params: dict[str, Any] = {
        "amount": money,
        "capture": True,
        "confirmation": {"type": "redirect", "return_url": settings.yookassa_return_url or return_url},
        "description": description[:128],
        "metadata": {
            "key": key,
            "user_id": str(int(user.user_id)),
            "product": product.product_id,
            "credits": str(product.credits),
        },
        "receipt": {
            "customer": _customer(contact),
            "items": [
                {
                    "description": (item_description or description)[:128],
                    "quantity": "1.00",
                    "amount": money,
                    "vat_code": settings.yookassa_vat_code,
                    "payment_subject": settings.yookassa_payment_subject,
                    "payment_mode": settings.yookassa_payment_mode,
                }
            ],
        },
    }
    client = _client(settings)
    from genbot.payments.yookassa_sdk import HttpVerb, PaymentRequest

    body = PaymentRequest(params)
    answer: dict[str, Any] | None = None
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            answer = client.request(HttpVerb.POST, "/payments", None, {"Idempotence-Key": key}, body)
            break
        except YooKassaUnavailableError as exc:
            logger.warning(
                "YooKassa create failed", extra={"attempt": attempt, "error": str(exc), "key": key}
            )
            if attempt == CREATE_ATTEMPTS:
                raise
            time.sleep(RETRY_PAUSE_SECONDS * attempt)
    assert answer is not None
    provider_id = str(answer["id"])
    now = now_ms()
    payment = Payment(
        f"{PaymentMethod.YOOKASSA}#{provider_id}",
        user_id=int(user.user_id),
        method=str(PaymentMethod.YOOKASSA),
        product=product.product_id,
        amount=amount,
        currency=CURRENCY,
        credits=product.credits,
        status=PaymentStatus.PENDING,
        created_at=now,
        provider_payment_id=provider_id,
        confirmation_url=(answer.get("confirmation") or {}).get("confirmation_url"),
        expires_at=now + settings.payment_expire_minutes * 60_000,
        polls=0,
        pending_shard=shard_for(provider_id),
        next_poll_at=now + FIRST_POLL_MS,
    )
    # a retried create answers the same payment: never overwrite one that has moved on
    try:
        payment.save(condition=Payment.payment_id.does_not_exist())
    except PutError as exc:  # it is there already (the same payment, answered twice)
        if _code(exc) != "ConditionalCheckFailedException":
            raise
        payment = Payment.get(payment.payment_id, consistent_read=True)
    metrics.add_metric(name="YooKassaPaymentsCreated", unit="Count", value=1)
    logger.info("YooKassa payment created", extra={"payment_id": payment.payment_id, "key": key})
    return payment


def _code(exc: Exception) -> str:
    cause = getattr(exc, "cause_response_code", None)
    return str(cause or "")


def shard_for(provider_id: str) -> int:
    return sum(provider_id.encode()) % PENDING_SHARDS


def fetch(settings: Settings, provider_id: str) -> Fetched:
    """The payment as YooKassa has it now (never what a notification's body claimed)."""
    if not provider_id or "/" in provider_id:
        raise YooKassaRejectedError(f"not a payment id: {provider_id[:64]!r}", parameter="payment_id")
    from genbot.payments.yookassa_sdk import HttpVerb

    return _fetched(_client(settings).request(HttpVerb.GET, f"/payments/{provider_id}"))


def create_refund(
    settings: Settings, provider_payment_id: str, amount_kopecks: int, idempotence_key: str
) -> str:
    """Refund ``amount_kopecks`` of a succeeded payment; YooKassa's refund status (``succeeded``...).

    The same ``idempotence_key`` makes a retried refund one refund. The receipt (54-FZ) goes to
    the contact the payment's buyer gave, when we know it.
    """
    money = {"value": rubles(amount_kopecks), "currency": CURRENCY}
    params: dict[str, Any] = {"payment_id": provider_payment_id, "amount": money}
    contact = None
    stored: Payment | None = None
    try:
        stored = Payment.get(f"{PaymentMethod.YOOKASSA}#{provider_payment_id}")
        contact = User.get(int(stored.user_id)).receipt_email
    except DoesNotExist:
        pass
    if contact:
        params["receipt"] = {
            "customer": _customer(contact),
            "items": [
                {
                    "description": f"Refund {stored.product if stored else ''}".strip()[:128],
                    "quantity": "1.00",
                    "amount": money,
                    "vat_code": settings.yookassa_vat_code,
                    "payment_subject": settings.yookassa_payment_subject,
                    "payment_mode": settings.yookassa_payment_mode,
                }
            ],
        }
    from genbot.payments.yookassa_sdk import HttpVerb, RefundRequest

    answer = _client(settings).request(
        HttpVerb.POST, "/refunds", None, {"Idempotence-Key": idempotence_key}, RefundRequest(params)
    )
    return str(answer.get("status", ""))
