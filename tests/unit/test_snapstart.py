"""SnapStart hooks: registration, priming without network or settings, and the reset on restore.

No AWS here: priming answers its own AWS calls, and clients are built but never called.
"""

from __future__ import annotations

import importlib
import random
import socket
import sys
import types
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pynamodb.connection.base
import pytest
from pynamodb.connection import Connection

from genbot import runtime, snapstart
from genbot.config import Settings, get_settings

# Imported as the handler's init does (PynamoDB's model classes read ``Meta.region`` when they
# are created, i.e. the settings): before any test puts the settings behind a secret.
from genbot.store import models  # noqa: F401
from genbot.telegram import client as telegram_client
from genbot.telegram import make_bot, prepare_session


@pytest.fixture(autouse=True)
def unshared(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with botocore's and PynamoDB's own factories (the webhook handler, if a
    test loaded it, installed the shared ones); whatever was there is put back after it."""
    monkeypatch.setattr(botocore.session, "create_loader", botocore.loaders.create_loader)
    monkeypatch.setattr(pynamodb.connection.base, "get_session", botocore.session.get_session)


def fake_runtime_module() -> tuple[types.ModuleType, list[Any], list[Any]]:
    """``snapshot_restore_py`` as the Lambda runtime provides it: registries of (func, args, kwargs)."""
    before: list[Any] = []
    after: list[Any] = []
    module = types.ModuleType("snapshot_restore_py")

    def register_before_snapshot(func: Any, *args: Any, **kwargs: Any) -> Any:
        before.append((func, args, kwargs))
        return func

    def register_after_restore(func: Any, *args: Any, **kwargs: Any) -> Any:
        after.append((func, args, kwargs))
        return func

    module.register_before_snapshot = register_before_snapshot  # type: ignore[attr-defined]
    module.register_after_restore = register_after_restore  # type: ignore[attr-defined]
    return module, before, after


# --- registration -------------------------------------------------------------------------------


def test_install_registers_one_hook_each_with_the_snapstart_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    module, before, after = fake_runtime_module()
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)

    assert snapstart.install() is True

    assert before == [(snapstart.before_snapshot, (), {})]
    assert after == [(snapstart.after_restore, (), {})]


def test_without_the_runtime_module_install_is_a_no_op_and_the_hooks_still_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import raises ImportError

    assert snapstart.install() is False

    snapstart.after_restore()
    assert snapstart.before_snapshot() == []


def test_install_shares_botocore_data_between_sessions_and_pynamodb_sessions_per_thread() -> None:
    assert botocore.session.get_session().get_component("data_loader") is not (
        botocore.session.get_session().get_component("data_loader")
    )

    snapstart.install()

    first, second = botocore.session.get_session(), botocore.session.get_session()
    assert first.get_component("data_loader") is second.get_component("data_loader")
    assert Connection(region="us-east-1").session is snapstart.thread_session()


# --- the sharing session ------------------------------------------------------------------------


def test_pynamodb_connections_with_the_same_settings_share_one_client() -> None:
    snapstart.share_pynamodb_clients()
    snapstart.reset_clients()

    one = Connection(region="us-east-1", connect_timeout_seconds=1, read_timeout_seconds=3).client
    same = Connection(region="us-east-1", connect_timeout_seconds=1, read_timeout_seconds=3).client
    slower = Connection(region="us-east-1", connect_timeout_seconds=5, read_timeout_seconds=3).client
    elsewhere = Connection(region="eu-west-1", connect_timeout_seconds=1, read_timeout_seconds=3).client

    assert one is same
    assert slower is not one and elsewhere is not one
    assert elsewhere.meta.region_name == "eu-west-1"


def test_a_new_endpoint_in_the_environment_gets_a_new_client(monkeypatch: pytest.MonkeyPatch) -> None:
    session = snapstart.SharingSession()
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    first = session.create_client("dynamodb", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:2")
    second = session.create_client("dynamodb", "us-east-1")

    assert second is not first
    assert (first.meta.endpoint_url, second.meta.endpoint_url) == ("http://127.0.0.1:1", "http://127.0.0.1:2")


def test_the_sharing_session_keeps_no_credentials_of_its_own() -> None:
    session = snapstart.SharingSession()

    assert session.get_credentials() is not session.get_credentials()  # resolved per client
    with pytest.raises(NotImplementedError):
        session.set_credentials("key", "secret")
    placeholder = {"aws_access_key_id": "a", "aws_secret_access_key": "b"}
    assert session.create_client("sqs", "us-east-1", **placeholder) is not session.create_client(
        "sqs", "us-east-1", **placeholder
    )  # explicit credentials: never shared


# --- before the snapshot ------------------------------------------------------------------------


@pytest.fixture
def settings_behind_a_secret(monkeypatch: pytest.MonkeyPatch) -> Any:
    """As in AWS: SECRET_ID set, so reading the settings would call Secrets Manager (here: fail)."""

    def network(secret_id: str) -> dict[str, str]:
        raise AssertionError(f"priming read the secret {secret_id}")

    monkeypatch.setenv("SECRET_ID", "arn:aws:secretsmanager:us-east-1:1:secret:genbot")
    monkeypatch.setattr("genbot.config._secret_values", network)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"priming touched the network: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_priming_succeeds_without_network_settings_or_credentials(
    no_network, settings_behind_a_secret
) -> None:
    snapstart.install()
    snapstart.reset_clients()

    assert snapstart.before_snapshot() == []  # every step ran

    assert snapstart.thread_session()._shared_clients == {}  # no client resolved credentials
    assert "aws_lambda_powertools.utilities.parameters" in sys.modules  # the secret's reader, imported
    loader = snapstart.thread_session().get_component("data_loader")
    for service in ("dynamodb", "sqs", "secretsmanager"):  # models parsed into the shared loader
        assert any(service in str(key) for key in loader._cache), service


def test_a_failing_priming_step_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(snapstart, "prime_i18n", broken)

    assert snapstart.before_snapshot() == ["i18n"]


def test_priming_serializes_the_replies_the_bot_returns() -> None:
    bodies = snapstart.prime_telegram()

    assert [body and body["method"] for body in bodies] == [
        "sendMessage",
        "sendMessage",
        "sendMessage",
        "editMessageText",
        "answerCallbackQuery",
        "answerCallbackQuery",
        "answerPreCheckoutQuery",
    ]
    first = bodies[0]
    assert first is not None and first["parse_mode"] == "HTML" and first["chat_id"] == 555_000_111
    assert first["reply_markup"]["keyboard"][0][0]["text"] == "A"


def test_the_bot_built_after_restore_takes_the_session_priming_prepared() -> None:
    url = "http://127.0.0.1:9"
    prepared = prepare_session(url)
    settings = Settings(bot_token="1:abc", telegram_api_url=url)

    assert make_bot(settings).session is prepared
    assert make_bot(settings).session is not prepared  # each prepared session is used once

    snapstart.prime_telegram()
    assert (Settings().telegram_api_url, telegram_client.DEFAULT_TIMEOUT) in telegram_client._prepared


# --- after restore ------------------------------------------------------------------------------


def test_after_restore_reseeds_random() -> None:
    random.seed(1234)
    expected = [random.random() for _ in range(3)]

    random.seed(1234)
    snapstart.after_restore()

    assert [random.random() for _ in range(3)] != expected


def test_the_caches_the_reset_clears_exist() -> None:
    for target in snapstart.CLIENT_CACHES:
        module_name, _, attribute = target.partition(":")
        cached = getattr(importlib.import_module(module_name), attribute)
        assert hasattr(cached, "cache_clear"), target


def test_after_restore_drops_every_client_connection_and_the_bot() -> None:
    from genbot.jobs import media, queue
    from genbot.store import clients, transaction
    from genbot.store.models import User

    snapstart.install()
    sqs, s3, tx = queue._sqs(), media._s3(), transaction.connection()
    dynamodb = User._get_connection().connection.client
    bot = runtime.bot()
    assert boto3.DEFAULT_SESSION is not None and snapstart.thread_session()._shared_clients

    before = {id(client) for client in snapstart.thread_session()._shared_clients.values()}

    snapstart.after_restore()

    assert clients.client.cache_info().currsize == 0
    assert transaction.connection.cache_info().currsize == 0
    assert vars(User)["_connection"] is None
    assert boto3.DEFAULT_SESSION is None
    rebuilt = list(snapstart.thread_session()._shared_clients.values())
    # built after: the models' client and the stats counters' (one attempt per call)
    assert [client.meta.service_model.service_name for client in rebuilt] == ["dynamodb", "dynamodb"]
    assert not before & {id(client) for client in rebuilt}  # nothing from before crosses the restore
    assert queue._sqs() is not sqs and media._s3() is not s3 and transaction.connection() is not tx
    assert User._get_connection().connection.client is not dynamodb
    assert runtime.bot() is not bot


@pytest.fixture
def client_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The service of every botocore client actually built (the sharing session's cache misses)."""
    built: list[str] = []
    build = botocore.session.Session.create_client

    def counting(self: botocore.session.Session, service_name: str, *args: Any, **kwargs: Any) -> Any:
        built.append(service_name)
        return build(self, service_name, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", counting)
    return built


def _hooked_clients() -> tuple[Any, Any]:
    """The two DynamoDB clients the after-restore hook built: (the models', the stats counters')
    told apart by their retries: the counters' connection makes one attempt (genbot.stats)."""
    clients = list(snapstart.thread_session()._shared_clients.values())
    attempts = sorted((c.meta.config.retries["total_max_attempts"], id(c), c) for c in clients)
    assert [a for a, _, _ in attempts] == [1, 3]
    return attempts[1][2], attempts[0][2]


@pytest.mark.parametrize(
    "region",
    [
        {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"},  # Lambda sets AWS_REGION
        {"AWS_DEFAULT_REGION": "eu-central-1"},
        {},  # neither: Settings' default
    ],
)
def test_the_models_reuse_the_dynamodb_client_the_after_restore_hook_built(
    monkeypatch: pytest.MonkeyPatch, client_builds: list[str], region: dict[str, str]
) -> None:
    from genbot.store import transaction
    from genbot.store.models import IdempotencyRecord, LedgerEntry, StatsCounter, User

    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in region.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    snapstart.install()

    snapstart.after_restore()

    assert client_builds == ["dynamodb", "dynamodb"]  # the hook built this copy's clients...
    hooked, counting = _hooked_clients()
    connections = [model._get_connection().connection for model in (User, IdempotencyRecord, LedgerEntry)]
    connections.append(transaction.connection())
    assert all(connection.client is hooked for connection in connections)
    assert StatsCounter._get_connection().connection.client is counting
    assert client_builds == ["dynamodb", "dynamodb"]  # ...and the models' connections built none
    assert (
        hooked.meta.region_name
        == get_settings().aws_region
        == (region.get("AWS_REGION") or region.get("AWS_DEFAULT_REGION") or "us-east-1")
    )
    get_settings.cache_clear()


def test_the_after_restore_hook_reads_no_setting_and_opens_no_connection(
    no_network, settings_behind_a_secret, client_builds: list[str]
) -> None:
    snapstart.install()
    assert snapstart.before_snapshot() == []
    client_builds.clear()  # priming's throwaway clients

    snapstart.after_restore()

    assert client_builds == ["dynamodb", "dynamodb"]
    for hooked in _hooked_clients():
        assert hooked._request_signer._credentials.access_key == "testing"  # this copy's, resolved now


def test_a_failed_rebuild_leaves_the_restore_done_and_the_first_update_to_build(
    monkeypatch: pytest.MonkeyPatch, client_builds: list[str]
) -> None:
    from genbot.store.models import User

    def broken() -> None:
        raise RuntimeError("boom")

    snapstart.install()
    snapstart.reset_clients()
    User._get_connection().connection.client  # noqa: B018 (a client from "before the snapshot")
    monkeypatch.setattr(snapstart, "dynamodb_connection", broken)

    snapstart.after_restore()  # logged, not raised: a raising hook fails the restore

    assert snapstart.thread_session()._shared_clients == {}
    assert vars(User)["_connection"] is None
    User._get_connection().connection.client  # noqa: B018
    assert client_builds == ["dynamodb", "dynamodb"]


def test_forgetting_the_bot_closes_a_session_it_opened() -> None:
    bot = runtime.bot()
    opened = runtime.run(bot.session.create_session())

    runtime.forget_bot()

    assert opened.closed
    assert runtime.bot() is not bot
