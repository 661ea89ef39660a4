"""Lambda SnapStart for the webhook: prime before the snapshot, refresh after restore.

SnapStart snapshots the instance after init (the handler module's import) and restores
copies of it. ``before_snapshot`` builds what the first update would otherwise build after
restore: aiogram's/pydantic's validation of updates and serialization of replies (through
``webhook_reply``), the Bot's HTTP session with its TLS context (``prepare_session``), the
DynamoDB, SQS and Secrets Manager models with endpoint rules, serializers and parsers, a
botocore session with its event handlers and credential provider chain, PynamoDB's item and
expression machinery, the text catalogs, and the codecs an HTTP request imports. AWS calls
go through PynamoDB and botocore as usual, answered by a ``before-send`` stub on throwaway
clients with placeholder credentials: no connection, no credential, no setting read (in AWS
``get_settings()`` reads Secrets Manager), nothing random or per-instance in the snapshot.

``after_restore`` drops what must not be shared between restored copies: it reseeds
``random``, drops cached AWS clients, PynamoDB connections, boto3's default session and
Powertools Parameters' providers (with any credentials they hold), and the thread's Bot (its
HTTP session, if one was opened). Then it builds this copy's DynamoDB client, exactly as the
models' PynamoDB connections will ask for it (``rebuild_clients``), so the first update reuses
it: ~4-6 ms of CPU in the hook instead of the update, this copy's credentials (from the
environment in Lambda), no setting read and no connection opened. The models are in the
process-wide loader (``share_botocore_loader``) and PynamoDB's connections share a botocore
session and client (``share_pynamodb_clients``), which also makes a cold start without
SnapStart parse the models once and build one client.

The hooks register through ``snapshot_restore_py``, which the Lambda Python runtime
provides; elsewhere (tests, the local stack, benches) registration is a no-op and the hooks
are plain functions to call.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import random
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.config import Config

from genbot.observability import logger

if TYPE_CHECKING:
    from aiogram import Bot
    from botocore.loaders import Loader
    from pynamodb.models import Model

# Modules an update may import lazily: the IDNA codec for an HTTP host, resource readers, and
# boto3 (the jobs queue's client; imported at use if the import is made lazy).
LAZY_IMPORTS = ("encodings.idna", "stringprep", "importlib.readers", "importlib.resources.readers", "boto3")

# functools-cached factories holding AWS clients or connections: "module:function".
CLIENT_CACHES = (
    "genbot.store.clients:client",  # boto3 clients (SQS, S3...)
    "genbot.store.transaction:connection",  # PynamoDB's connection for transactions
)

_PRIME_REGION = "us-east-1"  # placeholder: nothing is sent; the real region is used after restore
_PRIME_TOKEN = "7000000001:snapstart-priming"  # noqa: S105 (a placeholder)
_NOW = 1_795_425_340  # fixed: nothing time-dependent goes into the snapshot


def install() -> bool:
    """Wire the hooks (True if the SnapStart runtime took them; False: no-op outside Lambda).

    Shares botocore's data loader and PynamoDB's clients in any case: every cold instance,
    SnapStart or not, parses the AWS models once and builds one DynamoDB client per config.
    """
    share_botocore_loader()
    share_pynamodb_clients()
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return False
    # One hook each, so the runtime's order (before-snapshot hooks run last registered first)
    # can't reorder the steps.
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
    return True


# --- botocore: one data loader per process --------------------------------------------------


@functools.cache
def _shared_loader(search_path_string: str | None = None) -> Loader:
    from botocore.loaders import create_loader

    return create_loader(search_path_string)


def share_botocore_loader() -> None:
    """Every botocore session (PynamoDB makes one per connection) reuses one loader.

    The loader caches the parsed service models, endpoint rules and partitions. Without this
    each new session parses them again from JSON (~50 ms of CPU per DynamoDB client here);
    with it a new client costs a few ms. The models are read-only data.
    """
    if botocore.session.create_loader is not _shared_loader:
        setattr(botocore.session, "create_loader", _shared_loader)  # noqa: B010 (typed as the original)


class SharingSession(botocore.session.Session):
    """A botocore session that builds one client per configuration and caches no credentials.

    PynamoDB gives every connection (one per model, plus ours for transactions) its own
    session and client: each session registers botocore's ~360 event handlers and each
    client builds its endpoint rules and operation models, ~15-20 ms of CPU per model on a
    cold instance. Connections with the same settings can share a client (botocore clients
    are thread-safe). Credentials are resolved per client and kept only there, so dropping
    the clients (``forget_clients``, after a SnapStart restore) drops every credential.
    """

    def __init__(self) -> None:
        super().__init__()
        self._shared_clients: dict[str, Any] = {}
        _sharing_sessions.add(self)

    def get_credentials(self) -> Any:
        return self.get_component("credential_provider").load_credentials()

    def set_credentials(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("a model with its own credentials can't use the shared session")

    def create_client(self, *args: Any, **kwargs: Any) -> Any:
        """The client for these arguments, built once (PynamoDB passes service and region)."""
        # Explicit credentials (priming's placeholders): a client of its own, never shared.
        if len(args) > 2 or any(kwargs.get(k) for k in _EXPLICIT_CREDENTIALS):
            return super().create_client(*args, **kwargs)
        config = kwargs.get("config")
        options = None if config is None else [getattr(config, name, None) for name in Config.OPTION_DEFAULTS]
        # The AWS_* environment (endpoint, credentials, region) shapes a client too: the local
        # stack and tests move AWS_ENDPOINT_URL; a new value gets a new client.
        environment = sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))
        key = repr((args, sorted((k, v) for k, v in kwargs.items() if k != "config"), options, environment))
        client = self._shared_clients.get(key)
        # PynamoDB asks again for a client whose credentials came back empty: build a new one.
        signer = getattr(client, "_request_signer", None)
        if client is None or (signer is not None and not getattr(signer, "_credentials", None)):
            client = self._shared_clients[key] = super().create_client(*args, **kwargs)
        return client

    def forget_clients(self) -> None:
        self._shared_clients.clear()


_EXPLICIT_CREDENTIALS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
_sharing_sessions: weakref.WeakSet[SharingSession] = weakref.WeakSet()
_threads = threading.local()


def thread_session() -> SharingSession:
    """This thread's sharing session (botocore sessions are not thread-safe; clients are)."""
    session: SharingSession | None = getattr(_threads, "session", None)
    if session is None:
        session = _threads.session = SharingSession()
    return session


