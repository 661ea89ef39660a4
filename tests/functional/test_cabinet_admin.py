"""The cabinet's admin routes (docs/cabinet-api.md, "Admin routes") through real API Gateway v2
events, signed in as an operator (``ADMIN_IDS``) or as anyone else (403 on every route)."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import boto3
import pytest

from genbot.config import get_settings
from genbot.ledger.audit import audit
from genbot.resources import QUEUES
from genbot.store.models import AdminAction, Job, LedgerEntry, Payment, PromoCode, SettingItem, User
from genbot_local.invoke import LocalContext, invoke, load_handler
from genbot_local.simulate import BOT_TOKEN
from genbot_local.sqs_driver import SqsDriver
from genbot_local.webapp import sign_init_data

pytestmark = pytest.mark.usefixtures("aws")

OPERATOR = 732001
ANNA = 732002

Call = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def call(load_event: Callable[[str], dict[str, Any]]) -> Call:
    """``call(method, path, user_id=..., body=..., query=...)``: one request to ``cabinet_api``."""
    recorded = load_event("apigw_http_cabinet.json")

    def request(
        method: str,
        path: str,
        *,
        user_id: int = OPERATOR,
        body: Any = None,
        query: dict[str, Any] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        event = copy.deepcopy(recorded)
        full = f"/cabinet{path}"
        event["rawPath"] = event["requestContext"]["http"]["path"] = full
        event["requestContext"]["http"]["method"] = method
        event["pathParameters"] = {"proxy": path.lstrip("/")}
        event["rawQueryString"] = urlencode(query or {})
        if query:
            event["queryStringParameters"] = {k: str(v) for k, v in query.items()}
        user = {"id": user_id, "first_name": f"User{user_id}", "language_code": "en"}
        event["headers"]["authorization"] = (
            f"tma {sign_init_data(BOT_TOKEN, user, auth_date=int(time.time()))}"
        )
        if body is not None:
            event["body"] = json.dumps(body)
            event["headers"]["content-type"] = "application/json"
            event["headers"]["content-length"] = str(len(event["body"]))
        response = invoke("cabinet_api", event)
        return response["statusCode"], json.loads(response["body"]) if response.get("body") else {}

    return request


@pytest.fixture
def operator(chat_user, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ADMIN_IDS", str(OPERATOR))
    get_settings.cache_clear()
    person = chat_user(OPERATOR, language="en")
    person.start()
    return person


@pytest.fixture
def anna(chat_user):  # type: ignore[no-untyped-def]
    person = chat_user(ANNA)
    person.start()
    return person


def log() -> list[AdminAction]:
    return sorted(AdminAction.scan(), key=lambda a: str(a.at_id))


ROUTES = [
    ("GET", "/admin/stats", None),
    ("GET", "/admin/jobs/failed", None),
    ("GET", f"/admin/users/{ANNA}", None),
    ("POST", f"/admin/users/{ANNA}/block", {"reason": "x"}),
    ("POST", f"/admin/users/{ANNA}/unblock", {"reason": "x"}),
    ("POST", f"/admin/users/{ANNA}/grant", {"credits": 5, "reason": "x", "idempotency_key": "key-00001"}),
    ("POST", f"/admin/payments/{quote('stars#nope', safe='')}/refund", {"reason": "x"}),
    ("GET", "/admin/promo", None),
    ("POST", "/admin/promo", {"code": "NOPE1", "credits": 1, "max_uses": 1}),
    ("POST", "/admin/promo/NOPE1/disable", {"reason": "x"}),
    ("GET", "/admin/settings/prices", None),
    ("PUT", "/admin/settings/prices", {"value": {"image/standard": 2}}),
    ("POST", "/admin/broadcasts", {"text": "Hi"}),
    ("POST", "/admin/broadcasts/nope/start", None),
    ("GET", "/admin/broadcasts/nope", None),
    ("GET", "/admin/audit", None),
    ("GET", "/admin/log", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_a_non_admin_gets_403_on_every_admin_route(
    anna, call: Call, method: str, path: str, body: Any
) -> None:
    status, answer = call(method, path, user_id=ANNA, body=body)
    assert status == 403 and answer["error"]["code"] == "forbidden"
    assert not log() and User.get(ANNA).balance == get_settings().free_credits
    assert not list(PromoCode.scan()) and not list(SettingItem.scan())


def test_the_schema_lists_every_admin_route(call: Call) -> None:
    status, schema = call("GET", "/openapi.json")
    paths = {p.replace("{", "<").replace("}", ">") for p in schema["paths"]}
    assert status == 200
    assert {f"/cabinet/admin/{p}" for p in ("stats", "users/<user_id>", "log", "audit", "promo")} <= paths


def test_user_lookup_ban_and_unban(operator, anna, call: Call, telegram_update, deliver) -> None:
    status, view = call("GET", f"/admin/users/{ANNA}")
    assert status == 200, view
    assert view["user"]["balance"] == get_settings().free_credits
    assert (view["user"]["blocked"], view["user"]["banned"]) == (False, False)
    assert [e["kind"] for e in view["ledger"]] == ["welcome"] and view["payments"] == []
    status, facts = call("POST", f"/admin/users/{ANNA}/block", body={"reason": "spam"})
    assert status == 200 and facts["banned"] is True and facts["blocked"] is False
    assert User.get(ANNA).banned

    # banned: the bot answers with one notice and does nothing else, in the user's language
    seen = anna.send("🎨 Создать")
    assert seen["method"] == "sendMessage" and seen["text"] == "Доступ к боту приостановлен."
    alert = anna.press("gen:mode:image")
    assert alert["method"] == "answerCallbackQuery" and alert["show_alert"] is True
    checkout = telegram_update("pre_checkout_query", user_id=ANNA)
    checkout["pre_checkout_query"].update(
        {"invoice_payload": f"pack_s:20:100:{ANNA}", "total_amount": 100, "currency": "XTR"}
    )
    declined = json.loads(deliver(checkout)["body"])
    assert declined["method"] == "answerPreCheckoutQuery" and declined["ok"] is False
    assert Job.count() == 0
    status, refused = call("GET", "/me", user_id=ANNA)
    assert status == 403 and refused["error"]["code"] == "banned"
    status, mine = call("GET", "/me")  # the operator is not affected
    assert status == 200, mine

    status, facts = call("POST", f"/admin/users/{ANNA}/unblock", body={})
    assert status == 200 and facts["banned"] is False and not User.get(ANNA).banned
    assert anna.send("/balance")["text"] != "Доступ к боту приостановлен."
    assert call("GET", "/me", user_id=ANNA)[0] == 200
    assert [(a.action, a.before, a.after) for a in log()] == [
        ("block", {"banned": False}, {"banned": True}),
        ("unblock", {"banned": True}, {"banned": False}),
    ]
    status, answer = call("GET", "/admin/users/999999")
    assert status == 404 and answer["error"]["code"] == "not_found"


def test_grant_and_revoke_through_the_ledger_keep_the_audit_clean(operator, anna, call: Call) -> None:
    start = get_settings().free_credits
    status, granted = call(
        "POST",
        f"/admin/users/{ANNA}/grant",
        body={"credits": 10, "reason": "apology", "idempotency_key": "k-grant-1"},
    )
    assert status == 200, granted
    assert granted["applied"] is True and granted["balance"] == start + 10
    status, revoked = call(
        "POST",
        f"/admin/users/{ANNA}/grant",
        body={"credits": -4, "reason": "mistake", "idempotency_key": "k-revoke-1"},
    )
    assert status == 200 and revoked["balance"] == start + 6
    status, answer = call(
        "POST",
        f"/admin/users/{ANNA}/grant",
        body={"credits": -1000, "reason": "all", "idempotency_key": "k-revoke-2"},
    )
    assert status == 409 and answer["error"]["code"] == "insufficient_balance"
    assert User.get(ANNA).balance == start + 6
    kinds = {str(e.kind) for e in LedgerEntry.query(ANNA)}
    assert kinds == {"welcome", "grant"}
    assert audit() == []
    status, report = call("GET", "/admin/audit")
    assert status == 200 and report["ok"] is True and report["mismatches"] == []


def test_a_double_submitted_grant_grants_once(operator, anna, call: Call) -> None:
    body = {"credits": 7, "reason": "gift", "idempotency_key": "same-key-42"}
    first = call("POST", f"/admin/users/{ANNA}/grant", body=body)[1]
    second = call("POST", f"/admin/users/{ANNA}/grant", body=body)[1]
    assert first["applied"] is True and second["applied"] is False
    assert first["op_id"] == second["op_id"]
    assert User.get(ANNA).balance == get_settings().free_credits + 7
    assert [a.action for a in log()] == ["grant"]


def test_refund_of_a_stars_payment_through_the_bot_api(
    operator, chat_user, deliver, telegram_update, telegram, call: Call
) -> None:
    charge = f"stxADMIN{uuid.uuid4().hex[:12]}"
    chat_user(ANNA, language="en").start()
    update = telegram_update("message_successful_payment", user_id=ANNA)
    update["message"]["successful_payment"].update(
        {
            "invoice_payload": f"pack_s:20:100:{ANNA}",
            "total_amount": 100,
            "telegram_payment_charge_id": charge,
        }
    )
    deliver(update)
    payment_id = f"stars#{charge}"
    assert Payment.get(payment_id).status == "succeeded"
    _, view = call("GET", f"/admin/users/{ANNA}")
    assert [p["payment_id"] for p in view["payments"]] == [payment_id]
    telegram.clear_calls()
    status, result = call(
        "POST", f"/admin/payments/{quote(payment_id, safe='')}/refund", body={"reason": "asked"}
    )
    assert status == 200, result
    assert result["applied"] is True and result["credits"] == 20
    (refunded,) = telegram.calls_for("refundStarPayment")
    assert refunded.params["telegram_payment_charge_id"] == charge
    status, again = call(
        "POST", f"/admin/payments/{quote(payment_id, safe='')}/refund", body={"reason": "twice"}
    )
    assert status == 200 and again["applied"] is False
    assert [a.action for a in log()] == ["refund"] and audit() == []
    _, stats = call("GET", "/admin/stats")
    assert stats["users_total"] >= 2
    assert [(r["currency"], r["payments"], r["amount"]) for r in stats["revenue"]] == [("XTR", 1, 100)]


def test_stats_count_what_happened_once_each_from_counters(
    operator, anna, jobs, order_image, deliver, telegram_update, call: Call
) -> None:
    """Real flows (a picture, a refused one, a redelivered job message, a Stars payment
    delivered twice and refunded twice) each counted once, on today's row of the window."""
    anna.start()  # a repeated /start registers nobody
    order_image(anna, "a lighthouse at dusk")
    order_image(anna, "please refuse this one")
    jobs.drain()
    jobs.make_all_visible()
    jobs.drain()  # redelivered messages finish nothing twice
    picture = next(j for j in Job.scan() if j.user_id == ANNA and j.status == "succeeded")
    refused = next(j for j in Job.scan() if j.user_id == ANNA and j.status == "failed")
    charge = f"stxSTATS{uuid.uuid4().hex[:12]}"
    update = telegram_update("message_successful_payment", user_id=ANNA)
    update["message"]["successful_payment"].update(
        {
            "invoice_payload": f"pack_s:20:100:{ANNA}",
            "total_amount": 100,
            "telegram_payment_charge_id": charge,
        }
    )
    deliver(update)
    update["update_id"] += 1  # Telegram's retry of the same payment under a new update id
    deliver(update)
    for _ in range(2):
        status, _result = call(
            "POST", f"/admin/payments/{quote(f'stars#{charge}', safe='')}/refund", body={"reason": "asked"}
        )
        assert status == 200

    status, stats = call("GET", "/admin/stats")
    assert status == 200, stats
    assert len(stats["daily"]) == 30 and stats["days"] == 30
    *before, today = stats["daily"]
    assert all(d["new_users"] == d["generations"] == d["stars"] == 0 for d in before)
    price = int(picture.price)
    assert today == {
        "day": today["day"],
        "new_users": 2,  # the operator and Anna
        "active_users": 2,
        "generations": 2,
        "failed": 1,
        "chat_messages": 0,
        "credits_sold": 20,
        "credits_spent": price,
        "stars": 100,
        "rub_kopecks": 0,
    }
    # a job refused before any provider served it counts with no provider
    assert stats["generations"] == [
        {"mode": "image", "provider": None, "jobs": 1, "succeeded": 0, "failed": 1, "credits": 0},
        {
            "mode": "image",
            "provider": picture.provider,
            "jobs": 1,
            "succeeded": 1,
            "failed": 0,
            "credits": price,
        },
    ]
    assert [{k: v for k, v in r.items() if k != "day"} for r in stats["revenue"]] == [
        {"currency": "XTR", "payments": 1, "amount": 100, "credits": 20, "refunds": 1, "refunded_amount": 100}
    ]
    status, failed = call("GET", "/admin/jobs/failed")
    assert status == 200, failed
    assert [(f["job_id"], f["user_id"], f["error_code"]) for f in failed["items"]] == [
        (refused.job_id, ANNA, refused.error_code)
    ]


