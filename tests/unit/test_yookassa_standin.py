"""The YooKassa stand-in over plain HTTP and through the official ``yookassa`` SDK.

The SDK tests skip when ``yookassa`` isn't installed (it isn't in the lock yet). Each test gets
its own stand-in (a thread and a port); notifications go to a small receiver started here.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from genbot_local.yookassa_standin import YooKassaStandIn

SHOP = "100500"
SECRET = "test_secret_key"
RETURN_URL = "https://t.me/genbot_local_bot"


@pytest.fixture
def yk() -> Iterator[YooKassaStandIn]:
    server = YooKassaStandIn(shop_id=SHOP, secret_key=SECRET).start()
    yield server
    server.stop()


class Receiver:
    """The shop's notification endpoint: records the JSON bodies POSTed to it."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/yookassa"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def auth(shop: str = SHOP, secret: str = SECRET) -> str:
    return "Basic " + base64.b64encode(f"{shop}:{secret}".encode()).decode()


def call(
    server: YooKassaStandIn,
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = "auto",
    authorization: str | None = "default",
    timeout: float = 10,
) -> tuple[int, dict[str, Any]]:
    """One API request as a non-SDK client would make it; ``key="auto"``: a fresh Idempotence-Key on POST."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{server.base_url}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if authorization == "default":
        authorization = auth()
    if authorization:
        request.add_header("Authorization", authorization)
    if key == "auto":
        key = str(uuid.uuid4()) if method == "POST" else None
    if key:
        request.add_header("Idempotence-Key", key)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def receipt(total: str = "199.00", **changes: Any) -> dict[str, Any]:
    item = {
        "description": "100 credits",
        "quantity": "1.00",
        "amount": {"value": total, "currency": "RUB"},
        "vat_code": 1,
        "payment_subject": "service",
        "payment_mode": "full_payment",
    }
    out: dict[str, Any] = {"customer": {"email": "buyer@example.com"}, "items": [item]}
    out.update(changes)
    return out


def payment_body(value: str = "199.00", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": {"value": value, "currency": "RUB"},
        "capture": True,
        "confirmation": {"type": "redirect", "return_url": RETURN_URL},
        "description": "genbot: 100 credits",
        "metadata": {"user_id": "5550001", "pack": "p100"},
        "receipt": receipt(value),
    }
    body.update(changes)
    return body


def create(server: YooKassaStandIn, **changes: Any) -> dict[str, Any]:
    status, payment = call(server, "POST", "/payments", payment_body(**changes))
    assert status == 200, payment
    return payment


def assert_error(answer: tuple[int, dict[str, Any]], status: int, code: str, parameter: str | None) -> None:
    got_status, body = answer
    assert got_status == status, body
    assert body["type"] == "error"
    assert body["code"] == code
    uuid.UUID(body["id"])
    assert body["description"]
    assert body.get("parameter") == parameter


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def browser(url: str, form: dict[str, str] | None = None) -> tuple[int, str, str | None]:
    """A browser's GET, or a form POST (not following the redirect): status, page, Location."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if form is not None else "GET")
    if form is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read().decode(), response.headers.get("Location")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), exc.headers.get("Location")


# -- auth ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, auth(secret="wrong"), auth(shop="999999"), "Bearer some-oauth-token", "Basic !!!"],
)
def test_wrong_or_missing_credentials_get_401_invalid_credentials(
    yk: YooKassaStandIn, authorization: str | None
) -> None:
    answer = call(yk, "POST", "/payments", payment_body(), authorization=authorization)
    assert_error(answer, 401, "invalid_credentials", "Authorization")
    assert call(yk, "GET", "/payments/x", authorization=authorization)[0] == 401
    assert yk.payments == []


def test_right_credentials_reach_the_api(yk: YooKassaStandIn) -> None:
    status, me = call(yk, "GET", "/me")
    assert status == 200
    assert me["account_id"] == SHOP and me["test"] is True
    assert yk.requests[-1].shop_id == SHOP


# -- creating payments -------------------------------------------------------------------------------