def share_pynamodb_clients() -> None:
    """PynamoDB connections take their botocore session from ``thread_session``."""
    import pynamodb.connection.base

    if pynamodb.connection.base.get_session is not thread_session:
        setattr(pynamodb.connection.base, "get_session", thread_session)  # noqa: B010


# --- before the snapshot --------------------------------------------------------------------


def before_snapshot() -> list[str]:
    """Warm everything the first update would build; returns the steps that failed (logged).

    Priming is an optimisation: a failed step is logged and skipped, never fatal to init.
    """
    steps: list[tuple[str, Callable[[], object]]] = [
        ("imports", prime_imports),
        ("telegram", prime_telegram),
        ("pynamodb+botocore", prime_aws),
        ("i18n", prime_i18n),
    ]
    failed = []
    for name, step in steps:
        try:
            step()
        except Exception:
            logger.exception("SnapStart priming step failed", extra={"step": name})
            failed.append(name)
    return failed


def prime_imports() -> None:
    names = list(LAZY_IMPORTS)
    if os.environ.get("SECRET_ID"):  # get_settings() will read the secret through Parameters
        names.append("aws_lambda_powertools.utilities.parameters")
    for name in names:
        importlib.import_module(name)
    "api.telegram.org".encode("idna")


def _user(user_id: int = 555_000_111, **extra: Any) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Anna", "language_code": "ru", **extra}


def _chat(chat_id: int = 555_000_111) -> dict[str, Any]:
    return {"id": chat_id, "first_name": "Anna", "type": "private"}


def _bot_user() -> dict[str, Any]:
    return {"id": 7_000_000_001, "is_bot": True, "first_name": "genbot", "username": "genbot_bot"}


