"""Fuzzing the webhook function (hypothesis): whatever arrives at ``POST /telegram``, no 5xx.

Each example is one API Gateway v2 event (the recorded ``apigw_http_telegram.json``) handed to
``functions/webhook/handler.py`` as Lambda would (``genbot_local.invoke``), against moto and the
Bot API stand-in. The handler must never raise and never answer 5xx (Telegram would retry it
for a day). What it may touch depends on what came in. Every AWS call the invocation makes is
recorded (a pass-through spy on botocore, which PynamoDB and boto3 both go through), so "nothing
written" is exact: no write was even attempted. The forged and malformed cases also compare
every DynamoDB table and SQS queue, scanned in full, before and after the whole test.

- a missing or wrong secret header: 401, not one AWS call (nothing read or written), no Bot API
  call, whatever the body (a perfectly good update included);
- a body that is not a JSON object with an integer ``update_id`` (text, bytes, base64, JSON of
  any other shape, nesting deep enough for a RecursionError, cut off): 400, not one AWS call;
- an update of a type nobody knows, or one aiogram can't read (a field of a known update
  replaced by any JSON value): 200, and its dedupe marker (``update#<bot>#<update_id>``) is the
  one write: no user, money, job or message. ("Nothing written" for a well-formed update means
  this: the marker is what stops Telegram's redeliveries of it costing anything);
- a valid-looking update full of garbage (texts, commands, callback data, invoice payloads,
  names, lone surrogates), from a user who just registered or from a stranger: 200, the only
  writes are to users, stats and the dedupe marker, plus the ledger's welcome gift or daily
  bonus; never a job, payment, promo use, queued message or other money; the books balance;
  the same update delivered again writes nothing but the refused marker and calls no Bot API;
- oversized bodies up to Lambda's 6 MB: an answer, not a crash.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.client
import pytest
from aiogram.types import Update
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from genbot.config import get_settings
from genbot.ledger.audit import audit
from genbot.store.models import User
from genbot.users.service import register
from genbot_local.invoke import invoke
from genbot_local.simulate import BOT_TOKEN, WEBHOOK_SECRET, RecordedEvents, next_update_id
from genbot_local.sqs_driver import DEPTH_ATTRIBUTES

BOT_ID = int(BOT_TOKEN.split(":", 1)[0])
pytestmark = [
    pytest.mark.filterwarnings("ignore:Detected unknown update type:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"),
]
FUZZ_SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TEMPLATES = (
    "message_start",
    "message_text",
    "callback_query",
    "edited_message",
    "my_chat_member",
    "pre_checkout_query",
    "message_successful_payment",
)
# the update fields aiogram knows (Bot API 9.x/10.x): anything else is "a new update type"
KNOWN_UPDATE_FIELDS = frozenset(Update.model_fields) - {"update_id"}
_fresh_users = itertools.count(880_000_000)


# --- what the function did to AWS, and the world before and after --------------------------------------

READ_PREFIXES = ("Get", "BatchGet", "TransactGet", "Query", "Scan", "Describe", "List", "Receive", "Head")


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    params: dict[str, Any]

    @property
    def writes(self) -> bool:
        return not self.operation.startswith(READ_PREFIXES)

    def items(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(kind, table, item or key) of every item this DynamoDB write touches."""
        p = self.params
        if self.operation == "PutItem":
            return [("Put", p["TableName"], p["Item"])]
        if self.operation in ("UpdateItem", "DeleteItem"):
            return [(self.operation.removesuffix("Item"), p["TableName"], p["Key"])]
        if self.operation == "TransactWriteItems":
            found = []
            for entry in p["TransactItems"]:
                ((kind, body),) = entry.items()
                found.append((kind, body["TableName"], body.get("Item") or body.get("Key") or {}))
            return found
        if self.operation == "BatchWriteItem":
            return [
                (next(iter(r)), table, next(iter(r.values())).get("Item") or next(iter(r.values()))["Key"])
                for table, requests in p["RequestItems"].items()
                for r in requests
            ]
        return [(self.operation, self.service, {})]


class AwsSpy:
    """Every AWS API call made in this process while ``recording`` (botocore's one funnel, which
    PynamoDB and boto3 both use); calls pass through unchanged."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.on = False

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[Call]]:
        self.calls = []
        self.on = True
        try:
            yield self.calls
        finally:
            self.on = False

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.writes]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> AwsSpy:
    found = AwsSpy()
    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 (private to mypy)

    def make_api_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if found.on:
            found.calls.append(Call(client.meta.service_model.service_name, operation_name, api_params))
        return original(client, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)
    return found


def table(setting: str) -> str:
    """A table's physical name (``users_table`` -> what the environment says)."""
    return str(getattr(get_settings(), setting))