def test_create_answers_a_pending_payment_with_a_checkout_confirmation(yk: YooKassaStandIn) -> None:
    payment = create(yk)
    uuid.UUID(payment["id"])
    assert payment["status"] == "pending"
    assert payment["paid"] is False and payment["refundable"] is False and payment["test"] is True
    assert payment["amount"] == {"value": "199.00", "currency": "RUB"}
    assert payment["description"] == "genbot: 100 credits"
    assert payment["metadata"] == {"user_id": "5550001", "pack": "p100"}
    assert payment["recipient"]["account_id"] == SHOP
    assert payment["created_at"].endswith("Z")
    datetime.fromisoformat(payment["created_at"].replace("Z", "+00:00"))
    assert payment["confirmation"] == {
        "type": "redirect",
        "confirmation_url": f"{yk.root_url}/checkout/{payment['id']}",
    }
    assert call(yk, "GET", f"/payments/{payment['id']}") == (200, payment)


def test_amounts_are_normalised_and_checked(yk: YooKassaStandIn) -> None:
    assert create(yk, receipt=receipt("199.00"), amount={"value": "199", "currency": "RUB"})["amount"] == {
        "value": "199.00",
        "currency": "RUB",
    }
    for bad, parameter in [
        ({"value": "199.001", "currency": "RUB"}, "amount.value"),
        ({"value": "-1.00", "currency": "RUB"}, "amount.value"),
        ({"value": "0.00", "currency": "RUB"}, "amount.value"),
        ({"value": "199.00", "currency": "rub"}, "amount.currency"),
        ({"value": "199.00"}, "amount.currency"),
        (None, "amount"),
    ]:
        body = payment_body()
        body["amount"] = bad
        assert_error(call(yk, "POST", "/payments", body), 400, "invalid_request", parameter)
    body = payment_body()
    body["confirmation"] = {"type": "redirect"}
    assert_error(call(yk, "POST", "/payments", body), 400, "invalid_request", "confirmation.return_url")
    assert_error(
        call(yk, "POST", "/payments", payment_body(metadata={"k": {"nested": 1}})),
        400,
        "invalid_request",
        "metadata",
    )
    assert len(yk.payments) == 1


def test_unknown_payment_is_404_not_found(yk: YooKassaStandIn) -> None:
    assert_error(call(yk, "GET", f"/payments/{uuid.uuid4()}"), 404, "not_found", "payment_id")
    assert_error(call(yk, "GET", f"/refunds/{uuid.uuid4()}"), 404, "not_found", "refund_id")


# -- idempotence -------------------------------------------------------------------------------------


def test_post_without_idempotence_key_is_400(yk: YooKassaStandIn) -> None:
    answer = call(yk, "POST", "/payments", payment_body(), key=None)
    assert_error(answer, 400, "invalid_request", "Idempotence-Key")
    assert_error(
        call(yk, "POST", "/payments", payment_body(), key="k" * 65), 400, "invalid_request", "Idempotence-Key"
    )
    assert yk.payments == []


def test_same_key_and_body_twice_makes_one_payment(yk: YooKassaStandIn) -> None:
    key = str(uuid.uuid4())
    first = call(yk, "POST", "/payments", payment_body(), key=key)
    second = call(yk, "POST", "/payments", payment_body(), key=key)
    assert first[0] == second[0] == 200
    assert first == second
    assert len(yk.payments) == 1
    third = call(yk, "POST", "/payments", payment_body(), key=str(uuid.uuid4()))
    assert third[1]["id"] != first[1]["id"]
    assert len(yk.payments) == 2


def test_same_key_with_another_request_is_idempotence_key_duplicated(yk: YooKassaStandIn) -> None:
    key = str(uuid.uuid4())
    assert call(yk, "POST", "/payments", payment_body(), key=key)[0] == 200
    other = call(yk, "POST", "/payments", payment_body("299.00"), key=key)
    assert_error(other, 400, "invalid_request", "Idempotence-Key")
    assert other[1]["description"] == "Idempotence key duplicated"
    payment_id = yk.payments[0]["id"]
    yk.succeed(payment_id)
    refund = {"payment_id": payment_id, "amount": {"value": "1.00", "currency": "RUB"}}
    assert_error(call(yk, "POST", "/refunds", refund, key=key), 400, "invalid_request", "Idempotence-Key")
    assert len(yk.payments) == 1 and yk.refunds == []