def sample_updates() -> list[dict[str, Any]]:
    """One update of each kind the bot handles, as Telegram sends them."""
    message = {"message_id": 1, "from": _user(), "chat": _chat(), "date": _NOW}
    inline = {"inline_keyboard": [[{"text": "A", "callback_data": "lang:en"}]]}
    bot_message = {**message, "from": _bot_user(), "text": "?", "reply_markup": inline}
    member = {"user": _bot_user(), "status": "member"}
    return [
        {
            "update_id": 1,
            "message": {
                **message,
                "text": "/start ref_1",
                "entities": [{"offset": 0, "length": 6, "type": "bot_command"}],
            },
        },
        {"update_id": 2, "message": {**message, "text": "hello"}},
        {
            "update_id": 3,
            "callback_query": {
                "id": "1",
                "from": _user(),
                "message": bot_message,
                "chat_instance": "-1",
                "data": "lang:en",
            },
        },
        {
            "update_id": 4,
            "message": {
                **message,
                "caption": "animate",
                "photo": [
                    {"file_id": "a", "file_unique_id": "a", "width": 90, "height": 90, "file_size": 1000},
                    {"file_id": "b", "file_unique_id": "b", "width": 1280, "height": 1280},
                ],
            },
        },
        {
            "update_id": 5,
            "my_chat_member": {
                "chat": _chat(),
                "from": _user(),
                "date": _NOW,
                "old_chat_member": member,
                "new_chat_member": {**member, "status": "kicked", "until_date": 0},
            },
        },
        {
            "update_id": 6,
            "pre_checkout_query": {
                "id": "2",
                "from": _user(),
                "currency": "XTR",
                "total_amount": 100,
                "invoice_payload": "pack:s",
            },
        },
        {
            "update_id": 7,
            "message": {
                **message,
                "successful_payment": {
                    "currency": "XTR",
                    "total_amount": 100,
                    "invoice_payload": "pack:s",
                    "telegram_payment_charge_id": "c",
                    "provider_payment_charge_id": "p",
                },
            },
        },
    ]


def prime_bot() -> Bot:
    """A throwaway Bot on the session the real Bot will take (``prepare_session``).

    The real Bot needs the token, and in AWS ``get_settings()`` reads it from Secrets
    Manager: a network call that must not happen before the snapshot. The API URL is not a
    secret (read from the environment). The session is never opened here.
    """
    from aiogram import Bot

    from genbot.config import Settings
    from genbot.telegram import prepare_session
    from genbot.telegram.client import BOT_DEFAULTS

    return Bot(_PRIME_TOKEN, session=prepare_session(Settings().telegram_api_url), default=BOT_DEFAULTS)


def prime_telegram() -> list[dict[str, Any] | None]:
    """Validate updates and build/serialize the replies the handlers return (no request)."""
    from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage, TelegramMethod
    from aiogram.types import InlineKeyboardMarkup, Update
    from aiogram.utils.keyboard import InlineKeyboardBuilder, ReplyKeyboardBuilder

    from genbot.telegram import webhook_reply

    bot = prime_bot()
    updates = [Update.model_validate(raw, context={"bot": bot}) for raw in sample_updates()]
    start, _, callback, photo, _, checkout, _ = updates
    assert start.message and callback.callback_query and photo.message and checkout.pre_checkout_query
    message = callback.callback_query.message
    assert message is not None

    inline = InlineKeyboardBuilder()
    inline.button(text="A", callback_data="a:1")
    inline.button(text="B", url="https://t.me/genbot_bot?start=ref_1")
    inline.adjust(1)
    menu = ReplyKeyboardBuilder()
    menu.button(text="A")
    menu.button(text="B")
    menu.adjust(2)
    markup: InlineKeyboardMarkup = inline.as_markup()
    replies: list[TelegramMethod[Any]] = [
        start.message.answer("<b>Hi</b>", reply_markup=menu.as_markup(resize_keyboard=True)),
        photo.message.answer("Hi", reply_markup=markup),
        SendMessage(chat_id=1, text="Hi", reply_markup=markup, disable_notification=True),
        EditMessageText(chat_id=1, message_id=message.message_id, text="Hi", reply_markup=markup),
        callback.callback_query.answer("Hi", show_alert=True),
        AnswerCallbackQuery(callback_query_id="1"),
        checkout.pre_checkout_query.answer(ok=True),
    ]
    return [webhook_reply(bot, method) for method in replies]


def _stubbed(client: Any, body: bytes) -> Any:
    """Answer every request of ``client`` with ``body`` (HTTP 200) instead of sending it.

    botocore's ``before-send`` event: a handler's response replaces the HTTP request, so
    validation, serialization, endpoint resolution, signing and parsing all run.
    """
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders

    class _Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield body

    def answer(request: Any, **_: Any) -> AWSResponse:
        headers = HTTPHeaders.from_dict({"Content-Type": "application/x-amz-json-1.0"})
        return AWSResponse(request.url, 200, headers, _Raw())

    client.meta.events.register("before-send", answer)
    return client


