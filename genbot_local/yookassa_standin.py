"""A YooKassa API v3 stand-in: the official ``yookassa`` SDK (and plain HTTP) talks to it offline.

An aiohttp server on 127.0.0.1 (random port) in a background thread, like the AI stand-ins in
``ai_standins.py``. Point the SDK at it with
``Configuration.configure(shop_id, secret_key, api_url=standin.base_url)`` (``YOOKASSA_API_URL``):
the SDK requests ``{api_url}/payments``, ``{api_url}/payments/{id}``, ``/payments/{id}/capture``,
``/payments/{id}/cancel``, ``/refunds``, ``/refunds/{id}`` and ``/me``, which is why ``base_url``
ends in ``/v3`` like ``https://api.yookassa.ru/v3``.

What it checks, as YooKassa does: Basic auth ``shopId:secretKey`` (401 ``invalid_credentials``);
an ``Idempotence-Key`` on every POST (400 without it; the same key and the same request within
24 h answer the first answer again, the same key with another request is 400 "Idempotence key
duplicated"); amounts ("199.00", currency); the receipt 54-FZ needs (a customer email or phone,
items, each with description, quantity, amount, vat_code, payment_subject and payment_mode, and
the items' price x quantity summing to the payment amount), with 400 ``invalid_request`` errors
naming the ``parameter``. Error bodies have YooKassa's shape:
``{"type": "error", "id": ..., "code": ..., "description": ..., "parameter": ...}``.

A payment starts ``pending`` with a redirect ``confirmation_url`` on this stand-in
(``{root_url}/checkout/{id}``): a page with the amount and Pay / Cancel buttons, so a person can
finish a payment in the local stack; both buttons redirect to the payment's ``return_url``.
Tests walk payments directly: ``succeed(id)``, ``cancel(id, party=..., reason=...)``,
``authorize(id)`` (``waiting_for_capture``, for ``capture: false`` payments). Each status change
(and each refund) is POSTed to ``notify_url``, if set, as YooKassa's notification
``{"type": "notification", "event": "payment.succeeded", "object": {...}}``, in order, by one
background thread; ``notifications`` records the deliveries.

Scripting, per test: ``fail_next("POST /payments", 500)`` (``processed=True`` does the work and
then fails, like a lost answer), ``delay_next(seconds, "POST /payments")`` (longer than a
client's timeout: the request is still processed), ``requests`` records everything received.

    yk = YooKassaStandIn(shop_id="100500", secret_key="test_secret", notify_url=webhook).start()
    Configuration.configure("100500", "test_secret", api_url=yk.base_url)
    ...
    yk.stop()
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import fnmatch
import html
import json
import queue
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from aiohttp import web

from genbot.observability import logger

API_PREFIX = "/v3"
IDEMPOTENCE_TTL = 24 * 3600.0
CENT = Decimal("0.01")
MAX_METADATA_KEYS = 16
DEFAULT_FEE_PERCENT = Decimal("3.5")

# 54-FZ item attributes YooKassa accepts (FFD 1.05 / 1.2)
# fmt: off
PAYMENT_SUBJECTS = frozenset({
    "commodity", "excise", "job", "service", "gambling_bet", "gambling_prize", "lottery",
    "lottery_prize", "intellectual_activity", "payment", "agent_commission", "property_right",
    "non_operating_gain", "insurance_premium", "sales_tax", "resort_fee", "composite", "another",
    "fine", "tax", "lien", "cost", "pension_insurance_without_payouts",
    "pension_insurance_with_payouts", "health_insurance_without_payouts",
    "health_insurance_with_payouts", "health_insurance", "casino", "agent_withdrawals",
    "non_marked_excise", "marked_excise", "marked", "non_marked",
})
PAYMENT_MODES = frozenset({
    "full_prepayment", "partial_prepayment", "advance", "full_payment", "partial_payment", "credit",
    "credit_payment",
})
# fmt: on
VAT_CODES = range(1, 13)
TAX_SYSTEM_CODES = range(1, 7)
CONFIRMATION_TYPES = frozenset({"redirect", "embedded", "external", "mobile_application", "qr"})

_AMOUNT = re.compile(r"^\d{1,12}(\.\d{1,2})?$")
_QUANTITY = re.compile(r"^\d{1,9}(\.\d{1,6})?$")
_PHONE = re.compile(r"^\+?\d{10,15}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

ERROR_CODES = {
    400: ("invalid_request", "Invalid request"),
    401: (
        "invalid_credentials",
        "Error in shopId or secret key. Check their validity. "
        "You can reissue the key in the Merchant Profile",
    ),
    403: ("forbidden", "Not enough rights to perform the operation"),
    404: ("not_found", "Requested resource is not found"),
    405: ("invalid_request", "Incorrect HTTP method of the request"),
    429: ("too_many_requests", "The limit of requests per unit of time has been exceeded"),
    500: ("internal_server_error", "Internal server error"),
}


class ApiError(Exception):
    """An error answer in YooKassa's shape."""

    def __init__(self, status: int, description: str | None = None, parameter: str | None = None) -> None:
        code, default = ERROR_CODES.get(status, ERROR_CODES[500])
        super().__init__(description or default)
        self.status = status
        self.code = code
        self.description = description or default
        self.parameter = parameter

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.description, self.parameter)