def test_a_user_counts_as_active_once_on_each_day_they_come(operator, chat_user) -> None:
    from genbot import stats
    from genbot.users.service import register

    yesterday = int(time.time()) - 86_400
    register(get_settings(), 732009, language="en", first_name="Olga", now=yesterday)
    olga = chat_user(732009, language="en")
    olga.send("/balance")
    olga.send("/help")
    *_, day_before, today = stats.read(2)
    assert (day_before.get("users", "new_users"), day_before.get("users", "active_users")) == (1, 1)
    assert today.get("users", "active_users") == 1 + 1  # Olga, and the operator who started today
    assert today.get("users", "new_users") == 1


def test_promo_create_list_and_disable(operator, call: Call) -> None:
    status, made = call("POST", "/admin/promo", body={"code": "spring25", "credits": 25, "max_uses": 100})
    assert status == 200, made
    assert made["code"] == "SPRING25" and made["disabled"] is False and made["used"] == 0
    status, answer = call("POST", "/admin/promo", body={"code": "SPRING25", "credits": 1, "max_uses": 1})
    assert status == 409 and answer["error"]["code"] == "promo_exists"
    _, listed = call("GET", "/admin/promo")
    assert [p["code"] for p in listed["items"]] == ["SPRING25"]
    status, off = call("POST", "/admin/promo/SPRING25/disable", body={"reason": "over"})
    assert status == 200 and off["disabled"] is True and PromoCode.get("SPRING25").disabled
    status, answer = call("POST", "/admin/promo/NOSUCH/disable", body={})
    assert status == 404 and answer["error"]["code"] == "promo_unknown"