@dataclass(frozen=True)
class Snapshot:
    tables: dict[str, dict[str, str]]  # table -> item key (JSON) -> item (JSON)
    queues: dict[str, tuple[int, int, int]]  # queue URL -> visible, in flight, delayed


class World:
    """Every DynamoDB table and every SQS queue, read in full."""

    def __init__(self) -> None:
        self.ddb: Any = boto3.client("dynamodb")
        self.sqs: Any = boto3.client("sqs")
        self.keys = {
            name: [k["AttributeName"] for k in self.ddb.describe_table(TableName=name)["Table"]["KeySchema"]]
            for name in self.ddb.list_tables()["TableNames"]
        }
        self.queue_urls = self.sqs.list_queues().get("QueueUrls", [])

    def snapshot(self) -> Snapshot:
        tables = {name: self._scan(name) for name in self.keys}
        return Snapshot(tables, {url: self._depth(url) for url in self.queue_urls})

    def _scan(self, name: str) -> dict[str, str]:
        key = self.keys[name]
        items: dict[str, str] = {}
        for page in self.ddb.get_paginator("scan").paginate(TableName=name, ConsistentRead=True):
            for item in page["Items"]:
                items[json.dumps([item[k] for k in key], sort_keys=True)] = json.dumps(item, sort_keys=True)
        return items

    def _depth(self, url: str) -> tuple[int, int, int]:
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(DEPTH_ATTRIBUTES))[
            "Attributes"
        ]
        visible, in_flight, delayed = (int(attrs[name]) for name in DEPTH_ATTRIBUTES)
        return visible, in_flight, delayed


@pytest.fixture
def untouched(aws: dict[str, str], telegram: Any) -> Iterator[None]:
    """The whole test (every example) leaves every table, queue and the Bot API untouched."""
    world = World()
    before, calls = world.snapshot(), len(telegram.calls)
    yield
    assert world.snapshot() == before
    assert len(telegram.calls) == calls


@pytest.fixture
def post(recorded_events: RecordedEvents, spy: AwsSpy) -> Callable[..., dict[str, Any]]:
    """``post(body, secret=WEBHOOK_SECRET, base64_body=False)``: one invocation (AWS calls
    recorded in ``spy``); its response, checked to be an HTTP answer below 500."""

    def send(body: str | bytes, *, secret: str | None = WEBHOOK_SECRET, base64_body: bool = False) -> Any:
        text = body if isinstance(body, str) else body.decode("latin-1")
        event = recorded_events.api_event(text, secret=secret)
        if base64_body or isinstance(body, bytes):
            raw = body if isinstance(body, bytes) else body.encode()
            event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
        with spy.recording():
            response = invoke("webhook", event)
        assert isinstance(response, dict) and isinstance(response.get("statusCode"), int), response
        assert response["statusCode"] < 500, response
        return response

    return send


def only_the_marker(spy: AwsSpy, update_id: int) -> None:
    """The one write was the update's dedupe marker (nothing queued, no money, no user)."""
    marker = {"id": {"S": f"update#{BOT_ID}#{update_id}"}}
    written = [item for call in spy.writes() for item in call.items()]
    assert len(written) == 1, written
    kind, name, item = written[0]
    assert (kind, name) == ("Put", table("idempotency_table")) and item["id"] == marker["id"], written


# --- strategies ----------------------------------------------------------------------------------------

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def _forged_from(secret: str) -> st.SearchStrategy[str | None]:
    cut = st.integers(min_value=0, max_value=len(secret) - 1)
    return st.one_of(
        st.none(),  # no header at all
        st.just(""),
        st.text(max_size=300),
        cut.map(lambda n: secret[:n]),  # a prefix
        st.text(min_size=1, max_size=5).map(lambda extra: secret + extra),
        st.just(secret.upper()),
        st.just(f" {secret}"),
        st.just(f"{secret}\n"),
        st.tuples(cut, st.characters()).map(lambda p: secret[: p[0]] + p[1] + secret[p[0] + 1 :]),
    ).filter(lambda s: s != secret)