def error_body(code: str, description: str, parameter: str | None = None) -> dict[str, Any]:
    """YooKassa's error body."""
    body: dict[str, Any] = {
        "type": "error",
        "id": str(uuid.uuid4()),
        "code": code,
        "description": description,
    }
    if parameter:
        body["parameter"] = parameter
    return body


def _invalid(parameter: str, description: str) -> ApiError:
    return ApiError(400, description, parameter)


def _iso(ts: float) -> str:
    """YooKassa's timestamps: UTC, milliseconds, ``Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def _object_id(kind: str) -> str:
    """An id shaped like YooKassa's (``2c7dd6f0-000f-5000-9000-1e6d5c8c3f1e``): a UUID string."""
    raw = uuid.uuid4().hex
    return f"{raw[:8]}-{kind}-5000-{secrets.choice('89ab')}000-{raw[20:]}"


def _money(value: Decimal, currency: str) -> dict[str, str]:
    return {"value": str(value.quantize(CENT)), "currency": currency}


def parse_amount(raw: Any, parameter: str) -> tuple[Decimal, str]:
    """``{"value": "199.00", "currency": "RUB"}`` -> (Decimal("199.00"), "RUB"), or a 400."""
    if not isinstance(raw, dict):
        raise _invalid(parameter, f"Missing or invalid {parameter}: an object with value and currency")
    value = raw.get("value")
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _AMOUNT.match(value):
        raise _invalid(f"{parameter}.value", f"Invalid {parameter}.value: a decimal string like 100.00")
    amount = Decimal(value).quantize(CENT)
    if amount <= 0:
        raise _invalid(f"{parameter}.value", f"{parameter}.value must be greater than 0")
    currency = raw.get("currency")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise _invalid(f"{parameter}.currency", f"Invalid {parameter}.currency: an ISO 4217 code like RUB")
    return amount, currency


def validate_receipt(receipt: Any, amount: Decimal, currency: str, parameter: str = "receipt") -> None:
    """The checks YooKassa makes on a 54-FZ receipt before it accepts a payment or refund."""
    if not isinstance(receipt, dict):
        raise _invalid(parameter, "Receipt is missing or illegal")
    customer = receipt.get("customer")
    if customer is not None and not isinstance(customer, dict):
        raise _invalid(f"{parameter}.customer", "Invalid receipt customer")
    customer = customer or {}
    email = customer.get("email") or receipt.get("email")  # receipt.email / phone: the old form
    phone = customer.get("phone") or receipt.get("phone")
    if not email and not phone:
        raise _invalid(
            f"{parameter}.customer",
            "Receipt customer contact is missing: specify customer.email or customer.phone",
        )
    if email and (not isinstance(email, str) or not _EMAIL.match(email)):
        raise _invalid(f"{parameter}.customer.email", "Invalid customer email")
    if phone and (not isinstance(phone, str) or not _PHONE.match(phone)):
        raise _invalid(f"{parameter}.customer.phone", "Invalid customer phone: ITU-T E.164, e.g. 79000000000")
    tax_system = receipt.get("tax_system_code")
    if tax_system is not None and (isinstance(tax_system, bool) or tax_system not in TAX_SYSTEM_CODES):
        raise _invalid(f"{parameter}.tax_system_code", "Invalid tax_system_code: 1-6")
    items = receipt.get("items")
    if not isinstance(items, list) or not items:
        raise _invalid(f"{parameter}.items", "Receipt items are missing: at least one item is required")
    if len(items) > 100:
        raise _invalid(f"{parameter}.items", "Too many receipt items: at most 100")
    total = Decimal(0)
    for i, item in enumerate(items):
        where = f"{parameter}.items[{i}]"
        if not isinstance(item, dict):
            raise _invalid(where, "Invalid receipt item")
        description = item.get("description")
        if not isinstance(description, str) or not description.strip() or len(description) > 128:
            raise _invalid(f"{where}.description", "Item description is required, at most 128 characters")
        quantity_raw = item.get("quantity")
        if isinstance(quantity_raw, int | float) and not isinstance(quantity_raw, bool):
            quantity_raw = str(quantity_raw)
        if not isinstance(quantity_raw, str) or not _QUANTITY.match(quantity_raw):
            raise _invalid(f"{where}.quantity", "Item quantity is required: a positive number")
        quantity = Decimal(quantity_raw)
        if quantity <= 0:
            raise _invalid(f"{where}.quantity", "Item quantity must be greater than 0")
        price, item_currency = parse_amount(item.get("amount"), f"{where}.amount")
        if item_currency != currency:
            raise _invalid(f"{where}.amount.currency", f"Item currency must be {currency}")
        vat = item.get("vat_code")
        if isinstance(vat, str) and vat.isdigit():
            vat = int(vat)
        if isinstance(vat, bool) or vat not in VAT_CODES:
            raise _invalid(f"{where}.vat_code", "Item vat_code is required: 1-12")
        if item.get("payment_subject") not in PAYMENT_SUBJECTS:
            raise _invalid(f"{where}.payment_subject", "Item payment_subject is missing or invalid")
        if item.get("payment_mode") not in PAYMENT_MODES:
            raise _invalid(f"{where}.payment_mode", "Item payment_mode is missing or invalid")
        total += (price * quantity).quantize(CENT, ROUND_HALF_UP)
    if total != amount:
        raise _invalid(
            f"{parameter}.items",
            f"Sum of receipt items (amount.value x quantity) {total} {currency} "
            f"is not equal to the amount {amount} {currency}",
        )