def test_settings_are_validated_and_a_bad_packs_body_stores_nothing(operator, call: Call) -> None:
    status, answer = call("PUT", "/admin/settings/packs", body={"value": {"s": {"credits": -1, "stars": 5}}})
    assert status == 422 and answer["error"]["code"] == "invalid_value"
    status, answer = call(
        "PUT", "/admin/settings/packs", body={"value": {"s": {"credits": 1, "stars": 99999, "rubles": 1}}}
    )
    assert status == 422
    assert not list(SettingItem.scan())
    packs = {"s": {"credits": 30, "stars": 120, "rubles": 250}}
    status, view = call("PUT", "/admin/settings/packs", body={"value": packs, "reason": "autumn"})
    assert status == 200 and view["value"] == packs
    assert SettingItem.get("packs").value == packs
    status, view = call("GET", "/admin/settings/packs")
    assert view["value"] == packs
    status, view = call("GET", "/admin/settings/catalog")
    assert status == 200 and view["value"] is None
    for key, bad in (
        ("prices", {"image/huge": 1}),
        ("catalog", {"image": {"standard": [{"provider": "nobody", "model": "m"}]}}),
        ("subscription", {"month_stars": 0}),
    ):
        status, _ = call("PUT", f"/admin/settings/{key}", body={"value": bad})
        assert status == 422, key
    status, _ = call("PUT", "/admin/settings/subscription", body={"value": {"month_stars": 500}})
    assert status == 200
    status, answer = call("GET", "/admin/settings/secrets")
    assert status == 422