def is_update_shaped(body: str | bytes) -> bool:
    """What the webhook accepts as an update at all: a JSON object with an integer ``update_id``."""
    try:
        raw = json.loads(body.decode() if isinstance(body, bytes) else body)
    except (ValueError, RecursionError):
        return False
    return isinstance(raw, dict) and isinstance(raw.get("update_id"), int)


@st.composite
def recorded_update(draw: st.DrawFn, events: RecordedEvents, user_id: int) -> dict[str, Any]:
    update = events.telegram_update(draw(st.sampled_from(TEMPLATES)), user_id=user_id)
    return update


CALLBACK_PREFIXES = ("d", "r", "menu", "buy", "rub", "lang", "bonus", "promo", "bc", "chat", "sub", "alang")
COMMANDS = ("/start", "/balance", "/promo", "/admin", "/broadcast", "/paysupport", "/terms", "/help", "/lang")
# a lone UTF-16 surrogate: valid in a JSON string ("\ud800"), not encodable as UTF-8
lone_surrogates = st.tuples(st.text(max_size=20), st.sampled_from(["\ud800", "\udfff"])).map("".join)
garbage_text = st.one_of(
    st.text(max_size=200),
    lone_surrogates,
    st.tuples(st.sampled_from(COMMANDS), st.text(max_size=80)).map(" ".join),
    st.text(max_size=30).map(lambda t: f"/start ref_{t}"),
    st.sampled_from(
        ["🎨 Создать", "💬 Ассистент", "💰 Баланс", "🛒 Купить кредиты", "🎁 Бонусы", "❓ Помощь"]
    ),
)
garbage_callback = st.one_of(
    st.text(max_size=64),
    st.tuples(st.sampled_from(CALLBACK_PREFIXES), st.text(max_size=40)).map(":".join),
)


@st.composite
def garbage_update(draw: st.DrawFn, events: RecordedEvents, user_id: int) -> dict[str, Any]:
    """A recorded update shape with its free-form fields replaced by garbage."""
    name = draw(st.sampled_from(TEMPLATES))
    update = events.telegram_update(name, user_id=user_id)
    payload = next(v for k, v in update.items() if k != "update_id")
    if name in ("message_start", "message_text", "edited_message"):
        text = draw(garbage_text)
        payload["text"] = text
        payload.pop("entities", None)
        if text.startswith("/") and draw(st.booleans()):
            payload["entities"] = [{"offset": 0, "length": len(text.split(" ")[0]), "type": "bot_command"}]
        if draw(st.booleans()):
            payload["reply_to_message"] = copy.deepcopy(payload) | {"text": draw(st.text(max_size=50))}
    elif name == "callback_query":
        payload["data"] = draw(garbage_callback | lone_surrogates)
    elif name == "pre_checkout_query":
        payload["invoice_payload"] = draw(st.text(max_size=128) | garbage_payload(user_id))
        payload["total_amount"] = draw(st.integers(min_value=0, max_value=10**9))
        payload["currency"] = draw(st.sampled_from(["XTR", "RUB", "USD", ""]))
    elif name == "message_successful_payment":
        paid = payload["successful_payment"]
        paid["invoice_payload"] = draw(st.text(max_size=128) | garbage_payload(user_id))
        paid["total_amount"] = draw(st.integers(min_value=0, max_value=10**9))
        paid["currency"] = draw(st.sampled_from(["XTR", "RUB", ""]))
        paid["telegram_payment_charge_id"] = draw(st.text(min_size=1, max_size=60))
        # a payment that matches its payload is a real one (Telegram only delivers those after
        # the pre-checkout said yes): this test feeds the ones that match nothing
        assume(not _matches(paid, user_id))
    if draw(st.booleans()):  # who sent it: any name, username and language
        sender = payload.setdefault("from", {"id": user_id, "is_bot": False})
        sender["first_name"] = draw(st.text(max_size=64) | lone_surrogates)
        sender["username"] = draw(st.text(max_size=32))
        sender["language_code"] = draw(st.sampled_from(["", "ru", "en-GB", "zz", "x" * 40]))
    if name == "my_chat_member":
        member = payload["new_chat_member"]
        member["status"] = draw(st.sampled_from(["member", "kicked", "left", "administrator", "restricted"]))
    return update


def garbage_payload(user_id: int) -> st.SearchStrategy[str]:
    part = st.text(alphabet="0123456789:-x ", max_size=8)
    return st.tuples(st.sampled_from(["pack_s", "pack_m", "offer", "sub_month", "x"]), part, part).map(
        lambda p: f"{p[0]}:{p[1]}:{p[2]}:{user_id}"
    )


