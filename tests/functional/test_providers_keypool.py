"""The key pool's shared state in DynamoDB: atomic quotas, cool-downs, few calls."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from genbot.config import Settings
from genbot.providers.base import ExhaustedError
from genbot.providers.keypool import KeyPool, KeyUsage, fingerprint


def count_dynamodb_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every DynamoDB operation PynamoDB sends."""
    from pynamodb.connection.base import Connection

    calls: list[str] = []
    original = Connection.dispatch

    def dispatch(self, operation_name, operation_kwargs):  # type: ignore[no-untyped-def]
        calls.append(operation_name)
        return original(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "dispatch", dispatch)
    return calls


def test_quota_holds_under_concurrency_across_pools(pool_tables) -> None:
    settings = Settings(gemini_api_keys=["only-key"])
    barrier = threading.Barrier(20)

    def attempt(_: int) -> bool:
        pool = KeyPool(settings, quotas={"gemini": 5})  # one pool per "Lambda instance"
        barrier.wait()
        try:
            pool.acquire("gemini")
        except ExhaustedError:
            return False
        return True

    with ThreadPoolExecutor(20) as executor:
        results = list(executor.map(attempt, range(20)))

    assert results.count(True) == 5
    pool = KeyPool(settings, quotas={"gemini": 5})
    state = KeyUsage.get(pool.item_key("gemini", fingerprint("only-key"), pool._day()))
    assert state.used == 5


def test_one_dynamodb_call_to_reserve_and_none_once_a_key_is_known_spent(
    pool_tables, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = KeyPool(Settings(gemini_api_keys=["k1"]), quotas={"gemini": 1})
    calls = count_dynamodb_calls(monkeypatch)

    assert pool.acquire("gemini") == (fingerprint("k1"), "k1")
    assert calls == ["UpdateItem"]
    with pytest.raises(ExhaustedError):
        pool.acquire("gemini")
    assert calls == ["UpdateItem", "UpdateItem", "GetItem"]  # refused, then learn why
    with pytest.raises(ExhaustedError):
        pool.acquire("gemini")
    assert len(calls) == 3  # remembered: no call at all


def test_cool_downs_double_without_a_server_hint_and_are_shared(pool_tables, monkeypatch) -> None:
    from genbot.providers import keypool

    starts = iter(range(10**6))  # the pool's random start, made to take turns: no 1-in-256 flake
    monkeypatch.setattr(keypool.random, "randrange", lambda n: next(starts) % n)
    now = [1_800_000_000.0]
    settings = Settings(gemini_api_keys=["k1", "k2"])
    pool = KeyPool(settings, clock=lambda: now[0])
    k1 = fingerprint("k1")

    assert pool.report_quota("gemini", k1, None) == 60
    assert pool.report_quota("gemini", k1, None) == 120
    assert pool.report_quota("gemini", k1, 5.0) == 5.0  # the provider's own retry_after wins

    other = KeyPool(settings, clock=lambda: now[0])  # another Lambda: learns it from DynamoDB
    for _ in range(3):
        assert other.acquire("gemini")[0] == fingerprint("k2")
    now[0] += 6
    assert {other.acquire("gemini")[0] for _ in range(8)} == {k1, fingerprint("k2")}


def test_exhausted_error_says_when_to_come_back(pool_tables) -> None:
    now = [1_800_000_000.0]
    pool = KeyPool(Settings(openai_api_key="sk-a, sk-b"), clock=lambda: now[0])
    assert sorted(pool.key_ids("openai")) == sorted([fingerprint("sk-a"), fingerprint("sk-b")])
    pool.report_quota("openai", fingerprint("sk-a"), 30)
    pool.report_quota("openai", fingerprint("sk-b"), 90)

    with pytest.raises(ExhaustedError) as caught:
        pool.acquire("openai")
    assert caught.value.retry_after == pytest.approx(30, abs=1)
    assert pool.key_for("openai", fingerprint("sk-b")) == "sk-b"