def _client(service: str, body: bytes) -> Any:
    """A stubbed throwaway client with placeholder credentials (none resolved, nothing shared).

    Built on this thread's sharing session, which the first update's clients will use.
    """
    share_botocore_loader()
    client = thread_session().create_client(
        service,
        _PRIME_REGION,
        endpoint_url=f"https://{service}.{_PRIME_REGION}.amazonaws.com",
        aws_access_key_id="prime",
        aws_secret_access_key="prime",  # noqa: S106 (a placeholder, nothing is sent)
    )
    return _stubbed(client, body)


@functools.cache
def _prime_models() -> tuple[Any, Any]:
    """The user and dedupe models on fixed table names (the real ones read settings)."""
    from genbot.store.models import IdempotencyRecord, User

    class PrimeUser(User):
        class Meta(User.Meta):
            table_name = "genbot-prime-users"
            region = _PRIME_REGION

    class PrimeMarker(IdempotencyRecord):
        class Meta(IdempotencyRecord.Meta):
            table_name = "genbot-prime-idempotency"
            region = _PRIME_REGION

    return PrimeUser, PrimeMarker


def prime_aws() -> None:
    """PynamoDB's requests (dedupe put, user get/update, a transaction) through a stubbed
    DynamoDB client; SQS and Secrets Manager calls through stubbed clients.

    The models are subclasses of the real ones (same attributes) on fixed table names.
    """
    from pynamodb.transactions import TransactWrite

    PrimeUser, PrimeMarker = _prime_models()
    user = PrimeUser(555_000_111, balance=3, language="ru", first_name="Anna", created_at=_NOW)
    raw = json.dumps(user.serialize()).encode()
    ddb = _client("dynamodb", b'{"Item": %s, "Attributes": %s}' % (raw, raw))
    models = [PrimeUser, PrimeMarker]
    try:
        for model in models:
            model._get_connection().connection._client = ddb  # PynamoDB's own dispatch path
        marker = PrimeMarker("update#1#1", expiration=timedelta(seconds=60), status="taken")
        marker.save(condition=PrimeMarker.id.does_not_exist() | (PrimeMarker.expiration < datetime.now(UTC)))
        found = PrimeUser.get(555_000_111, consistent_read=True)
        found.update(
            actions=[PrimeUser.balance.add(1), PrimeUser.draft.remove(), PrimeUser.language.set("en")],
            condition=PrimeUser.balance >= 1,
        )
        with TransactWrite(connection=PrimeUser._get_connection().connection) as transaction:
            transaction.save(user, condition=PrimeUser.user_id.does_not_exist())
            transaction.update(found, actions=[PrimeUser.balance.add(-1)], condition=PrimeUser.balance >= 1)
            transaction.condition_check(PrimeUser, 1, condition=PrimeUser.blocked == False)  # noqa: E712
    finally:
        for model in models:
            model._connection = None

    # The chain of credential providers (env, container, IMDS...): built, not asked. Clients
    # built after restore resolve their credentials through it.
    thread_session().get_component("credential_provider")
    _region_settings()  # the after-restore hook reads the region with it (nothing read here)

    sqs = _client("sqs", b'{"MessageId": "1", "MD5OfMessageBody": "99914b932bd37a50b983c5e7c90ae93b"}')
    sqs.send_message(QueueUrl="https://sqs.us-east-1.amazonaws.com/1/q", MessageBody="{}", DelaySeconds=0)
    sqs.meta.service_model.operation_model("ChangeMessageVisibility")
    secrets = _client("secretsmanager", b'{"Name": "s", "SecretString": "{}"}')
    secrets.get_secret_value(SecretId="prime")


def prime_i18n() -> None:
    from genbot.i18n import LANGUAGES, get_i18n

    i18n = get_i18n()
    with i18n.context():
        for language in LANGUAGES:
            with i18n.use_locale(language):
                i18n.gettext("💰 Balance")  # existing texts: priming adds none to the catalogs
                i18n.gettext("{n} credit", "{n} credits", 2)