def _matches(paid: dict[str, Any], user_id: int) -> bool:
    from genbot.payments.stars import parse

    order = parse(paid["invoice_payload"])
    return (
        order is not None
        and paid["currency"] == "XTR"
        and order.user_id == user_id
        and paid["total_amount"] == order.stars
    )


@st.composite
def mutated_update(draw: st.DrawFn, events: RecordedEvents, user_id: int) -> dict[str, Any]:
    """A recorded update with one leaf (or object) somewhere inside replaced by any JSON value."""
    update = events.telegram_update(draw(st.sampled_from(TEMPLATES)), user_id=user_id)
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        for key, value in items:
            if node is update and key == "update_id":
                continue
            paths.append((node, key))
            walk(value)

    walk(update)
    node, key = draw(st.sampled_from(paths))
    replacement = draw(json_values)
    assume(replacement != node[key])
    node[key] = replacement
    return update


# --- the tests ----------------------------------------------------------------------------------------


@settings(FUZZ_SETTINGS, max_examples=80)
@given(data=st.data())
@pytest.mark.usefixtures("untouched")
def test_a_forged_or_missing_secret_gets_401_and_nothing_is_read_or_written(
    data: st.DataObject, spy: AwsSpy, post: Callable[..., dict[str, Any]], recorded_events: RecordedEvents
) -> None:
    secret = data.draw(_forged_from(WEBHOOK_SECRET), label="secret")
    body = data.draw(
        st.one_of(
            recorded_update(recorded_events, 555_000_111).map(json.dumps),  # a perfectly good update
            json_values.map(json.dumps),
            st.text(max_size=200),
        ),
        label="body",
    )

    response = post(body, secret=secret)

    assert response["statusCode"] == 401
    assert spy.calls == []


not_an_update = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=200),  # base64-encoded by API Gateway: often not even UTF-8
    json_values.map(json.dumps),
    st.dictionaries(st.sampled_from(["update_id", "message", "callback_query"]), json_values, max_size=3).map(
        json.dumps
    ),
    st.sampled_from(
        ["1", "1.5", '"update_id"', "null", "[]", "{}", '{"update_id": 1.0}', '{"update_id": "7"}']
    ),
    st.integers(min_value=1, max_value=5000).map(lambda n: "[" * n + "]" * n),
    st.integers(min_value=1, max_value=5000).map(lambda n: '{"update_id": 1, "x": ' + "[" * n),  # cut off
)


@settings(FUZZ_SETTINGS, max_examples=80)
@given(body=not_an_update, base64_body=st.booleans())
@pytest.mark.usefixtures("untouched")
def test_a_body_that_is_not_an_update_gets_400_and_nothing_is_read_or_written(
    body: str | bytes, base64_body: bool, spy: AwsSpy, post: Callable[..., dict[str, Any]]
) -> None:
    assume(not is_update_shaped(body))

    response = post(body, base64_body=base64_body)

    assert response["statusCode"] == 400, response
    assert spy.calls == []


@FUZZ_SETTINGS
@given(
    fields=st.dictionaries(
        st.text(min_size=1, max_size=20).filter(lambda k: k not in KNOWN_UPDATE_FIELDS and k != "update_id"),
        json_values,
        min_size=0,
        max_size=3,
    )
)
@pytest.mark.usefixtures("aws")
def test_an_update_of_a_type_nobody_knows_only_marks_its_id(
    fields: dict[str, Any], spy: AwsSpy, post: Callable[..., dict[str, Any]], telegram: Any
) -> None:
    update_id = next_update_id()
    calls = len(telegram.calls)

    response = post(json.dumps({"update_id": update_id, **fields}))

    assert response["statusCode"] == 200
    only_the_marker(spy, update_id)
    assert len(telegram.calls) == calls


ALLOWED_AFTER_GARBAGE = ("users_table", "idempotency_table", "stats_table")


def nothing_but_what_garbage_may_do(spy: AwsSpy) -> None:
    """Garbage may register someone, count a visit, claim the daily bonus, mark its update:
    no job, payment, promo use, queued message or any other money; and the books balance."""
    allowed = {table(name) for name in ALLOWED_AFTER_GARBAGE}
    for call in spy.writes():
        assert call.service == "dynamodb", call  # nothing queued, nothing stored in S3
        for kind, name, item in call.items():
            if name == table("ledger_table"):
                op_id = item["op_id"]["S"]
                assert kind == "Put" and (op_id == "bonus#welcome" or op_id.startswith("bonus#daily#")), item
            else:
                assert name in allowed, (kind, name, item)
    assert audit() == []
    assert all(int(u.balance) >= 0 for u in User.scan())