def broadcasts_drain(env: dict[str, str]) -> None:
    spec = QUEUES["broadcasts"]
    sqs = boto3.client("sqs")
    handler = load_handler("notify")

    def notify(event: dict[str, Any]) -> Any:
        return handler(event, LocalContext(function_name="notify", timeout_seconds=60))

    driver = SqsDriver.for_queue(spec, env[spec.env_var], notify, client=sqs, wait_seconds=0)
    for _ in range(50):
        messages = driver.receive()
        if not messages:
            return
        outcome = driver.process(messages)
        assert outcome.error is None and not outcome.failed


def test_broadcast_draft_start_and_progress(aws, operator, anna, call: Call, telegram) -> None:
    status, answer = call("POST", "/admin/broadcasts", body={"text": "<b>unclosed"})
    assert status == 422 and answer["error"]["code"] == "invalid_value"
    draft = {
        "text": "Hello <b>everyone</b>",
        "button": {"text": "Open", "url": "https://example.com"},
        "segment": {"language": "ru"},
    }
    status, made = call("POST", "/admin/broadcasts", body=draft)
    assert status == 200, made
    bid = made["broadcast_id"]
    assert made["status"] == "draft"
    status, started = call("POST", f"/admin/broadcasts/{bid}/start")
    assert status == 200 and started["status"] == "sending"
    status, answer = call("POST", f"/admin/broadcasts/{bid}/start")
    assert status == 409 and answer["error"]["code"] == "not_draft"
    broadcasts_drain(aws)
    status, progress = call("GET", f"/admin/broadcasts/{bid}")
    assert status == 200 and progress["status"] == "done"
    assert progress["selected"] == 1 and progress["sent"] == 1  # Anna reads Russian; the operator English
    status, answer = call("GET", "/admin/broadcasts/nope")
    assert status == 404