def test_idempotence_keys_expire_after_24_hours(yk: YooKassaStandIn) -> None:
    key = str(uuid.uuid4())
    first = call(yk, "POST", "/payments", payment_body(), key=key)[1]
    now = yk.clock()
    yk.clock = lambda: now + 24 * 3600 + 1
    again = call(yk, "POST", "/payments", payment_body(), key=key)[1]
    assert again["id"] != first["id"]


def test_a_refused_request_does_not_use_up_its_key(yk: YooKassaStandIn) -> None:
    key = str(uuid.uuid4())
    assert call(yk, "POST", "/payments", payment_body(receipt=receipt("100.00")), key=key)[0] == 400
    status, payment = call(yk, "POST", "/payments", payment_body(), key=key)
    assert status == 200 and payment["status"] == "pending"


# -- receipts (54-FZ) --------------------------------------------------------------------------------


def _item(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = dict(receipt()["items"][0])
    item.update(changes)
    return {k: v for k, v in item.items() if v is not None}


@pytest.mark.parametrize(
    ("the_receipt", "parameter"),
    [
        (receipt(customer={}), "receipt.customer"),
        (receipt(customer={"full_name": "Ivan"}), "receipt.customer"),
        (receipt(customer={"email": "not-an-email"}), "receipt.customer.email"),
        (receipt(customer={"phone": "12"}), "receipt.customer.phone"),
        (receipt(items=[]), "receipt.items"),
        (receipt(items=None), "receipt.items"),
        (receipt("150.00"), "receipt.items"),
        (receipt(items=[_item(amount={"value": "99.50", "currency": "RUB"}, quantity="3")]), "receipt.items"),
        (receipt(items=[_item(vat_code=None)]), "receipt.items[0].vat_code"),
        (receipt(items=[_item(vat_code=13)]), "receipt.items[0].vat_code"),
        (receipt(items=[_item(payment_subject=None)]), "receipt.items[0].payment_subject"),
        (receipt(items=[_item(payment_mode="whatever")]), "receipt.items[0].payment_mode"),
        (receipt(items=[_item(description="")]), "receipt.items[0].description"),
        (receipt(items=[_item(quantity="0")]), "receipt.items[0].quantity"),
        (
            receipt(items=[_item(amount={"value": "199.00", "currency": "USD"})]),
            "receipt.items[0].amount.currency",
        ),
        ("a receipt", "receipt"),
    ],
)
def test_receipts_are_checked_as_54_fz_needs(yk: YooKassaStandIn, the_receipt: Any, parameter: str) -> None:
    answer = call(yk, "POST", "/payments", payment_body(receipt=the_receipt))
    assert_error(answer, 400, "invalid_request", parameter)
    assert yk.payments == []


def test_good_receipts_pass(yk: YooKassaStandIn) -> None:
    two_items = receipt(
        customer={"phone": "79001234567"},
        items=[
            _item(amount={"value": "99.50", "currency": "RUB"}, quantity=2),
            _item(description="bonus", amount={"value": "0.01", "currency": "RUB"}, quantity="1"),
        ],
    )
    assert create(yk, amount={"value": "199.01", "currency": "RUB"}, receipt=two_items)["status"] == "pending"
    assert create(yk, receipt={"email": "legacy@example.com", "items": receipt()["items"]})


def test_a_fiscalised_shop_refuses_payments_without_receipt() -> None:
    with YooKassaStandIn(shop_id=SHOP, secret_key=SECRET, receipt_required=True) as server:
        body = payment_body()
        del body["receipt"]
        assert_error(call(server, "POST", "/payments", body), 400, "invalid_request", "receipt")
        assert call(server, "POST", "/payments", payment_body())[0] == 200


# -- walking payments --------------------------------------------------------------------------------


def test_succeed_settles_the_payment(yk: YooKassaStandIn) -> None:
    payment = create(yk)
    yk.succeed(payment["id"])
    status, paid = call(yk, "GET", f"/payments/{payment['id']}")
    assert status == 200
    assert paid["status"] == "succeeded" and paid["paid"] is True and paid["refundable"] is True
    assert paid["captured_at"].endswith("Z")
    assert paid["income_amount"] == {"value": "192.03", "currency": "RUB"}  # 3.5% fee
    assert paid["payment_method"]["type"] == "bank_card"
    assert paid["metadata"] == payment["metadata"]
    assert "confirmation" not in paid and "cancellation_details" not in paid
    with pytest.raises(ValueError, match="succeeded"):
        yk.cancel(payment["id"])


def test_cancel_records_who_and_why(yk: YooKassaStandIn) -> None:
    payment = create(yk)
    yk.cancel(payment["id"])
    canceled = call(yk, "GET", f"/payments/{payment['id']}")[1]
    assert canceled["status"] == "canceled" and canceled["paid"] is False
    assert canceled["cancellation_details"] == {"party": "yoo_money", "reason": "expired_on_confirmation"}
    other = create(yk)
    assert yk.cancel(other["id"], party="payment_network", reason="insufficient_funds")[
        "cancellation_details"
    ] == {"party": "payment_network", "reason": "insufficient_funds"}
    with pytest.raises(ValueError, match="canceled"):
        yk.succeed(payment["id"])
    with pytest.raises(KeyError):
        yk.succeed("no-such-payment")


def test_two_stage_payment_capture_and_cancel(yk: YooKassaStandIn) -> None:
    payment = create(yk, capture=False)
    assert_error(
        call(yk, "POST", f"/payments/{payment['id']}/capture", {}), 400, "invalid_request", "payment_id"
    )
    assert yk.authorize(payment["id"])["status"] == "waiting_for_capture"
    status, captured = call(yk, "POST", f"/payments/{payment['id']}/capture", {})
    assert status == 200 and captured["status"] == "succeeded" and captured["paid"] is True
    other = create(yk, capture=False)
    yk.authorize(other["id"])
    status, canceled = call(yk, "POST", f"/payments/{other['id']}/cancel", None)
    assert status == 200 and canceled["status"] == "canceled"
    assert canceled["cancellation_details"] == {"party": "merchant", "reason": "canceled_by_merchant"}


# -- notifications -----------------------------------------------------------------------------------


def test_status_changes_are_notified_in_order(yk: YooKassaStandIn, receiver: Receiver) -> None:
    yk.notify_url = receiver.url
    paid = create(yk)
    lost = create(yk)
    yk.succeed(paid["id"])
    yk.cancel(lost["id"])
    refund = {"payment_id": paid["id"], "amount": {"value": "50.00", "currency": "RUB"}}
    assert call(yk, "POST", "/refunds", refund)[0] == 200
    delivered = yk.wait_notifications(3)
    assert [n.event for n in delivered] == ["payment.succeeded", "payment.canceled", "refund.succeeded"]
    assert all(n.status == 200 and n.url == receiver.url for n in delivered)
    assert receiver.bodies == [n.body for n in delivered]
    first = receiver.bodies[0]
    assert first["type"] == "notification" and first["event"] == "payment.succeeded"
    assert first["object"]["id"] == paid["id"] and first["object"]["status"] == "succeeded"
    assert first["object"]["metadata"] == paid["metadata"]
    assert receiver.bodies[1]["object"]["cancellation_details"]["reason"] == "expired_on_confirmation"
    assert receiver.bodies[2]["object"]["payment_id"] == paid["id"]


def test_no_notify_url_no_notifications_and_unreachable_is_best_effort(yk: YooKassaStandIn) -> None:
    yk.succeed(create(yk)["id"])
    assert yk.notifications == []
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yk.notify_url = f"http://127.0.0.1:{port}/nobody"
    yk.succeed(create(yk)["id"])
    (failed,) = yk.wait_notifications(1)
    assert failed.status is None and failed.error
    assert call(yk, "GET", "/me")[0] == 200


# -- refunds -----------------------------------------------------------------------------------------


def test_refunds(yk: YooKassaStandIn) -> None:
    payment = create(yk)
    refund = {
        "payment_id": payment["id"],
        "amount": {"value": "99.00", "currency": "RUB"},
        "description": "sorry",
    }
    assert_error(call(yk, "POST", "/refunds", refund), 400, "invalid_request", "payment_id")  # still pending
    yk.succeed(payment["id"])
    key = str(uuid.uuid4())
    status, first = call(yk, "POST", "/refunds", refund, key=key)
    assert status == 200
    uuid.UUID(first["id"])
    assert first["payment_id"] == payment["id"] and first["status"] == "succeeded"
    assert first["amount"] == {"value": "99.00", "currency": "RUB"} and first["description"] == "sorry"
    assert first["created_at"].endswith("Z")
    assert call(yk, "POST", "/refunds", refund, key=key) == (200, first)  # idempotent
    assert call(yk, "GET", f"/refunds/{first['id']}") == (200, first)
    too_much = dict(refund, amount={"value": "100.01", "currency": "RUB"})
    assert_error(call(yk, "POST", "/refunds", too_much), 400, "invalid_request", "amount.value")
    rest = dict(refund, amount={"value": "100.00", "currency": "RUB"})
    assert call(yk, "POST", "/refunds", rest)[0] == 200
    after = call(yk, "GET", f"/payments/{payment['id']}")[1]
    assert after["refunded_amount"] == {"value": "199.00", "currency": "RUB"}
    assert after["refundable"] is False
    one_more = dict(refund, amount={"value": "0.01", "currency": "RUB"})
    assert_error(call(yk, "POST", "/refunds", one_more), 400, "invalid_request", "amount.value")
    assert_error(
        call(yk, "POST", "/refunds", dict(refund, payment_id=str(uuid.uuid4()))),
        404,
        "not_found",
        "payment_id",
    )
    assert_error(call(yk, "POST", "/refunds", refund, key=None), 400, "invalid_request", "Idempotence-Key")
    listed = call(yk, "GET", f"/refunds?payment_id={payment['id']}")[1]
    assert listed["type"] == "list" and len(listed["items"]) == 2
    assert len(yk.refunds) == 2


# -- the checkout page -------------------------------------------------------------------------------


def test_checkout_page_pay_button(yk: YooKassaStandIn) -> None:
    payment = create(yk)
    status, page, _ = browser(payment["confirmation"]["confirmation_url"])
    assert status == 200
    assert "199.00 RUB" in page and "genbot: 100 credits" in page
    assert f'action="/checkout/{payment["id"]}/pay"' in page
    assert f'action="/checkout/{payment["id"]}/cancel"' in page
    status, _, location = browser(f"{yk.root_url}/checkout/{payment['id']}/pay", {})
    assert status == 303 and location == RETURN_URL
    assert yk.payment(payment["id"])["status"] == "succeeded"
    status, page, _ = browser(payment["confirmation"]["confirmation_url"])
    assert "Payment succeeded" in page and 'id="pay"' not in page
    # a second press changes nothing
    assert browser(f"{yk.root_url}/checkout/{payment['id']}/cancel", {})[2] == RETURN_URL
    assert yk.payment(payment["id"])["status"] == "succeeded"


def test_checkout_page_cancel_button(yk: YooKassaStandIn, receiver: Receiver) -> None:
    yk.notify_url = receiver.url
    payment = create(yk)
    status, _, location = browser(f"{yk.root_url}/checkout/{payment['id']}/cancel", {})
    assert status == 303 and location == RETURN_URL
    canceled = yk.payment(payment["id"])
    assert canceled["status"] == "canceled"
    assert canceled["cancellation_details"] == {"party": "yoo_money", "reason": "expired_on_confirmation"}
    assert [n.event for n in yk.wait_notifications(1)] == ["payment.canceled"]
    assert browser(f"{yk.root_url}/checkout/{uuid.uuid4()}")[0] == 404


def test_checkout_pay_on_a_two_stage_payment_waits_for_capture(yk: YooKassaStandIn) -> None:
    payment = create(yk, capture=False)
    browser(f"{yk.root_url}/checkout/{payment['id']}/pay", {})
    assert yk.payment(payment["id"])["status"] == "waiting_for_capture"


# -- scripting and records ---------------------------------------------------------------------------


def test_scripted_500_then_recovery(yk: YooKassaStandIn) -> None:
    yk.fail_next("POST /payments", 500)
    key = str(uuid.uuid4())
    assert_error(call(yk, "POST", "/payments", payment_body(), key=key), 500, "internal_server_error", None)
    assert yk.payments == []
    assert call(yk, "GET", "/me")[0] == 200  # other requests are not affected
    assert call(yk, "POST", "/payments", payment_body(), key=key)[0] == 200
    assert len(yk.payments) == 1


def test_scripted_failure_after_processing_then_retry_gets_the_same_payment(yk: YooKassaStandIn) -> None:
    yk.fail_next("POST /payments", 500, processed=True)
    key = str(uuid.uuid4())
    assert call(yk, "POST", "/payments", payment_body(), key=key)[0] == 500
    assert len(yk.payments) == 1
    status, payment = call(yk, "POST", "/payments", payment_body(), key=key)
    assert status == 200 and payment["id"] == yk.payments[0]["id"]


def test_scripted_failures_count_and_match(yk: YooKassaStandIn) -> None:
    payment = create(yk)
    yk.fail_next("GET /payments/*", 429, times=2)
    yk.fail_next("/refunds/*", 503, body={"custom": True})  # any method
    assert_error(call(yk, "GET", f"/payments/{payment['id']}"), 429, "too_many_requests", None)
    assert call(yk, "GET", f"/payments/{payment['id']}")[0] == 429
    assert call(yk, "GET", f"/payments/{payment['id']}")[0] == 200
    assert call(yk, "GET", f"/refunds/{uuid.uuid4()}") == (503, {"custom": True})


def test_a_delay_longer_than_the_client_timeout_still_creates_the_payment(yk: YooKassaStandIn) -> None:
    yk.delay_next(1.0, "POST /payments")
    key = str(uuid.uuid4())
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        call(yk, "POST", "/payments", payment_body(), key=key, timeout=0.3)
    deadline = threading.Event()
    for _ in range(50):
        if yk.payments:
            break
        deadline.wait(0.05)
    assert len(yk.payments) == 1
    status, payment = call(yk, "POST", "/payments", payment_body(), key=key)
    assert status == 200 and payment["id"] == yk.payments[0]["id"]


def test_requests_are_recorded(yk: YooKassaStandIn) -> None:
    key = str(uuid.uuid4())
    payment = call(yk, "POST", "/payments", payment_body(), key=key)[1]
    call(yk, "GET", f"/payments/{payment['id']}")
    (posted,) = yk.requests_to("POST /payments")
    assert posted.method == "POST" and posted.path == "/v3/payments" and posted.api_path == "/payments"
    assert posted.idempotence_key == key and posted.headers["idempotence-key"] == key
    assert posted.json == payment_body() and posted.shop_id == SHOP
    assert [r.method for r in yk.requests_to("/payments*")] == ["POST", "GET"]
    yk.clear()
    assert yk.requests == [] and yk.payments == []


# -- the official SDK ----------------------------------------------------------------------------------


@pytest.fixture
def sdk(yk: YooKassaStandIn) -> Iterator[Any]:
    yookassa = pytest.importorskip("yookassa", reason="yookassa is not installed (not in the lock yet)")
    configuration = yookassa.Configuration
    saved = {
        name: getattr(configuration, name)
        for name in ("account_id", "secret_key", "auth_token", "api_url", "timeout", "max_attempts", "verify")
    }
    configuration.configure(SHOP, SECRET, api_url=yk.base_url)
    yield yookassa
    for name, value in saved.items():
        setattr(configuration, name, value)


def sdk_params(value: str = "199.00") -> dict[str, Any]:
    return {
        "amount": {"value": value, "currency": "RUB"},
        "capture": True,
        "confirmation": {"type": "redirect", "return_url": RETURN_URL},
        "description": "genbot: 100 credits",
        "metadata": {"user_id": "5550001"},
        "receipt": receipt(value),
    }


def test_sdk_payment_round_trip(yk: YooKassaStandIn, sdk: Any) -> None:
    key = str(uuid.uuid4())
    payment = sdk.Payment.create(sdk_params(), key)
    assert payment.status == "pending" and payment.paid is False
    assert payment.amount.value == Decimal("199.00") and payment.amount.currency == "RUB"
    assert payment.confirmation.type == "redirect"
    assert payment.confirmation.confirmation_url == yk.checkout_url(payment.id)
    assert payment.metadata["user_id"] == "5550001"
    again = sdk.Payment.create(sdk_params(), key)  # the SDK's retry with the same key
    assert again.id == payment.id and len(yk.payments) == 1
    (posted, _) = yk.requests_to("POST /payments")
    assert posted.idempotence_key == key
    assert posted.headers["authorization"] == auth()
    assert "YooKassa.Python" in posted.headers["ym-user-agent"]
    yk.succeed(payment.id)
    found = sdk.Payment.find_one(payment.id)
    assert found.status == "succeeded" and found.paid is True and found.refundable is True
    assert found.income_amount.value == Decimal("192.03")
    assert found.payment_method.card.last4 == "4477"
    refund = sdk.Refund.create({"payment_id": payment.id, "amount": {"value": "199.00", "currency": "RUB"}})
    assert refund.status == "succeeded" and refund.payment_id == payment.id
    assert sdk.Refund.find_one(refund.id).amount.value == Decimal("199.00")
    assert [p.id for p in sdk.Payment.list({"limit": 5}).items] == [payment.id]


def test_sdk_errors(yk: YooKassaStandIn, sdk: Any) -> None:
    from yookassa.domain.exceptions import (
        BadRequestError,
        InternalServerError,
        NotFoundError,
        UnauthorizedError,
    )

    params = sdk_params()
    params["receipt"] = receipt("150.00")
    with pytest.raises(BadRequestError) as bad:
        sdk.Payment.create(params)
    assert bad.value.content["code"] == "invalid_request"
    assert bad.value.content["parameter"] == "receipt.items"
    key = str(uuid.uuid4())
    sdk.Payment.create(sdk_params(), key)
    with pytest.raises(BadRequestError) as duplicated:
        sdk.Payment.create(sdk_params("299.00"), key)
    assert duplicated.value.content["description"] == "Idempotence key duplicated"
    with pytest.raises(NotFoundError):
        sdk.Payment.find_one(str(uuid.uuid4()))
    yk.fail_next("POST /payments", 500)
    with pytest.raises(InternalServerError) as down:
        sdk.Payment.create(sdk_params())
    assert down.value.content["code"] == "internal_server_error"
    sdk.Configuration.configure(SHOP, "wrong", api_url=yk.base_url)
    with pytest.raises(UnauthorizedError) as unauthorized:
        sdk.Payment.find_one(str(uuid.uuid4()))
    assert unauthorized.value.content["code"] == "invalid_credentials"


def test_sdk_capture_cancel_and_notifications(yk: YooKassaStandIn, sdk: Any, receiver: Receiver) -> None:
    from yookassa.domain.notification import WebhookNotificationFactory

    yk.notify_url = receiver.url
    params = dict(sdk_params(), capture=False)
    held = sdk.Payment.create(params)
    yk.authorize(held.id)
    assert sdk.Payment.capture(held.id).status == "succeeded"
    other = sdk.Payment.create(params)
    yk.authorize(other.id)
    canceled = sdk.Payment.cancel(other.id)
    assert canceled.status == "canceled" and canceled.cancellation_details.party == "merchant"
    events = yk.wait_notifications(4)
    assert [n.event for n in events] == [
        "payment.waiting_for_capture",
        "payment.succeeded",
        "payment.waiting_for_capture",
        "payment.canceled",
    ]
    parsed = WebhookNotificationFactory().create(receiver.bodies[1])
    assert parsed.event == "payment.succeeded"
    assert parsed.object.id == held.id and parsed.object.status == "succeeded" and parsed.object.paid is True
    canceled_note = WebhookNotificationFactory().create(receiver.bodies[3])
    assert canceled_note.object.cancellation_details.reason == "canceled_by_merchant"
