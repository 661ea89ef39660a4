"""The cabinet's API (docs/cabinet-api.md) through real API Gateway v2 events.

Users register through the bot (``chat_user(...).start()``); the Mini App's ``initData`` is
signed the way Telegram signs it (``genbot_local.webapp``); each request is the recorded
``apigw_http_cabinet.json`` event with its method, path, query, body and ``Authorization``
changed, handed to the ``cabinet_api`` function as Lambda would.
"""

from __future__ import annotations

import base64
import collections
import copy
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import botocore.client
import pytest

from genbot.config import get_settings
from genbot.i18n import translate
from genbot.ledger import Posting, apply
from genbot.payments import promo, yookassa
from genbot.payments.products import products
from genbot.store.models import Job, User, now_ms
from genbot.vocab import EntryKind
from genbot_local.invoke import invoke
from genbot_local.simulate import BOT_TOKEN
from genbot_local.webapp import sign_init_data
from genbot_local.yookassa_standin import YooKassaStandIn

pytestmark = pytest.mark.usefixtures("aws")

ANNA = 731001
BORIS = 731002
STRANGER = 731999
OTHER_BOT_TOKEN = "7000000002:ANOTHER-bot-token_0123456789abcdef"


# --- the Mini App's side ------------------------------------------------------------------------


def init_data(user_id: int, *, token: str = BOT_TOKEN, age: int = 0, language: str = "ru") -> str:
    user = {"id": user_id, "first_name": f"User{user_id}", "language_code": language}
    return sign_init_data(token, user, auth_date=int(time.time()) - age, query_id="AAHdF6IQAAAAAN0XohDhrOrc")


Call = Callable[..., tuple[int, dict[str, Any], dict[str, str]]]