def test_the_log_shows_each_action_with_before_and_after_newest_first(operator, anna, call: Call) -> None:
    call("POST", f"/admin/users/{ANNA}/block", body={"reason": "spam"})
    call(
        "POST",
        f"/admin/users/{ANNA}/grant",
        body={"credits": 2, "reason": "sorry", "idempotency_key": "log-key-1"},
    )
    call("PUT", "/admin/settings/prices", body={"value": {"image/standard": 2}, "reason": "costs"})
    call("POST", "/admin/promo", body={"code": "LOGGED", "credits": 1, "max_uses": 1})
    status, page = call("GET", "/admin/log", query={"limit": 3})
    assert status == 200, page
    assert [i["action"] for i in page["items"]] == ["promo_create", "setting", "grant"]
    assert page["next_cursor"]
    _, rest = call("GET", "/admin/log", query={"limit": 3, "cursor": page["next_cursor"]})
    assert [i["action"] for i in rest["items"]] == ["block"]
    block, grant, setting = rest["items"][0], page["items"][2], page["items"][1]
    assert block["before"] == {"banned": False} and block["after"] == {"banned": True}
    assert block["reason"] == "spam" and block["admin_id"] == OPERATOR and block["target"] == f"user:{ANNA}"
    start = get_settings().free_credits
    assert grant["before"] == {"balance": start} and grant["after"]["balance"] == start + 2
    assert setting["before"] is None and setting["after"] == {"image/standard": 2}
    status, _ = call("GET", "/admin/log", user_id=ANNA, query={"cursor": page["next_cursor"]})
    assert status == 403


# --- /admin in the bot -------------------------------------------------------------------------


def test_admin_in_the_bot_shows_the_numbers_and_opens_the_admin_section(
    operator, anna, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = operator.send("/admin")
    assert "Users:" in answer["text"] and "Jobs in progress: 0" in answer["text"]
    assert "New users: 2, active: 2" in answer["text"]  # the operator and Anna, both today
    assert "Generations: 0 (failed: 0)" in answer["text"] and "Paid: 0 ⭐, 0.00 ₽" in answer["text"]
    assert "CABINET_URL" in answer["text"] and not answer.get("reply_markup")
    monkeypatch.setenv("CABINET_URL", "https://cabinet.example.com/")
    get_settings.cache_clear()
    answer = operator.send("/admin")
    markup = answer["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    (button,) = markup["inline_keyboard"][0]
    assert button["web_app"] == {"url": "https://cabinet.example.com/#admin"}


def test_admin_in_the_bot_is_an_unknown_command_for_everyone_else(operator, anna) -> None:
    unknown = anna.send("/nosuchcommand")
    answer = anna.send("/admin")
    assert answer["text"] == unknown["text"]