def _metadata(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _invalid("metadata", "Invalid metadata: an object of key-value pairs")
    if len(raw) > MAX_METADATA_KEYS:
        raise _invalid("metadata", f"Too many metadata keys: at most {MAX_METADATA_KEYS}")
    out: dict[str, str] = {}
    for key, value in raw.items():
        if len(key) > 32:
            raise _invalid("metadata", f"Metadata key {key!r} is longer than 32 characters")
        if isinstance(value, dict | list):
            raise _invalid("metadata", f"Metadata value of {key!r} must be a string")
        text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        if len(text) > 512:
            raise _invalid("metadata", f"Metadata value of {key!r} is longer than 512 characters")
        out[key] = text
    return out


# -- records and scripting ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """One request as the stand-in received it (``path`` is the full path, ``/v3/payments``)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    shop_id: str | None = None  # the Basic-auth user, whatever its password

    @property
    def api_path(self) -> str:
        """The path the SDK appends to ``api_url``: ``/payments`` for ``/v3/payments``."""
        return self.path[len(API_PREFIX) :] if self.path.startswith(API_PREFIX + "/") else self.path

    @property
    def idempotence_key(self) -> str | None:
        return self.headers.get("idempotence-key")

    def matches(self, method_path: str | None) -> bool:
        return _matches(method_path, self.method, self.api_path)


def _matches(method_path: str | None, method: str, path: str) -> bool:
    """``"POST /payments"``, ``"GET /payments/*"``, ``"/refunds"`` (any method) or None (anything)."""
    if method_path is None:
        return True
    if " " in method_path:
        want_method, pattern = method_path.split(" ", 1)
        if want_method.upper() != method:
            return False
    else:
        pattern = method_path
    if pattern.startswith(API_PREFIX + "/"):
        pattern = pattern[len(API_PREFIX) :]
    return fnmatch.fnmatchcase(path, pattern)


@dataclass
class Scripted:
    """A canned behaviour for the next matching request."""

    kind: str  # fail | delay
    method_path: str | None
    status: int = 500
    body: dict[str, Any] | None = None
    processed: bool = False  # fail: handle the request first, then answer the failure
    seconds: float = 0.0


@dataclass(frozen=True)
class Notification:
    """One notification POSTed to ``notify_url`` and how the delivery went."""

    event: str
    body: dict[str, Any]
    url: str
    status: int | None
    error: str | None = None


@dataclass
class _Payment:
    obj: dict[str, Any]
    amount: Decimal
    currency: str
    capture: bool
    return_url: str | None
    refunded: Decimal = Decimal(0)
    method_type: str = "bank_card"


@dataclass
class _Idempotent:
    fingerprint: str
    at: float
    status: int
    body: dict[str, Any]


# -- the stand-in ------------------------------------------------------------------------------------


class YooKassaStandIn:
    """YooKassa API v3: payments (create, get, list, capture, cancel), refunds, /me, a checkout page."""

    def __init__(
        self,
        shop_id: str = "100500",
        secret_key: str = "test_standin_secret_key",  # noqa: S107 (a fake key)
        *,
        notify_url: str | None = None,
        receipt_required: bool = False,
        fee_percent: Decimal | float | str = DEFAULT_FEE_PERCENT,
        test: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: str | None = None,
    ) -> None:
        """``receipt_required`` is a shop with 54-FZ fiscalization on (a payment without a receipt is
        refused); ``fee_percent`` makes ``income_amount``; ``public_url`` is how a browser reaches
        the stand-in (the confirmation URLs), when not ``root_url``."""
        self.shop_id = shop_id
        self.secret_key = secret_key
        self.notify_url = notify_url
        self.receipt_required = receipt_required
        self.fee_percent = Decimal(str(fee_percent))
        self.test = test
        self.idempotence_ttl = IDEMPOTENCE_TTL
        self.clock: Callable[[], float] = time.time  # tests may move time (idempotence keys expire)
        self.host = host
        self.port = port
        self.public_url = public_url
        self._lock = threading.RLock()
        self._requests: list[Recorded] = []
        self._script: list[Scripted] = []
        self._payments: dict[str, _Payment] = {}
        self._refunds: dict[str, dict[str, Any]] = {}
        self._idempotence: dict[str, _Idempotent] = {}
        self._notifications: list[Notification] = []
        self._delivered = threading.Condition(self._lock)
        self._outbox: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._notifier: threading.Thread | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> YooKassaStandIn:
        ready = threading.Event()
        errors: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._setup())
            except BaseException as exc:  # report to start() instead of dying silently
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, name="YooKassaStandIn", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        self._notifier = threading.Thread(target=self._deliver, name="YooKassaNotifier", daemon=True)
        self._notifier.start()
        return self

    async def _setup(self) -> None:
        app = web.Application(client_max_size=2**20)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    def stop(self) -> None:
        if self._notifier is not None:
            self._outbox.put(None)
            self._notifier.join(10)
            self._notifier = None
        if self._loop is None or self._runner is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = self._runner = self._thread = None

    def __enter__(self) -> YooKassaStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What ``YOOKASSA_API_URL`` (the SDK's ``api_url``) should be."""
        return f"{self.root_url}{API_PREFIX}"

    def checkout_url(self, payment_id: str) -> str:
        """The payment page a redirect confirmation sends the buyer to."""
        return f"{self.public_url or self.root_url}/checkout/{payment_id}"

    # -- scripting and records -------------------------------------------------------------------

    def fail_next(
        self,
        method_path: str | None = None,
        status: int = 500,
        times: int = 1,
        *,
        body: dict[str, Any] | None = None,
        processed: bool = False,
    ) -> None:
        """The next ``times`` requests matching ``method_path`` (``"POST /payments"``, a glob such as
        ``"GET /payments/*"``, a bare path for any method, None for any request) answer ``status``
        with YooKassa's error body for it (or ``body``). ``processed=True``: the request takes effect
        first (the payment is created, the idempotence key remembered) and only the answer is lost."""
        with self._lock:
            self._script.extend(Scripted("fail", method_path, status, body, processed) for _ in range(times))

    def delay_next(self, seconds: float, method_path: str | None = None, times: int = 1) -> None:
        """The next ``times`` matching requests wait ``seconds`` before being handled (and are
        handled even if the client has given up by then)."""
        with self._lock:
            self._script.extend(Scripted("delay", method_path, seconds=seconds) for _ in range(times))

    def _take(self, kind: str, method: str, path: str) -> Scripted | None:
        with self._lock:
            for i, scripted in enumerate(self._script):
                if scripted.kind == kind and _matches(scripted.method_path, method, path):
                    return self._script.pop(i)
        return None

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, method_path: str | None) -> list[Recorded]:
        """Recorded requests matching ``"POST /payments"`` (same patterns as ``fail_next``)."""
        return [r for r in self.requests if r.matches(method_path)]

    @property
    def notifications(self) -> list[Notification]:
        with self._lock:
            return list(self._notifications)

    def wait_notifications(self, count: int, timeout: float = 5.0) -> list[Notification]:
        """Block until ``count`` notifications have been delivered (or tried); return them all."""
        deadline = time.monotonic() + timeout
        with self._delivered:
            while len(self._notifications) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{len(self._notifications)} of {count} notifications after {timeout}s"
                    )
                self._delivered.wait(left)
            return list(self._notifications)

    def clear(self) -> None:
        """Forget requests, scripted behaviours, payments, refunds, idempotence keys, notifications."""
        with self._lock:
            self._requests.clear()
            self._script.clear()
            self._payments.clear()
            self._refunds.clear()
            self._idempotence.clear()
            self._notifications.clear()

    # -- state, for tests ------------------------------------------------------------------------

    def payment(self, payment_id: str) -> dict[str, Any]:
        """The payment object as ``GET /payments/{id}`` would answer it."""
        with self._lock:
            return copy.deepcopy(self._get_payment(payment_id).obj)

    @property
    def payments(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(p.obj) for p in self._payments.values()]

    def refund(self, refund_id: str) -> dict[str, Any]:
        with self._lock:
            if refund_id not in self._refunds:
                raise KeyError(refund_id)
            return copy.deepcopy(self._refunds[refund_id])

    @property
    def refunds(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(r) for r in self._refunds.values()]

    # -- walking a payment (what the buyer and YooKassa do) ---------------------------------------

    def succeed(self, payment_id: str) -> dict[str, Any]:
        """The buyer paid and the payment is captured: ``succeeded``, ``paid``, ``refundable``."""
        with self._lock:
            payment = self._get_payment(payment_id)
            self._require(payment, "pending", "waiting_for_capture")
            self._settle(payment, payment.amount)
            return copy.deepcopy(payment.obj)

    def authorize(self, payment_id: str) -> dict[str, Any]:
        """The buyer paid a ``capture: false`` payment: ``waiting_for_capture`` until captured."""
        with self._lock:
            payment = self._get_payment(payment_id)
            self._require(payment, "pending")
            self._authorize(payment)
            return copy.deepcopy(payment.obj)

    def cancel(
        self, payment_id: str, party: str = "yoo_money", reason: str = "expired_on_confirmation"
    ) -> dict[str, Any]:
        """The payment fails: ``canceled`` with ``cancellation_details {party, reason}``."""
        with self._lock:
            payment = self._get_payment(payment_id)
            self._require(payment, "pending", "waiting_for_capture")
            self._cancel(payment, party, reason)
            return copy.deepcopy(payment.obj)

    def _get_payment(self, payment_id: str) -> _Payment:
        payment = self._payments.get(payment_id)
        if payment is None:
            raise KeyError(f"no payment {payment_id}")
        return payment

    @staticmethod
    def _require(payment: _Payment, *statuses: str) -> None:
        if payment.obj["status"] not in statuses:
            raise ValueError(
                f"payment {payment.obj['id']} is {payment.obj['status']}, not {' or '.join(statuses)}"
            )

    # transitions: called with the lock held

    def _payment_method(self, payment: _Payment) -> dict[str, Any]:
        method: dict[str, Any] = {"type": payment.method_type, "id": payment.obj["id"], "saved": False}
        if payment.method_type == "bank_card":
            method["title"] = "Bank card *4477"
            method["card"] = {
                "first6": "555555",
                "last4": "4477",
                "expiry_year": "2030",
                "expiry_month": "12",
                "card_type": "MasterCard",
                "issuer_country": "RU",
            }
        return method

    def _paid(self, payment: _Payment) -> None:
        obj = payment.obj
        obj.pop("confirmation", None)
        obj["paid"] = True
        obj["payment_method"] = self._payment_method(payment)
        obj["authorization_details"] = {
            "rrn": f"{secrets.randbelow(10**12):012d}",
            "auth_code": f"{secrets.randbelow(10**6):06d}",
            "three_d_secure": {"applied": True},
        }

    def _authorize(self, payment: _Payment) -> None:
        self._paid(payment)
        payment.obj["status"] = "waiting_for_capture"
        payment.obj["expires_at"] = _iso(self.clock() + 7 * 24 * 3600)
        self._notify("payment.waiting_for_capture", payment.obj)

    def _settle(self, payment: _Payment, amount: Decimal) -> None:
        obj = payment.obj
        if obj["status"] == "pending":
            self._paid(payment)
        obj.pop("expires_at", None)
        payment.amount = amount
        fee = (amount * self.fee_percent / 100).quantize(CENT, ROUND_HALF_UP)
        obj["status"] = "succeeded"
        obj["amount"] = _money(amount, payment.currency)
        obj["income_amount"] = _money(amount - fee, payment.currency)
        obj["captured_at"] = _iso(self.clock())
        obj["refundable"] = True
        obj["refunded_amount"] = _money(Decimal(0), payment.currency)
        if "receipt_registration" in obj:
            obj["receipt_registration"] = "succeeded"
        self._notify("payment.succeeded", obj)

    def _cancel(self, payment: _Payment, party: str, reason: str) -> None:
        obj = payment.obj
        obj.pop("confirmation", None)
        obj.pop("expires_at", None)
        obj["status"] = "canceled"
        obj["paid"] = False
        obj["refundable"] = False
        obj["cancellation_details"] = {"party": party, "reason": reason}
        if "receipt_registration" in obj:
            obj["receipt_registration"] = "canceled"
        self._notify("payment.canceled", obj)

    # -- notifications ---------------------------------------------------------------------------

    def _notify(self, event: str, obj: dict[str, Any]) -> None:
        url = self.notify_url
        if url:
            body = {"type": "notification", "event": event, "object": copy.deepcopy(obj)}
            self._outbox.put((url, body))

    def _deliver(self) -> None:
        while True:
            item = self._outbox.get()
            if item is None:
                return
            url, body = item
            status: int | None = None
            error: str | None = None
            request = urllib.request.Request(  # noqa: S310 (a URL the test or stack configured)
                url,
                data=json.dumps(body, ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json", "User-Agent": "YooKassa stand-in"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except Exception as exc:  # best effort, like YooKassa's (which would retry for a day)
                error = repr(exc)
                logger.warning("YooKassa stand-in: notification to %s failed: %s", url, error)
            with self._delivered:
                self._notifications.append(Notification(body["event"], body, url, status, error))
                self._delivered.notify_all()

    # -- HTTP --------------------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._handle(request)
        except Exception as exc:  # a bug here should be a visible 500, not a hung test
            logger.exception("YooKassa stand-in failed")
            return web.json_response(error_body("internal_server_error", repr(exc)), status=500)

    async def _record(self, request: web.Request) -> Recorded:
        raw = await request.read() if request.can_read_body else b""
        body: Any = None
        form: dict[str, str] = {}
        if request.content_type == "application/x-www-form-urlencoded":
            form = {k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode(errors="replace")).items()}
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        record = Recorded(
            request.method,
            request.path,
            dict(request.query),
            {k.lower(): v for k, v in request.headers.items()},
            body,
            form,
            self._basic_user(request.headers.get("Authorization", ""))[0],
        )
        with self._lock:
            self._requests.append(record)
        return record

    @staticmethod
    def _basic_user(header: str) -> tuple[str | None, str | None]:
        if not header.startswith("Basic "):
            return None, None
        try:
            decoded = base64.b64decode(header[len("Basic ") :].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        user, sep, password = decoded.partition(":")
        return (user, password) if sep else (None, None)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        record = await self._record(request)
        method, path = record.method, record.api_path
        delay = self._take("delay", method, path)
        if delay is not None:
            await asyncio.sleep(delay.seconds)
        if request.path.startswith("/checkout/"):
            return self._checkout(record)
        failure = self._take("fail", method, path)
        if failure is not None and not failure.processed:
            return self._failure(failure)
        try:
            if not request.path.startswith(API_PREFIX + "/"):
                raise ApiError(404, f"Unknown path {request.path}")
            user, password = self._basic_user(request.headers.get("Authorization", ""))
            if (
                user != self.shop_id
                or password is None
                or not secrets.compare_digest(password.encode(), self.secret_key.encode())
            ):
                raise ApiError(401, parameter="Authorization")
            status, payload = self._api(record)
        except ApiError as exc:
            status, payload = exc.status, exc.body()
        if failure is not None:
            return self._failure(failure)
        return web.json_response(payload, status=status)

    @staticmethod
    def _failure(scripted: Scripted) -> web.Response:
        body = scripted.body or ApiError(scripted.status).body()
        return web.json_response(body, status=scripted.status)

    def _api(self, record: Recorded) -> tuple[int, dict[str, Any]]:
        method, path = record.method, record.api_path
        parts = path.strip("/").split("/")
        if method == "GET":
            if parts == ["me"]:
                return 200, self._me()
            if parts == ["payments"]:
                return 200, self._list(self.payments, record.query)
            if len(parts) == 2 and parts[0] == "payments":
                with self._lock:
                    payment = self._payments.get(parts[1])
                    if payment is None:
                        raise ApiError(
                            404,
                            "Incorrect payment_id. Payment doesn't exist or access denied.",
                            "payment_id",
                        )
                    return 200, copy.deepcopy(payment.obj)
            if parts == ["refunds"]:
                refunds = self.refunds
                if "payment_id" in record.query:
                    refunds = [r for r in refunds if r["payment_id"] == record.query["payment_id"]]
                return 200, self._list(refunds, record.query)
            if len(parts) == 2 and parts[0] == "refunds":
                with self._lock:
                    if parts[1] not in self._refunds:
                        raise ApiError(
                            404, "Incorrect refund_id. Refund doesn't exist or access denied.", "refund_id"
                        )
                    return 200, copy.deepcopy(self._refunds[parts[1]])
        if method == "POST":
            handler: Callable[[dict[str, Any]], dict[str, Any]] | None = None
            if parts == ["payments"]:
                handler = self._create_payment
            elif parts == ["refunds"]:
                handler = self._create_refund
            elif len(parts) == 3 and parts[0] == "payments" and parts[2] in ("capture", "cancel"):
                payment_id, action = parts[1], parts[2]

                def handler(body: dict[str, Any]) -> dict[str, Any]:
                    return self._capture_or_cancel(payment_id, action, body)

            if handler is not None:
                return self._idempotent(record, handler)
        known = parts[0] in ("payments", "refunds", "me")
        if known:
            raise ApiError(405, f"{method} is not supported on {path}")
        raise ApiError(404, f"Unknown path {record.path}")

    def _idempotent(
        self, record: Recorded, handler: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> tuple[int, dict[str, Any]]:
        key = record.idempotence_key
        if not key:
            raise _invalid("Idempotence-Key", "Idempotence key header is missing")
        if len(key) > 64:
            raise _invalid("Idempotence-Key", "Idempotence key is too long: at most 64 characters")
        body = record.json if record.json is not None else {}
        if not isinstance(body, dict):
            raise ApiError(400, "Request body must be a JSON object")
        fingerprint = f"{record.method} {record.api_path} {json.dumps(body, sort_keys=True)}"
        with self._lock:
            now = self.clock()
            seen = self._idempotence.get(key)
            if seen is not None and now - seen.at < self.idempotence_ttl:
                if seen.fingerprint != fingerprint:
                    raise _invalid("Idempotence-Key", "Idempotence key duplicated")
                return seen.status, copy.deepcopy(seen.body)
            answer = handler(body)  # an ApiError is not remembered: fix the request, keep the key
            self._idempotence[key] = _Idempotent(fingerprint, now, 200, copy.deepcopy(answer))
            return 200, answer

    def _me(self) -> dict[str, Any]:
        return {
            "account_id": self.shop_id,
            "test": self.test,
            "fiscalization_enabled": self.receipt_required,
            "payment_methods": ["bank_card", "yoo_money", "sbp"],
            "status": "enabled",
        }

    @staticmethod
    def _list(items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
        status = query.get("status")
        if status:
            items = [i for i in items if i.get("status") == status]
        try:
            limit = int(query.get("limit", "10"))
        except ValueError:
            raise _invalid("limit", "Invalid limit: 1-100") from None
        if not 1 <= limit <= 100:
            raise _invalid("limit", "Invalid limit: 1-100")
        items = sorted(items, key=lambda i: i["created_at"], reverse=True)
        return {"type": "list", "items": items[:limit]}

    # -- POST handlers (the lock is held) ------------------------------------------------------------

    def _create_payment(self, body: dict[str, Any]) -> dict[str, Any]:
        amount, currency = parse_amount(body.get("amount"), "amount")
        capture = body.get("capture", False)
        if not isinstance(capture, bool):
            raise _invalid("capture", "Invalid capture: true or false")
        description = body.get("description")
        if description is not None and (not isinstance(description, str) or len(description) > 128):
            raise _invalid("description", "Invalid description: at most 128 characters")
        metadata = _metadata(body.get("metadata"))
        receipt = body.get("receipt")
        if receipt is not None:
            validate_receipt(receipt, amount, currency)
        elif self.receipt_required:
            raise _invalid("receipt", "Receipt is missing or illegal")
        method_type = "bank_card"
        method_data = body.get("payment_method_data")
        if method_data is not None:
            if not isinstance(method_data, dict) or not isinstance(method_data.get("type"), str):
                raise _invalid("payment_method_data.type", "Invalid payment_method_data.type")
            method_type = method_data["type"]

        payment_id = _object_id("000f")
        confirmation, return_url = self._confirmation(body.get("confirmation"), payment_id)
        obj: dict[str, Any] = {
            "id": payment_id,
            "status": "pending",
            "amount": _money(amount, currency),
            "description": description,
            "recipient": {"account_id": self.shop_id, "gateway_id": f"{self.shop_id}01"},
            "created_at": _iso(self.clock()),
            "confirmation": confirmation,
            "test": self.test,
            "paid": False,
            "refundable": False,
            "metadata": metadata,
        }
        if description is None:
            del obj["description"]
        if confirmation is None:
            del obj["confirmation"]
        if method_data is not None:
            obj["payment_method"] = {"type": method_type, "id": payment_id, "saved": False}
        if receipt is not None:
            obj["receipt_registration"] = "pending"
        self._payments[payment_id] = _Payment(
            obj, amount, currency, capture, return_url, method_type=method_type
        )
        return copy.deepcopy(obj)

    def _confirmation(self, raw: Any, payment_id: str) -> tuple[dict[str, Any] | None, str | None]:
        if raw is None:
            return None, None
        if not isinstance(raw, dict) or raw.get("type") not in CONFIRMATION_TYPES:
            raise _invalid(
                "confirmation.type", f"Invalid confirmation.type: one of {sorted(CONFIRMATION_TYPES)}"
            )
        kind = raw["type"]
        return_url = raw.get("return_url")
        if return_url is not None and (
            not isinstance(return_url, str) or not return_url.startswith(("http://", "https://"))
        ):
            raise _invalid("confirmation.return_url", "Invalid confirmation.return_url: an http(s) URL")
        if kind == "redirect":
            if not return_url:
                raise _invalid("confirmation.return_url", "confirmation.return_url is required for redirect")
            return {"type": kind, "confirmation_url": self.checkout_url(payment_id)}, return_url
        if kind == "mobile_application":
            return {"type": kind, "confirmation_url": self.checkout_url(payment_id)}, return_url
        if kind == "embedded":
            token = f"ct-{payment_id}"
            return {"type": kind, "confirmation_token": token}, return_url
        if kind == "qr":
            return {"type": kind, "confirmation_data": self.checkout_url(payment_id)}, return_url
        return {"type": kind}, return_url

    def _capture_or_cancel(self, payment_id: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        payment = self._payments.get(payment_id)
        if payment is None:
            raise ApiError(404, "Incorrect payment_id. Payment doesn't exist or access denied.", "payment_id")
        status = payment.obj["status"]
        if status != "waiting_for_capture":
            raise _invalid(
                "payment_id",
                f"Payment {payment_id} is {status}: only waiting_for_capture payments can be {action}ed",
            )
        if action == "cancel":
            self._cancel(payment, "merchant", "canceled_by_merchant")
            return copy.deepcopy(payment.obj)
        amount = payment.amount
        if "amount" in body:
            amount, currency = parse_amount(body["amount"], "amount")
            if currency != payment.currency:
                raise _invalid("amount.currency", f"Currency must be {payment.currency}")
            if amount > payment.amount:
                raise _invalid("amount.value", "Capture amount exceeds the authorized amount")
        if "receipt" in body:
            validate_receipt(body["receipt"], amount, payment.currency)
        self._settle(payment, amount)
        return copy.deepcopy(payment.obj)

    def _create_refund(self, body: dict[str, Any]) -> dict[str, Any]:
        payment_id = body.get("payment_id")
        if not isinstance(payment_id, str) or not payment_id:
            raise _invalid("payment_id", "payment_id is required")
        amount, currency = parse_amount(body.get("amount"), "amount")
        payment = self._payments.get(payment_id)
        if payment is None:
            raise ApiError(404, "Incorrect payment_id. Payment doesn't exist or access denied.", "payment_id")
        if payment.obj["status"] != "succeeded":
            raise _invalid(
                "payment_id",
                f"Payment {payment_id} is {payment.obj['status']}: only succeeded payments can be refunded",
            )
        if currency != payment.currency:
            raise _invalid("amount.currency", f"Refund currency must be {payment.currency}")
        left = payment.amount - payment.refunded
        if amount > left:
            raise _invalid(
                "amount.value", f"Refund amount {amount} exceeds what is left to refund: {left} {currency}"
            )
        description = body.get("description")
        if description is not None and (not isinstance(description, str) or len(description) > 250):
            raise _invalid("description", "Invalid description: at most 250 characters")
        if body.get("receipt") is not None:
            validate_receipt(body["receipt"], amount, currency)
        elif self.receipt_required:
            raise _invalid("receipt", "Receipt is missing or illegal")
        metadata = _metadata(body.get("metadata"))

        payment.refunded += amount
        payment.obj["refunded_amount"] = _money(payment.refunded, currency)
        payment.obj["refundable"] = payment.refunded < payment.amount
        refund: dict[str, Any] = {
            "id": _object_id("0015"),
            "payment_id": payment_id,
            "status": "succeeded",
            "amount": _money(amount, currency),
            "created_at": _iso(self.clock()),
        }
        if description is not None:
            refund["description"] = description
        if metadata:
            refund["metadata"] = metadata
        if body.get("receipt") is not None:
            refund["receipt_registration"] = "succeeded"
        self._refunds[refund["id"]] = refund
        self._notify("refund.succeeded", refund)
        return copy.deepcopy(refund)

    # -- the checkout page (the buyer's browser; no auth) ---------------------------------------------

    def _checkout(self, record: Recorded) -> web.Response:
        parts = record.path.strip("/").split("/")  # checkout/{id}[/pay|/cancel]
        with self._lock:
            payment = self._payments.get(parts[1]) if len(parts) >= 2 else None
            if payment is None:
                return web.Response(
                    text=_page("Payment not found", "<p>No such payment.</p>"),
                    status=404,
                    content_type="text/html",
                )
            if record.method == "POST" and len(parts) == 3 and parts[2] in ("pay", "cancel"):
                if payment.obj["status"] == "pending":
                    if parts[2] == "pay":
                        if payment.capture:
                            self._settle(payment, payment.amount)
                        else:
                            self._authorize(payment)
                    else:
                        self._cancel(
                            payment,
                            record.form.get("party") or "yoo_money",
                            record.form.get("reason") or "expired_on_confirmation",
                        )
                target = payment.return_url or self.checkout_url(payment.obj["id"])
                return web.Response(status=303, headers={"Location": target})
            if record.method != "GET" or len(parts) != 2:
                return web.Response(
                    text=_page("Not allowed", "<p>Use the buttons.</p>"), status=405, content_type="text/html"
                )
            return web.Response(text=self._checkout_html(payment), content_type="text/html")

    def _checkout_html(self, payment: _Payment) -> str:
        obj = payment.obj
        payment_id = html.escape(obj["id"])
        amount = html.escape(f"{obj['amount']['value']} {obj['amount']['currency']}")
        description = html.escape(obj.get("description") or "")
        status = obj["status"]
        if status == "pending":
            action = (
                f'<form method="post" action="/checkout/{payment_id}/pay">'
                f'<button id="pay" type="submit">Pay {amount}</button></form>'
                f'<form method="post" action="/checkout/{payment_id}/cancel">'
                '<button id="cancel" type="submit" class="secondary">Cancel</button></form>'
            )
        else:
            back = html.escape(payment.return_url or "", quote=True)
            link = f'<p><a id="back" href="{back}">Back to the store</a></p>' if back else ""
            action = f'<p id="status">Payment {html.escape(status)}.</p>{link}'
        body = (
            f'<p class="shop">Shop {html.escape(self.shop_id)} · test payment</p>'
            f'<p class="amount" id="amount">{amount}</p>'
            f'<p class="description" id="description">{description}</p>'
            f'<div class="actions">{action}</div>'
            f'<p class="id">Payment {payment_id}</p>'
        )
        return _page(f"Payment {amount}", body)


_STYLE = """
body{font-family:system-ui,sans-serif;background:#f4f4f8;margin:0;display:flex;justify-content:center}
main{background:#fff;margin:48px 16px;padding:32px;border-radius:16px;max-width:420px;width:100%;
box-shadow:0 2px 12px #0001}
h1{font-size:18px;margin:0 0 16px}.amount{font-size:32px;font-weight:600;margin:8px 0}
.shop,.id{color:#777;font-size:13px}.actions{display:flex;gap:12px;margin:24px 0}
button{font-size:16px;padding:12px 20px;border-radius:10px;border:0;background:#7b61ff;color:#fff;
cursor:pointer}
button.secondary{background:#e6e6ee;color:#222}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} · YooKassa stand-in</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>YooKassa stand-in</h1>{body}</main></body></html>"
    )