@pytest.fixture
def call(load_event: Callable[[str], dict[str, Any]]) -> Call:
    """``call(method, path, user_id=..., body=..., query=..., authorization=...)``: one request
    to ``cabinet_api``; its status, JSON body and headers."""
    recorded = load_event("apigw_http_cabinet.json")

    def request(
        method: str,
        path: str,
        *,
        user_id: int | None = ANNA,
        authorization: str | None = None,
        body: Any = None,
        raw_body: str | None = None,
        query: dict[str, Any] | None = None,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        event = copy.deepcopy(recorded)
        full = f"/cabinet{path}"
        event["rawPath"] = event["requestContext"]["http"]["path"] = full
        event["requestContext"]["http"]["method"] = method
        event["pathParameters"] = {"proxy": path.lstrip("/")}
        event["rawQueryString"] = urlencode(query or {})
        if query:
            event["queryStringParameters"] = {k: str(v) for k, v in query.items()}
        if authorization is None and user_id is not None:
            authorization = f"tma {init_data(user_id)}"
        if authorization is None:
            del event["headers"]["authorization"]
        else:
            event["headers"]["authorization"] = authorization
        if body is not None or raw_body is not None:
            event["body"] = raw_body if raw_body is not None else json.dumps(body)
            event["headers"]["content-type"] = "application/json"
            event["headers"]["content-length"] = str(len(event["body"]))
        response = invoke("cabinet_api", event)
        answer = json.loads(response["body"]) if response.get("body") else {}
        headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        return response["statusCode"], answer, headers

    return request


@pytest.fixture
def anna(chat_user):
    person = chat_user(ANNA)
    person.start()
    return person


@pytest.fixture
def boris(chat_user):
    person = chat_user(BORIS, language="en")
    person.start()
    return person


class AwsCalls:
    """Every AWS API call (boto3 and PynamoDB both go through botocore's ``_make_api_call``)."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()

    def clear(self) -> None:
        self.counts.clear()


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> AwsCalls:
    calls = AwsCalls()
    original = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation: str, params: dict[str, Any]) -> Any:
        calls.counts[f"{self.meta.service_model.service_name}:{operation}"] += 1
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
    return calls


def grant(user_id: int, n: int, delta: int = 1) -> None:
    """``n`` ledger entries of ``delta`` credits, a millisecond apart."""
    for i in range(n):
        apply(Posting(user_id, f"grant#test-{i}", delta, EntryKind.GRANT, note=f"test {i}"))
        time.sleep(0.002)


# --- me ------------------------------------------------------------------------------------------


def test_me_shows_the_account_the_bot_made(anna, call: Call) -> None:
    status, me, headers = call("GET", "/me")
    assert status == 200, me
    settings = get_settings()
    assert me["user_id"] == ANNA and me["balance"] == settings.free_credits
    assert me["language"] == "ru" and me["chat_language"] is None and me["is_admin"] is False
    assert me["subscription"] is None
    assert me["referral"] == {
        "link": f"https://t.me/genbot_local_bot?start=ref_{ANNA}",
        "invited": 0,
        "earned": 0,
    }
    assert me["notices"] == {"offers": True, "bonus": True, "subscription": True}
    assert "access-control-allow-origin" not in headers  # no CABINET_ORIGIN: no CORS at all


def test_me_counts_friends_and_what_they_earned(anna, chat_user, call: Call, monkeypatch) -> None:
    monkeypatch.setenv("REFERRAL_TRIGGER", "registration")
    get_settings.cache_clear()
    chat_user(BORIS).send(f"/start ref_{ANNA}")
    _, me, _ = call("GET", "/me")
    reward = get_settings().referral_reward
    assert me["referral"]["invited"] == 1 and me["referral"]["earned"] == reward
    assert me["balance"] == get_settings().free_credits + reward


# --- ledger --------------------------------------------------------------------------------------


def test_the_ledger_pages_newest_first_with_labels_one_query_a_page(anna, call: Call, aws_calls) -> None:
    grant(ANNA, 4)
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        aws_calls.clear()
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        status, page, _ = call("GET", "/ledger", query=query)
        assert status == 200, page
        pages += 1
        # the caller's GetItem, then one Query of the time index; never a Scan
        assert aws_calls.counts == {"dynamodb:GetItem": 1, "dynamodb:Query": 1}, aws_calls.counts
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 5  # the welcome gift and four grants
    assert [e["op_id"] for e in seen] == [f"grant#test-{i}" for i in (3, 2, 1, 0)] + ["bonus#welcome"]
    assert seen[0]["label"] == translate("gift from the team", "ru") != "gift from the team"
    assert seen[-1]["kind"] == "welcome" and seen[-1]["delta"] == get_settings().free_credits
    times = [e["created_at"] for e in seen]
    assert times == sorted(times, reverse=True)


def test_a_ledger_label_is_in_the_users_language(boris, call: Call) -> None:
    _, page, _ = call("GET", "/ledger", user_id=BORIS)
    assert page["items"][0]["label"] == "welcome gift"


def test_a_full_last_page_says_there_is_no_next_one(anna, call: Call) -> None:
    grant(ANNA, 1)
    _, page, _ = call("GET", "/ledger", query={"limit": 2})
    assert len(page["items"]) == 2 and page["next_cursor"] is None


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "e30.AAAA",  # "{}" with a made-up signature
        base64.urlsafe_b64encode(b'{"op_id":"x","created_at":1}').decode().rstrip("=") + ".bm9wZQ",
        "x" * 600,
    ],
)
def test_a_made_up_cursor_is_refused(anna, call: Call, cursor: str) -> None:
    status, answer, _ = call("GET", "/ledger", query={"cursor": cursor})
    assert status in (400, 422)
    assert answer["error"]["code"] == "invalid_request"


def test_another_users_cursor_is_refused(anna, boris, call: Call) -> None:
    grant(ANNA, 3)
    _, page, _ = call("GET", "/ledger", query={"limit": 1})
    assert page["next_cursor"]
    status, answer, _ = call("GET", "/ledger", user_id=BORIS, query={"cursor": page["next_cursor"]})
    assert status == 400 and answer["error"]["code"] == "invalid_request"
    assert "Please reload" in answer["error"]["message"]  # Boris reads English


def test_a_ledger_cursor_does_not_page_the_gallery(anna, call: Call) -> None:
    grant(ANNA, 2)
    _, page, _ = call("GET", "/ledger", query={"limit": 1})
    status, answer, _ = call("GET", "/generations", query={"cursor": page["next_cursor"]})
    assert status == 400 and answer["error"]["code"] == "invalid_request"


def test_a_limit_out_of_range_is_invalid(anna, call: Call) -> None:
    for limit in ("0", "51", "many"):
        status, answer, _ = call("GET", "/ledger", query={"limit": limit})
        assert status == 422 and answer["error"]["code"] == "invalid_request", limit


# --- generations ---------------------------------------------------------------------------------


def job(user_id: int, job_id: str, **fields: Any) -> Job:
    values: dict[str, Any] = {"mode": "image", "prompt": "a cat", "price": 1} | fields
    item = Job(job_id, user_id=user_id, chat_id=user_id, **values)
    item.save()
    time.sleep(0.002)
    return item


def test_the_gallery_lists_jobs_with_links_to_own_results_only(anna, call: Call, aws_calls) -> None:
    job(ANNA, "j-old", status="failed", created_at=now_ms() - 5000)
    job(ANNA, "j-img", status="succeeded", result_key=f"media/{ANNA}/j-img.png", result_mime="image/png")
    job(ANNA, "j-chat", mode="chat", status="succeeded")
    job(ANNA, "j-foreign", status="succeeded", result_key=f"media/{BORIS}/x.png", result_mime="image/png")
    job(BORIS, "j-boris", status="succeeded", result_key=f"media/{BORIS}/j-boris.png")
    aws_calls.clear()
    status, page, _ = call("GET", "/generations")
    assert status == 200, page
    assert aws_calls.counts == {"dynamodb:GetItem": 1, "dynamodb:Query": 1}, aws_calls.counts
    items = {g["job_id"]: g for g in page["items"]}
    assert list(items) == ["j-foreign", "j-img", "j-old"]  # newest first; no chat, no Boris
    assert page["next_cursor"] is None
    image = items["j-img"]
    assert image["mime"] == "image/png" and image["expires_in"] <= 3600
    assert f"/media/{ANNA}/j-img.png" in image["url"] and "Signature=" in image["url"]
    assert items["j-foreign"]["url"] is None  # a key outside Anna's prefix is never signed
    assert items["j-old"]["url"] is None and items["j-old"]["status"] == "failed"


def test_the_gallery_pages_one_query_a_page(anna, call: Call, aws_calls) -> None:
    for i in range(5):
        job(ANNA, f"j-{i}", status="succeeded", result_key=f"media/{ANNA}/j-{i}.png")
    job(ANNA, "j-chat", mode="chat")
    seen: list[str] = []
    cursor: str | None = None
    while True:
        aws_calls.clear()
        _, page, _ = call("GET", "/generations", query={"limit": 2} | ({"cursor": cursor} if cursor else {}))
        assert aws_calls.counts["dynamodb:Query"] == 1 and "dynamodb:Scan" not in aws_calls.counts
        seen += [g["job_id"] for g in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"j-{i}" for i in (4, 3, 2, 1, 0)]


def test_a_real_generation_shows_in_the_gallery(anna, call: Call, jobs, order_image) -> None:
    order_image(anna, "a lighthouse at dawn")
    jobs.drain()
    _, page, _ = call("GET", "/generations")
    (item,) = page["items"]
    assert item["status"] == "succeeded" and item["prompt"] == "a lighthouse at dawn"
    assert item["url"] and item["mime"].startswith("image/")


# --- packs and buying ----------------------------------------------------------------------------


def test_packs_list_what_is_on_sale(anna, call: Call) -> None:
    status, answer, _ = call("GET", "/packs")
    assert status == 200
    expected = [
        {"product_id": p.product_id, "credits": p.credits, "stars": p.stars, "rubles": p.rubles}
        for p in products(get_settings())
    ]
    assert answer == {"packs": expected, "rubles": False, "offer": None}


def test_packs_include_the_callers_offer_while_it_lasts(anna, call: Call) -> None:
    until = int(time.time()) + 3600
    User(ANNA).update(actions=[User.offer_until.set(until)])
    _, answer, _ = call("GET", "/packs")
    credits, stars, rubles = (int(p) for p in get_settings().offer_pack.split(":"))
    assert answer["offer"]["product_id"] == "offer" and answer["offer"]["stars"] == stars
    assert answer["offer"]["credits"] == credits and answer["offer"]["rubles"] == rubles


def test_buying_with_stars_gives_an_invoice_link(anna, call: Call, telegram) -> None:
    status, answer, _ = call("POST", "/buy", body={"product_id": "pack_s", "method": "stars"})
    assert status == 200, answer
    assert answer["invoice_link"].startswith("http") and answer.get("confirmation_url") is None
    (made,) = telegram.calls_for("createInvoiceLink")
    pack = next(p for p in products(get_settings()) if p.product_id == "pack_s")
    assert made.params["currency"] == "XTR" and not made.params.get("provider_token")
    assert made.params["payload"] == f"pack_s:{pack.credits}:{pack.stars}:{ANNA}"
    assert [p["amount"] for p in made.params["prices"]] == [pack.stars]


def test_telegram_slowing_us_down_is_a_429_with_retry_after(anna, call: Call, telegram) -> None:
    telegram.fail_next("createInvoiceLink", 429, "Too Many Requests: retry after 7", retry_after=7)
    status, answer, headers = call("POST", "/buy", body={"product_id": "pack_s", "method": "stars"})
    assert status == 429 and answer["error"]["code"] == "rate_limited"
    assert headers["retry-after"] == "7"


def test_telegram_down_is_a_503(anna, call: Call, telegram) -> None:
    telegram.fail_next("createInvoiceLink", 502, "Bad Gateway")
    status, answer, _ = call("POST", "/buy", body={"product_id": "pack_s", "method": "stars"})
    assert status == 503 and answer["error"]["code"] == "unavailable"
    assert "Traceback" not in json.dumps(answer)


def test_buying_something_not_on_sale_is_not_found(anna, call: Call) -> None:
    status, answer, _ = call("POST", "/buy", body={"product_id": "offer", "method": "stars"})
    assert status == 404 and answer["error"]["code"] == "not_found"


def test_rubles_without_yookassa_are_refused(anna, call: Call) -> None:
    status, answer, _ = call("POST", "/buy", body={"product_id": "pack_s", "method": "rubles"})
    assert status == 409 and answer["error"]["code"] == "rubles_unavailable"


@pytest.fixture
def yk(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[YooKassaStandIn]:
    server = YooKassaStandIn(shop_id="100500", secret_key="test_yk", receipt_required=True).start()
    monkeypatch.setenv("YOOKASSA_SHOP_ID", "100500")
    monkeypatch.setenv("YOOKASSA_SECRET_KEY", "test_yk")
    monkeypatch.setenv("YOOKASSA_API_URL", server.base_url)
    monkeypatch.setattr(yookassa, "RETRY_PAUSE_SECONDS", 0.0)
    get_settings.cache_clear()
    yield server
    server.stop()
    get_settings.cache_clear()


def test_rubles_need_a_receipt_contact_first(anna, yk, call: Call) -> None:
    status, answer, _ = call("POST", "/buy", body={"product_id": "pack_s", "method": "rubles"})
    assert status == 409 and answer["error"]["code"] == "contact_required"


def test_rubles_give_the_payment_page(anna, yk, call: Call) -> None:
    yookassa.save_receipt_contact(ANNA, "anna@example.com")
    status, answer, _ = call("POST", "/buy", body={"product_id": "pack_m", "method": "rubles"})
    assert status == 200, answer
    assert answer["confirmation_url"].startswith("http") and answer.get("invoice_link") is None


# --- promo ---------------------------------------------------------------------------------------


def test_a_promo_code_credits_once(anna, call: Call) -> None:
    promo.create("CABINET5", credits=5, max_uses=10)
    status, answer, _ = call("POST", "/promo", body={"code": " cabinet5 "})
    assert status == 200, answer
    assert answer == {"code": "CABINET5", "credits": 5, "balance": get_settings().free_credits + 5}
    status, answer, _ = call("POST", "/promo", body={"code": "CABINET5"})
    assert status == 409 and answer["error"]["code"] == "promo_already_used"
    assert answer["error"]["message"]


def test_an_unknown_promo_code_is_not_found(anna, call: Call) -> None:
    status, answer, _ = call("POST", "/promo", body={"code": "NOPE-NOPE"})
    assert status == 404 and answer["error"]["code"] == "promo_unknown"


# --- settings ------------------------------------------------------------------------------------


def test_settings_change_language_notices_and_answer_the_new_me(anna, call: Call) -> None:
    change = {"language": "en", "chat_language": "ru", "notices": {"offers": False, "bonus": False}}
    status, me, _ = call("PATCH", "/settings", body=change)
    assert status == 200, me
    assert me["language"] == "en" and me["chat_language"] == "ru"
    assert me["notices"] == {"offers": False, "bonus": False, "subscription": True}
    stored = User.get(ANNA)
    assert stored.language == "en" and stored.chat_language == "ru"
    assert set(stored.muted) == {"offers", "bonus"}
    # null: the assistant answers in the question's language again; absent fields stay
    status, me, _ = call("PATCH", "/settings", body={"chat_language": None, "notices": {"offers": True}})
    assert me["chat_language"] is None and me["language"] == "en"
    assert me["notices"] == {"offers": True, "bonus": False, "subscription": True}
    # and errors now come in English
    _, answer, _ = call("GET", "/ledger", query={"cursor": "garbage"})
    assert answer["error"]["message"] == "This list can't be continued from there. Please reload it."


# --- every way in that must fail -----------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer something",
        "tma ",
        "tma not-a-query-string",
    ],
)
def test_no_or_malformed_auth_is_unauthorized(anna, call: Call, authorization: str | None) -> None:
    status, answer, _ = call("GET", "/me", user_id=None, authorization=authorization)
    assert status == 401 and answer["error"]["code"] == "unauthorized"
    assert set(answer) == {"error"} and set(answer["error"]) == {"code", "message"}


def test_a_forged_hash_is_unauthorized(anna, call: Call) -> None:
    signed = init_data(ANNA)
    forged = signed.replace(f"%22id%22%3A{ANNA}", f"%22id%22%3A{BORIS}")
    assert forged != signed
    status, answer, _ = call("GET", "/me", authorization=f"tma {forged}")
    assert status == 401 and answer["error"]["code"] == "unauthorized"


def test_a_stale_auth_date_is_unauthorized(anna, call: Call) -> None:
    max_age = get_settings().cabinet_auth_max_age
    status, _, _ = call("GET", "/me", authorization=f"tma {init_data(ANNA, age=max_age - 60)}")
    assert status == 200
    status, answer, _ = call("GET", "/me", authorization=f"tma {init_data(ANNA, age=max_age + 60)}")
    assert status == 401 and answer["error"]["code"] == "unauthorized"


def test_another_bots_init_data_is_unauthorized(anna, call: Call) -> None:
    other = init_data(ANNA, token=OTHER_BOT_TOKEN)
    status, answer, _ = call("GET", "/me", authorization=f"tma {other}")
    assert status == 401 and answer["error"]["code"] == "unauthorized"


def test_someone_who_never_started_the_bot_is_not_registered(call: Call) -> None:
    status, answer, _ = call("GET", "/me", user_id=STRANGER)
    assert status == 404 and answer["error"]["code"] == "not_registered"
    assert "/start" in answer["error"]["message"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/buy", {"product_id": "pack_s", "method": "bitcoin"}),
        ("/buy", {"product_id": "pack_s"}),
        ("/buy", {"product_id": "pack_s", "method": "stars", "extra": 1}),
        ("/promo", {"code": ""}),
        ("/promo", ["CODE"]),
        ("/settings", {"language": "de"}),
        ("/settings", {"notices": {"offers": "maybe"}}),
    ],
)
def test_an_invalid_body_is_refused(anna, call: Call, path: str, body: Any) -> None:
    method = "PATCH" if path == "/settings" else "POST"
    status, answer, _ = call(method, path, body=body)
    assert status == 422 and answer["error"]["code"] == "invalid_request"
    assert "detail" not in answer and "Traceback" not in json.dumps(answer)


def test_a_body_that_is_not_json_is_refused(anna, call: Call) -> None:
    status, answer, _ = call("POST", "/promo", raw_body="{not json")
    assert status == 422 and answer["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/nowhere"), ("DELETE", "/me"), ("GET", "/admin/nowhere")]
)
def test_an_unknown_route_is_a_json_404(anna, call: Call, method: str, path: str) -> None:
    status, answer, _ = call(method, path)
    assert status == 404 and answer["error"]["code"] == "not_found"


def test_only_an_operator_passes_the_admin_check(anna, monkeypatch: pytest.MonkeyPatch) -> None:
    """The admin Router's dependency (its routes come later): 403 ``forbidden`` for others."""
    from genbot.cabinet.auth import Caller, current_admin
    from genbot.cabinet.errors import ForbiddenError

    user = User.get(ANNA)
    with pytest.raises(ForbiddenError):
        current_admin(Caller(user=user, language="ru", settings=get_settings()))
    monkeypatch.setenv("ADMIN_IDS", str(ANNA))
    get_settings.cache_clear()
    caller = Caller(user=user, language="ru", settings=get_settings())
    assert current_admin(caller) is caller and caller.is_admin


# --- the schema ----------------------------------------------------------------------------------


def test_the_openapi_schema_is_served_without_auth(call: Call) -> None:
    status, schema, _ = call("GET", "/openapi.json", user_id=None)
    assert status == 200 and schema["openapi"].startswith("3.")
    user_paths = {p for p in schema["paths"] if not p.startswith("/cabinet/admin/")}
    assert user_paths == {
        f"/cabinet/{p}" for p in ("me", "ledger", "generations", "packs", "buy", "promo", "settings")
    }
    assert "tma" in schema["components"]["securitySchemes"]


def test_cors_is_for_the_cabinets_origin_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from genbot.cabinet import app

    assert app._cors() is None  # unset: no CORS headers at all
    monkeypatch.setenv("CABINET_ORIGIN", "https://cabinet.example.com/")
    get_settings.cache_clear()
    config = app._cors()
    assert config is not None
    assert config.to_dict("https://cabinet.example.com")["Access-Control-Allow-Origin"] == (
        "https://cabinet.example.com"
    )
    assert config.to_dict("https://elsewhere.example.com") == {}


# --- the bot's way in ---------------------------------------------------------------------------


def _web_apps(reply: dict[str, Any]) -> list[dict[str, Any]]:
    markup = reply.get("reply_markup") or {}
    markup = json.loads(markup) if isinstance(markup, str) else markup
    return [b for row in markup.get("inline_keyboard", []) for b in row if "web_app" in b]


def test_the_main_menu_and_balance_open_the_cabinet_with_inline_buttons(
    chat_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = chat_user(733301)
    menu = person.start()["reply_markup"]
    labels = [b["text"] for row in menu["keyboard"] for b in row]
    assert "👤 Кабинет" not in labels  # no CABINET_URL: no button that leads nowhere
    assert _web_apps(person.send("💰 Баланс")) == []

    monkeypatch.setenv("CABINET_URL", "https://d111.cloudfront.net/")
    get_settings.cache_clear()
    rows = person.send("/start")["reply_markup"]["keyboard"]
    assert [b["text"] for b in rows[-1]] == ["👤 Кабинет"]
    assert all(
        "web_app" not in b for row in rows for b in row
    )  # a keyboard button's Mini App has no initData
    opened = person.send("👤 Кабинет")
    assert "кабинет" in opened["text"].lower()
    assert _web_apps(opened) == [
        {"text": "👤 Открыть кабинет", "web_app": {"url": "https://d111.cloudfront.net/"}}
    ]
    (button,) = _web_apps(person.send("💰 Баланс"))
    assert button["web_app"]["url"] == "https://d111.cloudfront.net/"