# --- after restore --------------------------------------------------------------------------


def after_restore() -> None:
    """Per-copy state: a fresh random seed, no AWS client or credential from before the snapshot,
    then this copy's DynamoDB client, built fresh for the first update to reuse.

    Runs on the runtime's main thread, the thread that then serves the invocations (so the
    thread's sharing session is the one the handler's connections use). Never raises: the
    runtime would fail the restore. A failed rebuild is logged and the first update builds
    the client, as it would without it. No request is sent (see docs/decisions.md).
    """
    random.seed()  # from os.urandom: restored copies must not share a sequence
    reset_clients()
    from genbot import runtime

    runtime.forget_bot()
    try:
        rebuild_clients()
    except Exception:
        logger.exception("SnapStart: rebuilding the DynamoDB client after restore failed")


def reset_clients() -> None:
    """Drop cached AWS clients, PynamoDB connections, boto3's default session, Parameters' providers.

    Only modules already imported are touched (nothing is imported to be cleared). The next
    use builds a new client, resolving credentials afresh, from the shared loader's models.
    """
    for session in list(_sharing_sessions):
        session.forget_clients()
    for target in CLIENT_CACHES:
        module_name, _, attribute = target.partition(":")
        module = sys.modules.get(module_name)
        cached = getattr(module, attribute, None)
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()
    if "pynamodb.models" in sys.modules:
        from pynamodb.models import Model

        for model in _subclasses(Model):
            if "_connection" in vars(model):
                model._connection = None
    if "boto3" in sys.modules:
        import boto3

        boto3.DEFAULT_SESSION = None
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters.constants")
    if parameters is not None:
        parameters.DEFAULT_PROVIDERS.clear()  # Powertools Parameters' clients (and cached values)


def rebuild_clients() -> Any:
    """This copy's DynamoDB client, as the models' PynamoDB connections will ask for it.

    PynamoDB's ``Connection.client`` asks the thread's ``SharingSession`` for a client keyed by
    service, region, endpoint, ``Config`` and the ``AWS_*`` environment; a connection built
    from the models' ``Meta`` makes exactly that request, so the first update's models (and
    the transaction connection) get this client instead of building one. It resolves this
    copy's credentials (the environment's, in Lambda; no network) and opens no connection.
    Returns None when PynamoDB doesn't share clients (nothing would reuse it).
    """
    import pynamodb.connection.base

    if pynamodb.connection.base.get_session is not thread_session:
        return None
    from genbot.store.models import StatsCounter

    # the stats counters' connection makes one attempt (an ADD must not be resent): its own
    # client, built here too, since a new user's /start and a user's first update of a day count
    dynamodb_connection(StatsCounter).client  # noqa: B018 (the property builds the client)
    return dynamodb_connection().client


def dynamodb_connection(model: Any = None) -> Any:
    """A PynamoDB connection with the models' settings, the region read without the secret.

    The models' region is ``get_settings().aws_region``; in AWS ``get_settings()`` reads
    Secrets Manager, which holds no AWS setting, so the environment alone gives the same value
    (``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else the default: ``Settings``' own field).
    """
    from pynamodb.connection import Connection

    from genbot.store.models import User

    meta: Any = (model or User).Meta  # PynamoDB fills in defaults; table names differ, the rest doesn't
    return Connection(
        region=_region_settings()().aws_region,
        host=meta.host,
        connect_timeout_seconds=meta.connect_timeout_seconds,
        read_timeout_seconds=meta.read_timeout_seconds,
        max_retry_attempts=meta.max_retry_attempts,
        max_pool_connections=meta.max_pool_connections,
        extra_headers=meta.extra_headers,
    )


@functools.cache
def _region_settings() -> Any:
    """``Settings``' ``aws_region`` field alone, with its config: a cheap read of the environment
    (~0.2 ms; all of ``Settings`` validates ~50 fields, ~2 ms). Built before the snapshot."""
    from pydantic import create_model
    from pydantic_settings import BaseSettings

    from genbot.config import Settings

    class EnvironmentOnly(BaseSettings):
        model_config = Settings.model_config

    field = Settings.model_fields["aws_region"]
    return create_model("AwsRegion", __base__=EnvironmentOnly, aws_region=(field.annotation, field))


def _subclasses(cls: type[Model]) -> list[type[Model]]:
    found: list[type[Model]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found