@settings(FUZZ_SETTINGS, max_examples=50)
@given(data=st.data(), registered=st.booleans())
@pytest.mark.usefixtures("aws", "telegram")
def test_a_known_update_with_a_field_of_the_wrong_type_is_refused_or_handled(
    data: st.DataObject,
    registered: bool,
    spy: AwsSpy,
    post: Callable[..., dict[str, Any]],
    recorded_events: RecordedEvents,
) -> None:
    user_id = next(_fresh_users)
    if registered:
        register(get_settings(), user_id, language="ru", first_name="Fuzz")
    update = data.draw(mutated_update(recorded_events, user_id), label="update")

    response = post(json.dumps(update))

    assert response["statusCode"] == 200, response
    try:
        valid = Update.model_validate(update)
    except ValueError:  # pydantic's ValidationError: aiogram can't read it
        only_the_marker(spy, update["update_id"])
        return
    if not (valid.model_fields_set - {"update_id"}) & KNOWN_UPDATE_FIELDS:
        only_the_marker(spy, update["update_id"])  # e.g. "message": null
    nothing_but_what_garbage_may_do(spy)


@settings(FUZZ_SETTINGS, max_examples=50)
@given(data=st.data(), registered=st.booleans())
@pytest.mark.usefixtures("aws")
def test_garbage_in_a_valid_looking_update_never_breaks_the_webhook_or_the_books(
    data: st.DataObject,
    registered: bool,
    spy: AwsSpy,
    post: Callable[..., dict[str, Any]],
    recorded_events: RecordedEvents,
    telegram: Any,
) -> None:
    user_id = next(_fresh_users)
    if registered:
        register(
            get_settings(), user_id, language=data.draw(st.sampled_from(["ru", "en"])), first_name="Fuzz"
        )
    update = data.draw(garbage_update(recorded_events, user_id), label="update")
    body = json.dumps(update, ensure_ascii=True)  # lone surrogates can only travel escaped
    if data.draw(st.booleans(), label="raw UTF-8"):
        with contextlib.suppress(UnicodeEncodeError):
            body = json.dumps(update, ensure_ascii=False).encode().decode()

    first = post(body)

    assert first["statusCode"] == 200, first
    nothing_but_what_garbage_may_do(spy)
    calls = len(telegram.calls)

    again = post(body)  # Telegram redelivers it: the marker turns it away, nothing else happens

    assert again["statusCode"] == 200 and json.loads(again["body"]) == {}
    [(kind, name, _item)] = [item for call in spy.writes() for item in call.items()]
    assert (kind, name) == ("Put", table("idempotency_table"))  # the marker's put, refused
    assert len(telegram.calls) == calls


@settings(FUZZ_SETTINGS, max_examples=6)
@given(
    size=st.sampled_from([64 * 1024, 1024 * 1024, 6 * 1024 * 1024 - 4096]),
    where=st.sampled_from(["text", "data", "payload", "unknown", "junk"]),
)
@pytest.mark.usefixtures("aws", "telegram")
def test_an_oversized_body_gets_an_answer_not_a_crash(
    size: int, where: str, spy: AwsSpy, post: Callable[..., dict[str, Any]], recorded_events: RecordedEvents
) -> None:
    """Up to Lambda's 6 MB request limit: a huge text, callback data, payload or unknown field."""
    user_id = next(_fresh_users)
    register(get_settings(), user_id, language="ru", first_name="Fuzz")
    big = "я" * (size // 2)
    if where == "junk":
        body = "{" + big
    else:
        name = {"text": "message_text", "data": "callback_query", "payload": "pre_checkout_query"}.get(
            where, "message_text"
        )
        update = recorded_events.telegram_update(name, user_id=user_id)
        payload = next(v for k, v in update.items() if k != "update_id")
        if where == "unknown":
            update["something_new"] = {"blob": big}
        else:
            payload[{"text": "text", "data": "data", "payload": "invoice_payload"}[where]] = big
        body = json.dumps(update, ensure_ascii=False)

    response = post(body)

    assert response["statusCode"] == (400 if where == "junk" else 200), response
    nothing_but_what_garbage_may_do(spy)
